"""sematic_pull: a base image from a registry, pinned by digest, fetched shallowly.

Only the manifest (or index), the platform's manifest and the config are downloaded: base layer
blobs stay in the registry until a push needs them, and then they are mounted (same registry)
or streamed registry-to-registry. A 10 GB CUDA base costs a few kilobytes to build on.
"""

_IMAGE_BUILD = """\
load("@rules_sematic//private:base.bzl", "sematic_base")

sematic_base(
    name = "image",
    index = "layout/index.json",
    layout = glob(["layout/**"]),
    visibility = ["//visibility:public"],
)
"""

def _sematic_pull_impl(rctx):
    image = rctx.attr.image
    if "@sha256:" not in image:
        fail("sematic_pull(%s): image %r is not pinned: write it as registry/repository@sha256:<digest> (builds must not change when a tag moves)" % (rctx.name, image))
    command = [
        rctx.path(Label("@rules_sematic_tools//:sematic-pull")),
        "--image",
        image,
        "--output",
        rctx.path("image/layout"),
        "--platform",
        rctx.attr.platform,
        "--layers",
        rctx.attr.layers,
    ]
    if rctx.attr.insecure:
        command.append("--insecure")
    rctx.report_progress("Pulling %s (%s)" % (image, rctx.attr.layers))
    result = rctx.execute(command, timeout = rctx.attr.timeout, quiet = True)
    if result.return_code != 0:
        fail("sematic_pull(%s): %s" % (rctx.name, result.stderr.strip() or result.stdout.strip()))
    rctx.file("image/BUILD.bazel", _IMAGE_BUILD)
    rctx.file("BUILD.bazel", "")

PULL_ATTRS = {
    "image": attr.string(
        mandatory = True,
        doc = "`registry/repository@sha256:<digest>` of an image or an image index.",
    ),
    "insecure": attr.bool(
        doc = "Allow plain HTTP and unverified TLS for this registry.",
    ),
    "layers": attr.string(
        default = "shallow",
        values = ["shallow", "all"],
        doc = "`shallow`: fetch no layer blob (default). `all`: also download the layers, " +
              "needed only for the `tarball` output group of images built on this base.",
    ),
    "platform": attr.string(
        default = "linux/amd64",
        doc = "Platform to take when the digest is an image index.",
    ),
    "timeout": attr.int(
        default = 3600,
        doc = "Seconds the pull may take.",
    ),
}

sematic_pull = repository_rule(
    implementation = _sematic_pull_impl,
    doc = "A registry image as a base: `@<name>//image`. Registry credentials come from the same places `docker pull` reads.",
    attrs = PULL_ATTRS,
    environ = ["DOCKER_CONFIG", "REGISTRY_AUTH_FILE", "SSL_CERT_FILE", "XDG_RUNTIME_DIR"],
)
