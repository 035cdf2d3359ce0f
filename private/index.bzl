"""sematic_image_index: one multi-platform image (an OCI image index) over per-platform images."""

load(":assemble.bzl", "write_tarball")
load(":paths.bzl", "display_label")
load(":providers.bzl", "SematicImageInfo")
load(":toolchains.bzl", "BUILD_TOOLCHAIN", "BUILD_TOOLCHAIN_TYPE", "build_tools")

def _sematic_image_index_impl(ctx):
    images = [target[SematicImageInfo] for target in ctx.attr.images]
    platforms = []
    for target, image in zip(ctx.attr.images, images):
        if len(image.platforms) != 1:
            fail("%s: %s is already a multi-platform image: list single-platform images" % (display_label(ctx.label), display_label(target.label)))
        if image.platforms[0] in platforms:
            fail("%s: two images are for %s: list one image per platform" % (display_label(ctx.label), image.platforms[0]))
        platforms.append(image.platforms[0])

    layout = ctx.actions.declare_directory(ctx.label.name)
    digest = ctx.actions.declare_file(ctx.label.name + ".digest")
    args = ctx.actions.args()
    args.add_all([image.layout for image in images], before_each = "--image", expand_directories = False)
    args.add("--output-layout", layout.path)
    args.add("--digest-file", digest)
    ctx.actions.run(
        executable = build_tools(ctx).index,
        toolchain = BUILD_TOOLCHAIN_TYPE,
        arguments = [args],
        inputs = [image.layout for image in images],
        outputs = [layout, digest],
        mnemonic = "SematicImageIndex",
        progress_message = "Writing the %s image index %%{label}" % ", ".join(platforms),
    )
    tarball = write_tarball(ctx, layout, platforms[0])
    return [
        DefaultInfo(files = depset([layout, digest])),
        OutputGroupInfo(tarball = depset([tarball])),
        SematicImageInfo(digest = digest, layout = layout, platforms = platforms),
    ]

sematic_image_index = rule(
    implementation = _sematic_image_index_impl,
    doc = """A multi-platform image: an OCI image index (a Docker manifest list on Docker v2
schema 2 bases) listing `images`, one per platform, in order. Pushing it pushes every image,
then the index; its digest is the one Sematic gets.

Outputs: the layout directory and `<name>.digest`; output group `tarball`: the first platform's
image for `docker load` / `podman load` (they load one platform).""",
    attrs = {
        "images": attr.label_list(
            mandatory = True,
            allow_empty = False,
            providers = [SematicImageInfo],
            doc = "Single-platform images (sematic_image targets with different `platform`s).",
        ),
        "repo_tags": attr.string_list(
            doc = "`repository:tag` names of the image in the tarball output group " +
                  "(default `bazel/<package>:<name>`).",
        ),
    },
    toolchains = [BUILD_TOOLCHAIN],
)
