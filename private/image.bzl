"""sematic_image: a base image plus a py_binary's runfiles in Python-aware layers."""

load(":layer.bzl", "COMPRESSIONS", "SematicLayerInfo", "build_layer", "layer_tool_attrs")
load(":paths.bzl", "display_label")
load(":providers.bzl", "SematicBaseInfo", "SematicImageInfo")
load(":runfiles_layers.bzl", "split_runfiles")
load(":tools_repo.bzl", "tool_attr")

_PY_TOOLCHAIN = "@bazel_tools//tools/python:toolchain_type"
_SEMATIC_BIN = "/sematic/bin"

def base_layout(target):
    """The OCI image layout a base target stands for.

    Args:
      target: the base Target.

    Returns:
      (execroot-relative path of the layout directory, depset of the layout's files)
    """
    if SematicBaseInfo in target:
        info = target[SematicBaseInfo]
        return info.root, info.files
    if SematicImageInfo in target:
        layout = target[SematicImageInfo].layout
        return layout.path, depset([layout])
    files = target[DefaultInfo].files.to_list()
    if len(files) == 1 and files[0].is_directory:
        # e.g. rules_oci's oci_image, whose output is an image layout directory.
        return files[0].path, depset(files)
    fail("base %s is not an image: use a rules_sematic base (sematic_pull, base_images(), debian_image) or a target whose only output is an OCI image layout directory" % display_label(target.label))

def _interpreter_files(ctx):
    toolchain = ctx.toolchains[_PY_TOOLCHAIN]
    runtime = getattr(toolchain, "py3_runtime", None) if toolchain else None
    if not runtime:
        return depset()
    direct = [runtime.interpreter] if runtime.interpreter else []
    return depset(direct, transitive = [runtime.files] if runtime.files else [])

def image_env(user_env, worker_path):
    """The environment settings of a worker image: the user's, then the Sematic contract.

    Args:
      user_env: dict of the user's variables (values may use `$VAR` of the base).
      worker_path: image path of the worker py_binary, for the bazel_python shim.

    Returns:
      dict of variables for sematic-image: /sematic/bin first on PATH, BAZEL_BUILT_IMAGE=1.
    """
    env = dict(user_env)
    path = env.get("PATH", "$PATH")
    if not path.startswith(_SEMATIC_BIN + ":") and path != _SEMATIC_BIN:
        path = _SEMATIC_BIN + ":" + path
    env["PATH"] = path
    env["BAZEL_BUILT_IMAGE"] = "1"
    env["RULES_SEMATIC_WORKER"] = worker_path
    return env

def _sematic_image_impl(ctx):
    split = split_runfiles(ctx, ctx.attr.binary, _interpreter_files(ctx), ctx.attr.image_layers)
    layers = [ctx.attr._sematic_tools_layer[SematicLayerInfo]]
    for group in split.groups:
        layers.append(build_layer(
            ctx,
            group.name,
            group.entries,
            group.inputs,
            ctx.attr.compression,
            group.history,
            symlink_root = split.runfiles_root,
        ))

    return assemble_image(ctx, ctx.attr.base, layers, {
        "cmd": None,
        "entrypoint": ["/usr/bin/python3", split.binary_path],
        "env": image_env(ctx.attr.env, split.binary_path),
        "labels": ctx.attr.labels,
        "user": None,
        "workdir": split.runfiles_root + "/" + ctx.workspace_name,
    })

