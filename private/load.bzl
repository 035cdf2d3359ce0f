"""sematic_load: `bazel run` target loading one image into the local container runtime."""

load(":assemble.bzl", "default_repo_tag")
load(":paths.bzl", "display_label")
load(":providers.bzl", "SematicImageInfo")
load(":toolchains.bzl", "RUN_TOOLCHAIN", "run_tools")
load(":wrapper.bzl", "WRAPPER_ATTRS", "write_tool_wrapper")

def _sematic_load_impl(ctx):
    tool = run_tools(ctx).loader
    if not tool:
        fail("%s: the registered rules_sematic run toolchain has no loader: add loader = <the sematic-load binary> to its sematic_run_toolchain" % display_label(ctx.label))
    image = ctx.attr.image[SematicImageInfo]
    arguments = ["--layout", image.layout, "--tag", ctx.attr.repo_tag or default_repo_tag(ctx.attr.image.label)]
    wrapper = write_tool_wrapper(ctx, tool, arguments)
    runfiles = ctx.runfiles(files = [tool, image.layout]).merge(wrapper.runfiles)
    return [DefaultInfo(executable = wrapper.executable, runfiles = runfiles, files = depset([wrapper.executable]))]

sematic_load = rule(
    implementation = _sematic_load_impl,
    executable = True,
    doc = """Loads an image into this machine's podman, containerd or Docker: `bazel run :x_load`.

Incremental where the runtime allows it: containerd is sent only the blobs its content store
lacks, podman copies only the layers its storage lacks, so after a code edit only the code layer
travels; Docker's `docker load` gets the whole image. The runtime is podman if installed, else
containerd if its socket exists, else Docker if its daemon answers; `-- --runtime
podman|containerd|docker` chooses. `-- --namespace k8s.io` (containerd; default `default`,
or $CONTAINERD_NAMESPACE), `-- --address SOCKET` (default $CONTAINERD_ADDRESS, else
`/run/containerd/containerd.sock`), `-- --platform os/arch` (which image of an index; default
this machine's). Prints `sematic-load: summary: runtime=R sent=N (B bytes) present=M image=NAME`.""",
    attrs = dict({
        "image": attr.label(
            mandatory = True,
            providers = [SematicImageInfo],
            doc = "The image to load (a sematic_image or sematic_image_index).",
        ),
        "repo_tag": attr.string(
            doc = "`repository:tag` the loaded image is named (default `bazel/<package>:<image " +
                  "name>`, as in the image's tarball output group).",
        ),
    }, **WRAPPER_ATTRS),
    toolchains = [RUN_TOOLCHAIN],
)
