"""sematic_push: `bazel run` target pushing one image."""

load(":paths.bzl", "display_label")
load(":providers.bzl", "SematicImageInfo", "SematicPushInfo")
load(":reference.bzl", "registry_error", "repository_error")
load(":stamp.bzl", "STAMP_ATTRS", "stamp_files")
load(":toolchains.bzl", "RUN_TOOLCHAIN", "run_tools")
load(":wrapper.bzl", "WRAPPER_ATTRS", "write_tool_wrapper")

def _sematic_push_impl(ctx):
    what = display_label(ctx.label)
    error = registry_error(what, ctx.attr.registry) or repository_error(what, ctx.attr.registry, ctx.attr.repository)
    for also in ctx.attr.also_repositories:
        error = error or repository_error(what + " also_repositories", ctx.attr.registry, also)
    if error:
        fail(error)
    image = ctx.attr.image[SematicImageInfo]
    status = stamp_files(ctx)
    arguments = [
        "--layout",
        image.layout,
        "--registry",
        ctx.attr.registry,
        "--repository",
        "%s/%s" % (ctx.attr.registry, ctx.attr.repository),
    ]
    for also in ctx.attr.also_repositories:
        arguments += ["--also-repository", "%s/%s" % (ctx.attr.registry, also)]
    for tag in ctx.attr.tags_to_push:
        arguments += ["--tag", tag]
    for file in status:
        arguments += ["--status-file", file]
    if ctx.attr.insecure:
        arguments.append("--insecure")
    for cert in ctx.files.ca_certs:
        arguments += ["--ca-cert", cert]
    tool = run_tools(ctx).push
    wrapper = write_tool_wrapper(ctx, tool, arguments)
    runfiles = ctx.runfiles(files = [tool, image.layout] + ctx.files.ca_certs + status)
    runfiles = runfiles.merge(wrapper.runfiles)
    return [
        DefaultInfo(executable = wrapper.executable, runfiles = runfiles, files = depset([wrapper.executable])),
        SematicPushInfo(
            ca_certs = ctx.files.ca_certs,
            image = image,
            insecure = ctx.attr.insecure,
            registry = ctx.attr.registry,
            repository = ctx.attr.repository,
            tags = ctx.attr.tags_to_push,
        ),
    ]

sematic_push = rule(
    implementation = _sematic_push_impl,
    executable = True,
    doc = """Pushes an image: `bazel run :x_push [-- --tag extra --repository other/repo]`.

Blobs the registry has are skipped, base blobs are mounted or streamed from the base's registry,
the manifest is pushed by digest after every blob, then the tags. Prints
`registry/repository@sha256:<hex>`. Credentials come from the places `docker push` reads. A
`--repository` without a registry part is in this target's registry. Provides SematicPushInfo,
which `sematic_pipeline`'s launchers read.""",
    attrs = dict({
        "also_repositories": attr.string_list(
            doc = "More repositories of `registry` to push the image to, with the same tags " +
                  "(e.g. a team's and a release repository). Each blob is sent to the registry " +
                  "once: the other repositories mount it from the first (a registry that refuses " +
                  "mounts gets it uploaded again). Launchers push to `repository` only.",
        ),
        "ca_certs": attr.label_list(
            allow_files = [".pem", ".crt"],
            doc = "Extra CA certificates (PEM) trusted for this registry.",
        ),
        "image": attr.label(
            mandatory = True,
            providers = [SematicImageInfo],
            doc = "The image to push (a sematic_image).",
        ),
        "insecure": attr.bool(
            doc = "Allow plain HTTP and unverified TLS (loopback registries may use plain HTTP without it).",
        ),
        "registry": attr.string(mandatory = True, doc = "Registry host[:port], e.g. `ghcr.io`."),
        "repository": attr.string(mandatory = True, doc = "Repository within the registry, e.g. `acme/pipelines`."),
        "tags_to_push": attr.string_list(
            doc = "Tags to apply after the push by digest. `{KEY}` is replaced by the workspace " +
                  "status value KEY (`{STABLE_GIT_COMMIT}`, `{BUILD_TIMESTAMP}`) when stamping; " +
                  "only this target reads the status, so images never rebuild for it.",
        ),
    }, **(STAMP_ATTRS | WRAPPER_ATTRS)),
    toolchains = [RUN_TOOLCHAIN],
)