def assemble_image(ctx, base, layers, settings):
    """Declares the image and tarball actions; returns the providers of an image target.

    Args:
      ctx: rule context; the rule must include `image_tool_attrs()` and a `platform` and
        `repo_tags` attribute.
      base: the base Target, or None for an empty base.
      layers: SematicLayerInfo list, appended to the base's layers in order.
      settings: config settings for sematic-image (entrypoint, cmd, env, workdir, user, labels).

    Returns:
      [DefaultInfo, OutputGroupInfo, SematicImageInfo]
    """
    settings_file = ctx.actions.declare_file(ctx.label.name + ".config.json")
    ctx.actions.write(settings_file, json.encode(dict(settings, layer_history = [layer.history for layer in layers])))

    layout = ctx.actions.declare_directory(ctx.label.name)
    digest = ctx.actions.declare_file(ctx.label.name + ".digest")
    args = ctx.actions.args()
    inputs = [settings_file]
    transitive = []
    if base:
        root, base_files = base_layout(base)
        args.add("--base-layout", root)
        transitive.append(base_files)
    args.add("--platform", ctx.attr.platform)
    for layer in layers:
        args.add("--layer", "%s=%s" % (layer.descriptor.path, layer.blob.path))
        inputs += [layer.descriptor, layer.blob]
    args.add("--config-json", settings_file)
    args.add("--output-layout", layout.path)
    args.add("--digest-file", digest)
    ctx.actions.run(
        executable = ctx.executable._image_tool,
        arguments = [args],
        inputs = depset(inputs, transitive = transitive),
        outputs = [layout, digest],
        mnemonic = "SematicImage",
        progress_message = "Assembling image %{label}",
    )

    tarball = ctx.actions.declare_file(ctx.label.name + ".tar")
    tar_args = ctx.actions.args()
    tar_args.add("--layout", layout.path)
    tar_args.add("--output", tarball)
    tar_args.add_all(ctx.attr.repo_tags or ["bazel/%s:%s" % (ctx.label.package, ctx.label.name)], before_each = "--repo-tag")
    ctx.actions.run(
        executable = ctx.executable._tarball_tool,
        arguments = [tar_args],
        inputs = [layout],
        outputs = [tarball],
        mnemonic = "SematicTarball",
        progress_message = "Writing docker-loadable tarball of %{label}",
    )
    return [
        DefaultInfo(files = depset([layout, digest])),
        OutputGroupInfo(tarball = depset([tarball])),
        SematicImageInfo(digest = digest, layout = layout),
    ]

def image_tool_attrs():
    """Attributes every rule calling `assemble_image` needs."""
    return dict(
        platform = attr.string(
            default = "linux/amd64",
            doc = "Image platform; also the one taken from a base that is an image index.",
        ),
        repo_tags = attr.string_list(
            doc = "`repository:tag` names of the image in the tarball output group.",
        ),
        _image_tool = tool_attr("sematic-image"),
        _tarball_tool = tool_attr("sematic-tarball"),
        **layer_tool_attrs()
    )

sematic_image = rule(
    implementation = _sematic_image_impl,
    doc = """An OCI image: `base` plus the runfiles of the py_binary `binary`, laid out as
`/app/<package>/<binary>` + `/app/<package>/<binary>.runfiles/`, in layers split by how often
they change, with the Sematic worker contract (entrypoint, /sematic/bin, BAZEL_BUILT_IMAGE).

Outputs: the image layout directory and `<name>.digest`; output group `tarball`: a tarball
`docker load` / `podman load` accept (needs every base layer, so not for shallow bases).""",
    attrs = dict(
        base = attr.label(
            doc = "Base image: a rules_sematic base (`@sematic-worker-base//image`, a " +
                  "`sematic_pull`/`debian_image` repository) or any target whose only output is " +
                  "an OCI image layout directory. Unset: an empty (scratch) base.",
        ),
        binary = attr.label(
            mandatory = True,
            executable = True,
            cfg = "target",
            doc = "The py_binary whose runfiles go into the image; the entrypoint runs it.",
        ),
        compression = attr.string(default = "gzip", values = COMPRESSIONS, doc = "Layer compression."),
        env = attr.string_dict(
            doc = "Environment, merged over the base's; `$VAR`/`${VAR}` expand against the base env.",
        ),
        image_layers = attr.label_list(
            doc = "Dependencies to put in layers of their own (in this order), e.g. a large " +
                  "framework that changes rarely. Their files leave the automatic layers.",
        ),
        labels = attr.string_dict(doc = "Image config labels."),
        _sematic_tools_layer = attr.label(
            default = Label("//private/worker:sematic_tools_layer"),
            providers = [SematicLayerInfo],
        ),
        **image_tool_attrs()
    ),
    toolchains = [config_common.toolchain_type(_PY_TOOLCHAIN, mandatory = False)],
)
