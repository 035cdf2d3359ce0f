"""sematic_pull: a base image from a registry, pinned by digest, fetched shallowly.

Only the manifest (or index), the platform's manifest and the config are downloaded: base layer
blobs stay in the registry until a push needs them, and then they are mounted (same registry)
or streamed registry-to-registry. A 10 GB CUDA base costs a few kilobytes to build on.
"""

load(":platforms.bzl", "DEFAULT_PLATFORM", "IMAGE_PLATFORMS")

_IMAGE_BUILD = """\
load("@rules_sematic//private:base.bzl", "sematic_base")

sematic_base(
    name = "image",
    index = "layout/index.json",
    layout = glob(["layout/**"]),
    platforms = {platforms},
    python_interpreter = {interpreter},
    python_version = {version},
    visibility = ["//visibility:public"],
)
"""

def _sematic_pull_impl(rctx):
    image = rctx.attr.image
    if "@sha256:" not in image:
        fail("sematic_pull(%s): image %r is not pinned: write it as registry/repository@sha256:<digest> (builds must not change when a tag moves)" % (rctx.name, image))
    if not rctx.attr.platforms:
        fail("sematic_pull(%s): platforms is empty: list the platforms to take, e.g. [%r]" % (rctx.name, DEFAULT_PLATFORM))
    for platform in rctx.attr.platforms:
        if platform not in IMAGE_PLATFORMS:
            fail("sematic_pull(%s): platforms has %r: use %s" % (rctx.name, platform, " or ".join(sorted(IMAGE_PLATFORMS))))
    if rctx.attr.python_interpreter and not rctx.attr.python_version:
        fail("sematic_pull(%s): python_interpreter is set but python_version is not: set both (e.g. python_version = \"3.11\")" % rctx.name)
    command = [
        rctx.path(Label("@rules_sematic_tools//:sematic-pull")),
        "--image",
        image,
        "--output",
        rctx.path("image/layout"),
        "--layers",
        rctx.attr.layers,
    ]
    for platform in rctx.attr.platforms:
        command += ["--platform", platform]
    if rctx.attr.insecure:
        command.append("--insecure")
    rctx.report_progress("Pulling %s (%s)" % (image, rctx.attr.layers))
    result = rctx.execute(command, timeout = rctx.attr.timeout, quiet = True)
    if result.return_code != 0:
        fail("sematic_pull(%s): %s" % (rctx.name, result.stderr.strip() or result.stdout.strip()))
    version = rctx.attr.python_version or None
    if version and (len(version.split(".")) != 2 or not version.replace(".", "").isdigit()):
        fail("sematic_pull(%s): python_version %r is not major.minor: write it like \"3.11\"" % (rctx.name, version))
    interpreter = rctx.attr.python_interpreter or ("/usr/bin/python3" if version else None)
    rctx.file("image/BUILD.bazel", _IMAGE_BUILD.format(
        interpreter = repr(interpreter),
        platforms = repr(rctx.attr.platforms),
        version = repr(version),
    ))
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
    "platforms": attr.string_list(
        default = [DEFAULT_PLATFORM],
        doc = "Platforms to take when the digest is an image index (each must be in it); a " +
              "single image must be for the one platform listed.",
    ),
    "python_interpreter": attr.string(
        doc = "Absolute path of the image's Python interpreter (default `/usr/bin/python3`, " +
              "which Sematic's worker images provide).",
    ),
    "python_version": attr.string(
        doc = "`major.minor` version of the image's Python, e.g. `3.9`: images built on it get " +
              "wheels for that version, and their Python dependencies are checked against it.",
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
