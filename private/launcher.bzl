"""sematic_launcher: runs a pipeline's launch script with the Sematic image environment.

With `push = True` it first pushes every image in parallel, in-process (no nested `bazel run`,
so the outer invocation's flags hold), and refuses to launch if a push failed. The launch
script then gets SEMATIC_CONTAINER_IMAGE_URIS (and SEMATIC_CONTAINER_IMAGE when `default` is
the only key) pointing at the images by digest.
"""

load(":paths.bzl", "runfiles_path")
load(":providers.bzl", "SematicImageInfo")
load(":toolchains.bzl", "RUN_TOOLCHAIN_TYPE", "run_tools")
load(":wrapper.bzl", "RUNFILES_ROOT", "write_tool_wrapper")

def _sematic_launcher_impl(ctx):
    workspace = ctx.workspace_name
    launch = ctx.attr.launch[DefaultInfo].files_to_run.executable
    images = []
    layouts = []
    for target, key in ctx.attr.images.items():
        layout = target[SematicImageInfo].layout
        layouts.append(layout)
        images.append({
            "insecure": ctx.attr.insecure,
            "key": key,
            "layout": runfiles_path(workspace, layout),
            "repository": "%s/%s" % (ctx.attr.registry, ctx.attr.repository),
            "tags": ["%s_%s" % (ctx.attr.tag_prefix, key)],
        })
    config = ctx.actions.declare_file(ctx.label.name + ".launch.json")
    ctx.actions.write(config, json.encode({
        "images": images,
        "launch_binary": runfiles_path(workspace, launch),
    }))

    tool = run_tools(ctx).launch
    arguments = ["--runfiles-dir", RUNFILES_ROOT, "--config", config]
    if not ctx.attr.push:
        arguments.append("--no-push")
    executable = write_tool_wrapper(ctx, tool, arguments + ["--"])
    runfiles = ctx.runfiles(files = [tool, config] + layouts)
    runfiles = runfiles.merge(ctx.attr.launch[DefaultInfo].default_runfiles)
    return [DefaultInfo(executable = executable, runfiles = runfiles, files = depset([executable]))]

sematic_launcher = rule(
    implementation = _sematic_launcher_impl,
    executable = True,
    doc = "Runs `launch` with the Sematic image environment of `images` (pushed first if `push`).",
    attrs = {
        "images": attr.label_keyed_string_dict(
            providers = [SematicImageInfo],
            doc = "Image -> base key (Sematic's base_image_tag value).",
        ),
        "insecure": attr.bool(doc = "Allow plain HTTP and unverified TLS when pushing."),
        "launch": attr.label(mandatory = True, executable = True, cfg = "target", doc = "The launch script's py_binary."),
        "push": attr.bool(default = True, doc = "Push the images before launching; else use their build-time digests."),
        "registry": attr.string(doc = "Registry host[:port]."),
        "repository": attr.string(doc = "Repository within the registry."),
        "tag_prefix": attr.string(doc = "Images are tagged `<tag_prefix>_<key>` when pushed."),
    },
    toolchains = [RUN_TOOLCHAIN_TYPE],
)
