"""sematic_launcher: runs a pipeline's launch script with the Sematic image environment.

With `push = True` it first pushes every image in parallel, in-process (no nested `bazel run`,
so the outer invocation's flags hold), and refuses to launch if a push failed. The launch
script then gets SEMATIC_CONTAINER_IMAGE_URIS (and SEMATIC_CONTAINER_IMAGE when `default` is
the only key) pointing at the images by digest.
"""

load(":paths.bzl", "runfiles_path")
load(":providers.bzl", "SematicPushInfo")
load(":stamp.bzl", "STAMP_ATTRS", "stamp_files")
load(":toolchains.bzl", "RUN_TOOLCHAIN", "run_tools")
load(":wrapper.bzl", "RUNFILES_ROOT", "WRAPPER_ATTRS", "write_tool_wrapper")

def _sematic_launcher_impl(ctx):
    workspace = ctx.workspace_name
    launch = ctx.attr.launch[DefaultInfo].files_to_run.executable
    images = []
    files = []
    for target, key in ctx.attr.pushes.items():
        push = target[SematicPushInfo]
        files += [push.image.layout] + push.ca_certs
        images.append({
            "ca_certs": [runfiles_path(workspace, cert) for cert in push.ca_certs],
            "insecure": push.insecure,
            "key": key,
            "layout": runfiles_path(workspace, push.image.layout),
            "repository": "%s/%s" % (push.registry, push.repository),
            "tags": push.tags,
        })
    config = ctx.actions.declare_file(ctx.label.name + ".launch.json")
    ctx.actions.write(config, json.encode({
        "images": images,
        "launch_binary": runfiles_path(workspace, launch),
    }))

    tool = run_tools(ctx).launch
    arguments = ["--runfiles-dir", RUNFILES_ROOT, "--config", config]
    status = stamp_files(ctx) if ctx.attr.push else []
    for file in status:
        arguments += ["--status-file", file]
    if not ctx.attr.push:
        arguments.append("--no-push")
    if ctx.attr.timeout:
        arguments += ["--timeout", str(ctx.attr.timeout)]
    if ctx.attr.jobs:
        arguments += ["--jobs", str(ctx.attr.jobs)]
    wrapper = write_tool_wrapper(ctx, tool, arguments + ["--"])
    runfiles = ctx.runfiles(files = [tool, config] + files + status)
    runfiles = runfiles.merge_all([ctx.attr.launch[DefaultInfo].default_runfiles, wrapper.runfiles])
    return [DefaultInfo(executable = wrapper.executable, runfiles = runfiles, files = depset([wrapper.executable]))]

sematic_launcher = rule(
    implementation = _sematic_launcher_impl,
    executable = True,
    doc = "Runs `launch` with the Sematic image environment of `pushes` (pushed first if `push`).",
    attrs = dict({
        "jobs": attr.int(doc = "Parallel uploads (sematic-launch --jobs); 0: the tool's default."),
        "launch": attr.label(mandatory = True, executable = True, cfg = "target", doc = "The launch script's py_binary."),
        "push": attr.bool(default = True, doc = "Push the images before launching; else use their build-time digests."),
        "pushes": attr.label_keyed_string_dict(
            providers = [SematicPushInfo],
            doc = "Push target -> base key (Sematic's base_image_tag value): the image, registry, " +
                  "repository, tags and TLS settings come from the push target.",
        ),
        "timeout": attr.int(doc = "Seconds to wait for a connection or an answer (sematic-launch --timeout); 0: the tool's default."),
    }, **(STAMP_ATTRS | WRAPPER_ATTRS)),
    toolchains = [RUN_TOOLCHAIN],
)
