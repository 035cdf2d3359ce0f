"""Base images: layouts fetched by repository rules, and images built from a root filesystem."""

load(":image.bzl", "assemble_image", "image_tool_attrs")
load(":layer.bzl", "COMPRESSIONS", "SematicLayerInfo", "build_rootfs_layer")
load(":providers.bzl", "SematicBaseInfo")

def _sematic_base_impl(ctx):
    files = depset(ctx.files.layout)
    return [
        DefaultInfo(files = files),
        SematicBaseInfo(root = ctx.file.index.dirname, files = files),
    ]

sematic_base = rule(
    implementation = _sematic_base_impl,
    doc = "An OCI image layout in a repository (e.g. fetched by sematic_pull) usable as a base.",
    attrs = {
        "index": attr.label(
            mandatory = True,
            allow_single_file = ["index.json"],
            doc = "The layout's index.json; its directory is the layout root.",
        ),
        "layout": attr.label_list(
            mandatory = True,
            allow_files = True,
            doc = "Every file of the layout.",
        ),
    },
)

def _sematic_base_image_impl(ctx):
    layers = []
    if ctx.file.rootfs:
        layers.append(build_rootfs_layer(ctx, ctx.file.rootfs, ctx.attr.compression, "rules_sematic: root filesystem " + ctx.file.rootfs.basename))
    layers += [target[SematicLayerInfo] for target in ctx.attr.layers]
    return assemble_image(ctx, ctx.attr.base, layers, {
        "cmd": ctx.attr.cmd or None,
        "entrypoint": ctx.attr.entrypoint or None,
        "env": ctx.attr.env,
        "labels": ctx.attr.labels,
        "user": None,
        "workdir": ctx.attr.workdir or None,
    })

sematic_base_image = rule(
    implementation = _sematic_base_image_impl,
    doc = """A base image: `base` (or an empty image), then a root filesystem tarball (normalised:
reproducible whatever its timestamps), then `layers`.""",
    attrs = dict(
        base = attr.label(doc = "Image to start from (any base accepted by sematic_image); unset: empty."),
        cmd = attr.string_list(doc = "Image Cmd."),
        compression = attr.string(default = "gzip", values = COMPRESSIONS, doc = "Layer compression."),
        entrypoint = attr.string_list(doc = "Image Entrypoint."),
        env = attr.string_dict(doc = "Environment, merged over the base's (`$VAR` expands against it)."),
        labels = attr.string_dict(doc = "Image config labels."),
        layers = attr.label_list(providers = [SematicLayerInfo], doc = "sematic_layer targets to add, in order."),
        rootfs = attr.label(allow_single_file = [".tar"], doc = "A root filesystem tarball, e.g. from mmdebstrap."),
        workdir = attr.string(doc = "Image WorkingDir."),
        **image_tool_attrs()
    ),
)
