"""sematic_pull: a base image from a registry, pinned by digest, fetched shallowly.

Only the manifest (or index), the platform's manifest and the config are downloaded: base layer
blobs stay in the registry until a push needs them, and then they are mounted (same registry)
or streamed registry-to-registry. A 10 GB CUDA base costs a few kilobytes to build on.
"""

load(":paths.bzl", "apparent_name")
load(":platforms.bzl", "DEFAULT_PLATFORM", "IMAGE_PLATFORMS", "libc_error")

_IMAGE_BUILD = """\
load("@rules_sematic//private:base.bzl", "sematic_base")

sematic_base(
    name = "image",
    index = "layout/index.json",
    layout = glob(["layout/**"]),
    platforms = {platforms},
    libc = {libc},
    python_interpreter = {interpreter},
    python_version = {version},
    visibility = ["//visibility:public"],
)
"""

def _configured_python(rctx, name):
    """The `PYTHON_VERSION` the pulled images' configs set, or None.

    The official python images set it. Fails if two platforms' images disagree.
    """
    layout = rctx.path("image/layout")

    def blob(descriptor):
        # An index's manifests for platforms not pulled are not in the layout.
        path = layout.get_child("blobs", *descriptor["digest"].split(":"))
        return json.decode(rctx.read(path)) if path.exists else {}

    found = {}
    pending = json.decode(rctx.read(layout.get_child("index.json"))).get("manifests", [])
    for _ in range(4):  # index -> platform manifests -> configs: a fixed depth
        children = []
        for descriptor in pending:
            document = blob(descriptor)
            if "manifests" in document:
                children += document["manifests"]
            elif "config" in document:
                env = (blob(document["config"]).get("config") or {}).get("Env") or []
                found.update({line[len("PYTHON_VERSION="):]: True for line in env if line.startswith("PYTHON_VERSION=")})
        pending = children
    if len(found) > 1:
        fail("sematic_pull(%s): the image's platforms set different PYTHON_VERSIONs (%s): pull one platform per repository" % (name, ", ".join(sorted(found))))
    return found.keys()[0] if found else None

def _sematic_pull_impl(rctx):
    name = apparent_name(rctx.name)
    image = rctx.attr.image
    if "@sha256:" not in image:
        fail("sematic_pull(%s): image %r is not pinned: write it as registry/repository@sha256:<digest> (builds must not change when a tag moves)" % (name, image))
    if not rctx.attr.platforms:
        fail("sematic_pull(%s): platforms is empty: list the platforms to take, e.g. [%r]" % (name, DEFAULT_PLATFORM))
    for platform in rctx.attr.platforms:
        if platform not in IMAGE_PLATFORMS:
            fail("sematic_pull(%s): platforms has %r: use %s" % (name, platform, " or ".join(sorted(IMAGE_PLATFORMS))))
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
        fail("sematic_pull(%s): %s" % (name, result.stderr.strip() or result.stdout.strip()))
    declared = rctx.attr.python_version or None
    if declared and (len(declared.split(".")) != 2 or not declared.replace(".", "").isdigit()):
        fail("sematic_pull(%s): python_version %r is not major.minor: write it like \"3.11\"" % (name, declared))
    configured = _configured_python(rctx, name)
    version, interpreter = declared, rctx.attr.python_interpreter or None
    if configured:
        full = configured.split(".")
        if declared and declared.split(".") != full[:2]:
            fail("sematic_pull(%s): python_version = %r but the image's config says PYTHON_VERSION=%s: write python_version = \"%s\" (or leave it out: it is read from the config)" % (name, declared, configured, ".".join(full[:2])))
        version = ".".join(full[:2])

        # Where the official python images (the ones that set PYTHON_VERSION) install it.
        interpreter = interpreter or "/usr/local/bin/python" + version
    if interpreter and not version:
        fail("sematic_pull(%s): python_interpreter is set but python_version is not, and the image's config has no PYTHON_VERSION: set python_version (e.g. \"3.11\")" % name)
    interpreter = interpreter or ("/usr/bin/python3" if version else None)
    libc = rctx.attr.libc or None
    if libc and libc_error(libc):
        fail("sematic_pull(%s): %s" % (name, libc_error(libc)))
    rctx.file("image/BUILD.bazel", _IMAGE_BUILD.format(
        interpreter = repr(interpreter),
        libc = repr(libc),
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
    "libc": attr.string(
        doc = "The image's C library, `glibc X.Y` or `musl X.Y` (e.g. `glibc 2.36` for Debian " +
              "bookworm): native files of the images built on it must not need a newer one. " +
              "Unset: the requirements' `libc`.",
    ),
    "python_interpreter": attr.string(
        doc = "Absolute path of the image's Python interpreter. Default: " +
              "`/usr/local/bin/python<version>` when the config sets `PYTHON_VERSION` (the " +
              "official python images), else `/usr/bin/python3` (Sematic's worker images).",
    ),
    "python_version": attr.string(
        doc = "`major.minor` version of the image's Python, e.g. `3.9`: images built on it get " +
              "wheels for that version, and their Python dependencies are checked against it. " +
              "Read from the config's `PYTHON_VERSION` when it sets one (a declared version " +
              "that contradicts it fails).",
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
