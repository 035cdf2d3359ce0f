"""sematic_image: a base image plus a py_binary's runfiles in Python-aware layers."""

load(":assemble.bzl", "assemble_image", "base_info", "image_tool_attrs")
load(":env.bzl", "check_env", "image_env")
load(":layer.bzl", "COMPRESSIONS", "SematicLayerInfo", "assemble_layer", "build_layer")
load(":layer_entry.bzl", "layer_entry")
load(":paths.bzl", "display_label", "relative_target", "runfiles_path")
load(":platforms.bzl", "PYTHON_VERSIONS", "image_platform_attr")
load(":python_deps.bzl", "PythonDepsInfo", "python_deps_aspect")
load(":runfiles_layers.bzl", "binary_image_path", "split_runfiles")
load(":third_party_layers.bzl", "SharedBucketsInfo", "shared_buckets_aspect")
load(":toolchains.bzl", "BUILD_TOOLCHAIN")
load(":transitions.bzl", "image_transition")

_PY_TOOLCHAIN = "@bazel_tools//tools/python:toolchain_type"

# The path //python:base_interpreter_toolchain gives py_binaries in images; each image links
# it to its base's interpreter.
BASE_INTERPRETER_SHIM = "/sematic/python3"

def _python_runtime(ctx):
    """The py3 runtime of the Python toolchain resolved for the image, or None."""
    toolchain = ctx.toolchains[_PY_TOOLCHAIN]
    return getattr(toolchain, "py3_runtime", None) if toolchain else None

def _interpreter(ctx, base):
    """How the image runs Python.

    Returns:
      struct(path: image path of the interpreter starting the worker, files: depset of a
      hermetic interpreter's files (else empty), entries: layer entries the image adds for it,
      version: the Python version the image's code is for, or None).
    """
    runtime = _python_runtime(ctx)
    if ctx.attr.interpreter == "toolchain":
        if not runtime:
            fail("%s: interpreter = \"toolchain\" but no Python toolchain is registered for %s: register one, or use interpreter = \"base\"" % (display_label(ctx.label), ctx.attr.platform))
        if runtime.interpreter:
            runfiles_root = binary_image_path(ctx.workspace_name, ctx.attr.binary) + ".runfiles"
            path = "%s/%s" % (runfiles_root, runfiles_path(ctx.workspace_name, runtime.interpreter))
            files = depset([runtime.interpreter], transitive = [runtime.files] if runtime.files else [])
            return struct(path = path, files = files, entries = [], version = None)
        return struct(path = runtime.interpreter_path, files = depset(), entries = [], version = None)
    if not base:
        # A scratch image: whatever Python its layers bring must be at Sematic's path.
        base = struct(python_interpreter = "/usr/bin/python3", python_version = None)
    if not base.python_interpreter:
        fail("%s: the base does not say which Python it has: use a rules_sematic base, declare it (sematic.pull(..., python_version = \"3.11\")) or wrap it (sematic_base_image(base = ..., python_version = \"3.11\", python_interpreter = \"/usr/bin/python3.11\"))" % display_label(ctx.label))
    link = layer_entry("symlink", BASE_INTERPRETER_SHIM, target = relative_target(BASE_INTERPRETER_SHIM, base.python_interpreter))
    return struct(path = BASE_INTERPRETER_SHIM, files = depset(), entries = [link], version = base.python_version)

def _check_python_version(ctx, version):
    """Fails if the image's wheels were chosen for another Python than the one running them."""
    wheels = ctx.attr.binary[PythonDepsInfo].wheels.to_list()
    if not version or not wheels:
        return
    other = [wheel for wheel in wheels if wheel.python_version != version]
    if not other:
        return
    if version in (other[0].served_python_versions or []):
        # The requirements serve the base's Python already: the image asked for another one.
        fix = "build the image for it: python_version = %r on the pipeline (or image)" % version
    else:
        fix = "declare the requirements for %s too (sematic.requirements(python_version = %r, ...)) and build the image for it (python_version = %r), or use a base with Python %s" % (version, version, version, other[0].python_version)
    fail("%s: the image's Python is %s but its requirement() wheels were chosen for Python %s (e.g. %s==%s): %s" % (
        display_label(ctx.label),
        version,
        other[0].python_version,
        other[0].distribution,
        other[0].version,
        fix,
    ))

def _check_sematic_importable(ctx, wheels):
    """Fails unless the binary's runfiles bring the `sematic` package.

    A requirement() wheel or first-party sources both count: without either, the worker would
    die in the cluster with an ImportError instead of failing the build here.
    """
    if [wheel for wheel in wheels if wheel.distribution == "sematic"]:
        return
    for f in ctx.attr.binary[DefaultInfo].default_runfiles.files.to_list():
        if f.short_path.endswith("sematic/__init__.py"):
            return
    fail("%s: the pipeline's deps do not bring the sematic package (the worker would fail in the cluster with No module named 'sematic'): add requirement(\"sematic\") or your sematic py_library to deps" % display_label(ctx.label))

