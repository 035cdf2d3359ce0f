"""Base images: layouts fetched by repository rules, and images built from a root filesystem."""

load(":assemble.bzl", "assemble_image", "image_tool_attrs")
load(":layer.bzl", "COMPRESSIONS", "SematicLayerInfo", "build_rootfs_layer")
load(":platforms.bzl", "IMAGE_PLATFORMS")
load(":providers.bzl", "SematicBaseInfo")
load(":toolchains.bzl", "BUILD_TOOLCHAIN")
load(":transitions.bzl", "base_platform_transition")

def _python_attrs(what):
    return {
        "libc": attr.string(
            doc = "C library of %s, `glibc X.Y` or `musl X.Y` (e.g. `glibc 2.36`): the native " % what +
                  "files of images built on it must not need a newer one.",
        ),
        "python_interpreter": attr.string(
            doc = "Absolute path of the Python interpreter of %s, e.g. `/usr/bin/python3.11`." % what,
        ),
        "python_version": attr.string(
            doc = "`major.minor` version of that interpreter, e.g. `3.11`: requirement() wheels " +
                  "for images on this base must be for it.",
        ),
    }

def _sematic_base_impl(ctx):
    files = depset(ctx.files.layout)
    return [
        DefaultInfo(files = files),
        SematicBaseInfo(
            files = files,
            libc = ctx.attr.libc or None,
            platforms = ctx.attr.platforms,
            python_interpreter = ctx.attr.python_interpreter or None,
            python_version = ctx.attr.python_version or None,
            root = ctx.file.index.dirname,
        ),
    ]

sematic_base = rule(
    implementation = _sematic_base_impl,
    doc = "An OCI image layout in a repository (e.g. fetched by sematic_pull) usable as a base.",
    attrs = dict(
        index = attr.label(
            mandatory = True,
            allow_single_file = ["index.json"],
            doc = "The layout's index.json; its directory is the layout root.",
        ),
        layout = attr.label_list(
            mandatory = True,
            allow_files = True,
            doc = "Every file of the layout.",
        ),
        platforms = attr.string_list(
            mandatory = True,
            doc = "OCI platforms the layout has an image for, e.g. `[\"linux/amd64\"]`.",
        ),
        **_python_attrs("the image")
    ),
)

def _sematic_base_image_impl(ctx):
    layers = []
    if ctx.file.rootfs:
        layers.append(build_rootfs_layer(ctx, ctx.file.rootfs, ctx.attr.compression, "rules_sematic: root filesystem " + ctx.file.rootfs.basename))
    layers += [target[SematicLayerInfo] for target in ctx.attr.layers]
    return assemble_image(
        ctx,
        ctx.attr.base,
        layers,
        {
            "cmd": ctx.attr.cmd or None,
            "entrypoint": ctx.attr.entrypoint or None,
            "env": ctx.attr.env,
            "labels": ctx.attr.labels,
            "user": None,
            "workdir": ctx.attr.workdir or None,
        },
        python_version = ctx.attr.python_version or None,
        python_interpreter = ctx.attr.python_interpreter or None,
        libc = ctx.attr.libc or None,
    )

sematic_base_image = rule(
    implementation = _sematic_base_image_impl,
    cfg = base_platform_transition,
    doc = """A base image: `base` (or an empty image), then a root filesystem tarball (normalised:
reproducible whatever its timestamps), then `layers`. It is built for the platform of the image
using it, or for `platform`; its Python and C library are the base's unless `python_version` /
`python_interpreter` / `libc` say otherwise.""",
    attrs = dict(
        base = attr.label(doc = "Image to start from (any base accepted by sematic_image); unset: empty."),
        cmd = attr.string_list(doc = "Image Cmd."),
        compression = attr.string(default = "gzip", values = COMPRESSIONS, doc = "Layer compression: `gzip`, `zstd` or `estargz` (lazily pullable gzip, see sematic_pipeline)."),
        entrypoint = attr.string_list(doc = "Image Entrypoint."),
        env = attr.string_dict(doc = "Environment, merged over the base's (`$VAR` expands against it)."),
        labels = attr.string_dict(doc = "Image config labels."),
        layers = attr.label_list(providers = [SematicLayerInfo], doc = "sematic_layer targets to add, in order."),
        platform = attr.string(
            values = [""] + sorted(IMAGE_PLATFORMS),
            doc = "Build for this platform (e.g. to list per-platform bases in a " +
                  "sematic_image_index). Unset: the platform of the image built on it.",
        ),
        rootfs = attr.label(allow_single_file = [".tar"], doc = "A root filesystem tarball, e.g. from mmdebstrap."),
        workdir = attr.string(doc = "Image WorkingDir."),
        _allowlist_function_transition = attr.label(
            default = "@bazel_tools//tools/allowlists/function_transition_allowlist",
        ),
        **dict(_python_attrs("the result"), **image_tool_attrs())
    ),
    toolchains = [BUILD_TOOLCHAIN],
)
