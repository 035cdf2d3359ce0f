"""Providers of the rules_sematic rules (re-exported by //:providers.bzl)."""

SematicBaseInfo = provider(
    doc = "An image usable as a base: an OCI image layout, possibly shallow (base layer blobs " +
          "absent, to be copied from the registry named in its index.json when pushing).",
    fields = {
        "files": "depset of every file of the layout (a tree artifact or the layout's files).",
        "libc": "The image's C library, `glibc X.Y` or `musl X.Y`, or None if unknown: native " +
                "files of images built on it must not need a newer one.",
        "platforms": "List of the OCI platforms (`linux/amd64`) the layout holds an image for, " +
                     "or None when it is built for whatever platform the consumer is built for.",
        "python_interpreter": "Absolute path of the image's Python interpreter, e.g. " +
                              "`/usr/bin/python3.11`, or None if unknown.",
        "python_version": "`major.minor` of that interpreter, e.g. `3.11`, or None if unknown.",
        "root": "Execroot-relative path of the layout directory.",
    },
)

SematicImageInfo = provider(
    doc = "An image built by rules_sematic: one manifest, or an index with one per platform.",
    fields = {
        "digest": "File holding the digest of the layout's image (manifest or index), `sha256:<hex>`.",
        "layout": "Directory (tree artifact) holding the OCI image layout.",
        "platforms": "List of the OCI platforms of the image, e.g. `[\"linux/amd64\"]`.",
    },
)

SematicPushInfo = provider(
    doc = "Where and how a sematic_push target pushes its image; launchers read it instead of " +
          "recomputing any of it.",
    fields = {
        "ca_certs": "List of Files: CA certificates (PEM) trusted for the registry.",
        "image": "The SematicImageInfo of the image pushed.",
        "insecure": "Whether plain HTTP and unverified TLS are allowed for the registry.",
        "registry": "Registry host[:port], e.g. `ghcr.io`.",
        "repository": "Repository within the registry, e.g. `acme/pipelines`.",
        "tags": "List of tags applied after the push; `{KEY}` is a workspace status value, " +
                "expanded when the push runs under `--stamp`.",
    },
)