def _sematic_image_impl(ctx):
    check_env(display_label(ctx.label), ctx.attr.env)
    base = base_info(ctx.attr.base) if ctx.attr.base else None
    wheels = ctx.attr.binary[PythonDepsInfo].wheels.to_list()
    if ctx.attr.requires_sematic:
        _check_sematic_importable(ctx, wheels)
    python = _interpreter(ctx, base)
    _check_python_version(ctx, python.version)
    image_layers = [
        struct(target = target, wheels = target[PythonDepsInfo].wheels.to_list())
        for target in ctx.attr.image_layers
    ]
    data_files = ctx.attr.binary[PythonDepsInfo].data.to_list()
    split = split_runfiles(ctx, ctx.attr.binary, python.files, image_layers, wheels, data_files, extra_entries = python.entries)

    # eStargz images need every layer eStargz to pull lazily (see //private/worker).
    tools_layer = ctx.attr._sematic_tools_layer_estargz if ctx.attr.compression == "estargz" else ctx.attr._sematic_tools_layer
    layers = [tools_layer[SematicLayerInfo]]
    for group in split.groups:
        if group.kind == "layer":
            layers.append(group.layer)
        elif group.kind == "pieces":
            shared = ctx.attr.binary[SharedBucketsInfo].buckets.get(group.index)
            if shared and shared.keys == group.keys:
                layers.append(shared.layer)
            else:
                layers.append(assemble_layer(ctx, group.name, group.pieces, group.directories, ctx.attr.compression, group.history))
        else:
            layers.append(build_layer(
                ctx,
                group.name,
                group.entries,
                group.inputs,
                ctx.attr.compression,
                group.history,
                symlink_root = split.runfiles_root if group.contained else None,
                native_report = group.name == "interpreter",
                # What every start reads: a lazy pull fetches these layers whole, up front.
                prioritized = ["/"] if group.name in ("interpreter", "first_party") else [],
            ))

    # The base's C library when it says, else the one the wheels were chosen for.
    checks = struct(
        libc = (base.libc if base else None) or (wheels[0].libc if wheels else None),
        python_version = wheels[0].python_version if wheels else python.version,
    )
    return assemble_image(ctx, ctx.attr.base, layers, checks = checks, settings = {
        "cmd": None,
        "entrypoint": [python.path, split.binary_path],
        "env": image_env(ctx.attr.env, split.binary_path, python.path, python.version),
        "labels": ctx.attr.labels,
        "user": None,
        "workdir": split.runfiles_root + "/" + ctx.workspace_name,
    })

sematic_image = rule(
    implementation = _sematic_image_impl,
    cfg = image_transition,
    doc = """An OCI image for one platform: `base` plus the runfiles of the py_binary `binary`,
laid out as `/app/<package>/<binary>` + `/app/<package>/<binary>.runfiles/`, in layers split by
how often they change, with the Sematic worker contract (entrypoint, /sematic/bin,
BAZEL_BUILT_IMAGE).

The image and everything under it are built for `platform` with `python_version`: requirement()
repositories of rules_sematic give wheels for that Python and CPU whatever the host runs.

Outputs: the image layout directory and `<name>.digest`; output group `tarball`: a tarball
`docker load` / `podman load` accept (needs every base layer, so not for shallow bases).""",
    attrs = dict(
        base = attr.label(
            doc = "Base image: a rules_sematic base (`@sematic-worker-base//image`, a " +
                  "`sematic_pull`/`debian_image` repository, another image) or any target whose " +
                  "only output is an OCI image layout directory. Unset: an empty (scratch) base.",
        ),
        binary = attr.label(
            mandatory = True,
            executable = True,
            cfg = "target",
            aspects = [python_deps_aspect, shared_buckets_aspect],
            doc = "The py_binary whose runfiles go into the image; the entrypoint runs it.",
        ),
        compression = attr.string(default = "gzip", values = COMPRESSIONS, doc = "Layer compression: `gzip`, `zstd` or `estargz` (lazily pullable gzip, see sematic_pipeline)."),
        env = attr.string_dict(
            doc = "Environment, merged over the base's; `$VAR`/`${VAR}` expand against the base env.",
        ),
        image_layers = attr.label_list(
            aspects = [python_deps_aspect],
            doc = "Dependencies to put in layers of their own (in this order), e.g. a large " +
                  "framework that changes rarely. Their files leave the automatic layers; the " +
                  "requirement() distributions among them each get a layer of their own.",
        ),
        interpreter = attr.string(
            default = "base",
            values = ["base", "toolchain"],
            doc = "`base`: py_binaries run on the base image's Python (its declared or detected " +
                  "interpreter), whatever Python toolchain the workspace registers. `toolchain`: " +
                  "on the Python toolchain resolved for `platform`; a hermetic interpreter then " +
                  "ships in a layer of its own.",
        ),
        labels = attr.string_dict(doc = "Image config labels."),
        platform = image_platform_attr(),
        python_version = attr.string(
            values = [""] + PYTHON_VERSIONS,
            doc = "`major.minor` Python version the image's requirement() wheels are chosen " +
                  "for. Default: the one version the requirements repository serves. It must " +
                  "be the base's.",
        ),
        split_large_distributions = attr.bool(
            default = True,
            doc = "Split the layer of a distribution far larger than its largest file (e.g. " +
                  "torch, nvidia-cudnn) by file into a few layers (at most 12 more in all), so " +
                  "a push uploads it over several connections instead of one. The parts " +
                  "depend only on the distribution's files.",
        ),
        requires_sematic = attr.bool(
            doc = "Fail the build unless `binary` can import `sematic` (set for pipeline workers).",
        ),
        _allowlist_function_transition = attr.label(
            default = "@bazel_tools//tools/allowlists/function_transition_allowlist",
        ),
        _sematic_tools_layer = attr.label(
            default = Label("//private/worker:sematic_tools_layer"),
            providers = [SematicLayerInfo],
        ),
        _sematic_tools_layer_estargz = attr.label(
            default = Label("//private/worker:sematic_tools_layer_estargz"),
            providers = [SematicLayerInfo],
        ),
        **image_tool_attrs()
    ),
    toolchains = [BUILD_TOOLCHAIN, config_common.toolchain_type(_PY_TOOLCHAIN, mandatory = False)],
)
