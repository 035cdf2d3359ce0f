"""Providers shared by the rules_sematic rules."""

SematicBaseInfo = provider(
    doc = "A base image given as an OCI image layout (possibly sparse: base layer blobs absent).",
    fields = {
        "files": "depset of every file of the layout (a tree artifact or the layout's files)",
        "root": "execroot-relative path of the layout directory",
    },
)

SematicImageInfo = provider(
    doc = "An image built by rules_sematic.",
    fields = {
        "digest": "File holding the manifest digest, `sha256:<hex>`",
        "layout": "Directory (tree artifact) holding the OCI image layout",
    },
)
