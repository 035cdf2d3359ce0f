"""Toolchains carrying the rules_sematic tools.

Two toolchain types, because the tools run in two different places:

* build tools (sematic-layer, sematic-image, sematic-index, sematic-tarball) run as actions, on the exec
  platform, which may be a remote executor: their toolchains say `exec_compatible_with`.
* run tools (sematic-push, sematic-launch, sematic-load) run under `bazel run`, on the machine that runs the
  target: their toolchains say `target_compatible_with`.

sematic-pull runs inside repository rules, before any toolchain exists; it keeps using the
host's binary from the tools repository.
"""

BUILD_TOOLCHAIN_TYPE = str(Label("//tools/toolchains:build_toolchain_type"))
RUN_TOOLCHAIN_TYPE = str(Label("//tools/toolchains:run_toolchain_type"))

# What rules declare: optional, so that a workspace without rules_sematic's toolchains gets one
# line saying what to call (from build_tools / run_tools) instead of a resolution error per target.
BUILD_TOOLCHAIN = config_common.toolchain_type(BUILD_TOOLCHAIN_TYPE, mandatory = False)
RUN_TOOLCHAIN = config_common.toolchain_type(RUN_TOOLCHAIN_TYPE, mandatory = False)

_NOT_REGISTERED = "%s: no rules_sematic %s toolchain matches this %s platform: in WORKSPACE, call base_images() or rules_sematic_dependencies() (from @rules_sematic//:repositories.bzl) before using the rules; with bzlmod, rules_sematic registers its own (for another platform, register yours: see the README's Toolchains)"

SematicBuildToolsInfo = provider(
    doc = "The tools image-building actions run, for one exec platform.",
    fields = {
        "image": "File: sematic-image, assembles an OCI image layout from a base and layers",
        "index": "File: sematic-index, writes an image index over single-platform layouts",
        "layer": "File: sematic-layer, writes one reproducible compressed layer",
        "tarball": "File: sematic-tarball, writes a `docker load` tarball of a layout",
    },
)

SematicRunToolsInfo = provider(
    doc = "The tools `bazel run` targets execute, for one target platform.",
    fields = {
        "launch": "File: sematic-launch, pushes images then runs a launch script",
        "loader": "File or None: sematic-load, loads an image layout into the local podman, containerd or Docker",
        "push": "File: sematic-push, pushes an image layout to a registry",
    },
)

def _tool_attr(doc, cfg, mandatory = True):
    return attr.label(mandatory = mandatory, allow_single_file = True, executable = True, cfg = cfg, doc = doc)

def _build_toolchain_impl(ctx):
    tools = SematicBuildToolsInfo(
        image = ctx.file.image,
        index = ctx.file.index,
        layer = ctx.file.layer,
        tarball = ctx.file.tarball,
    )
    return [platform_common.ToolchainInfo(build_tools = tools)]

sematic_build_toolchain = rule(
    implementation = _build_toolchain_impl,
    doc = "The build tools of one exec platform; wrap it in `toolchain(toolchain_type = " +
          "\"@rules_sematic//tools/toolchains:build_toolchain_type\", exec_compatible_with = ...)`.",
    attrs = {
        "image": _tool_attr("The sematic-image binary.", "exec"),
        "index": _tool_attr("The sematic-index binary.", "exec"),
        "layer": _tool_attr("The sematic-layer binary.", "exec"),
        "tarball": _tool_attr("The sematic-tarball binary.", "exec"),
    },
)

def _run_toolchain_impl(ctx):
    tools = SematicRunToolsInfo(launch = ctx.file.launch, loader = ctx.file.loader, push = ctx.file.push)
    return [platform_common.ToolchainInfo(run_tools = tools)]

sematic_run_toolchain = rule(
    implementation = _run_toolchain_impl,
    doc = "The run tools of one target platform; wrap it in `toolchain(toolchain_type = " +
          "\"@rules_sematic//tools/toolchains:run_toolchain_type\", target_compatible_with = ...)`.",
    attrs = {
        "launch": _tool_attr("The sematic-launch binary.", "target"),
        # Optional: run toolchains registered before sematic-load existed keep working for
        # everything but `sematic_load` targets, which say what to add.
        "loader": _tool_attr("The sematic-load binary (needed by `sematic_load` targets only).", "target", mandatory = False),
        "push": _tool_attr("The sematic-push binary.", "target"),
    },
)

def build_tools(ctx):
    """The SematicBuildToolsInfo of a rule; fails with one line when none is registered.

    Args:
      ctx: context of a rule declaring `toolchains = [BUILD_TOOLCHAIN]`.

    Returns:
      SematicBuildToolsInfo.
    """
    toolchain = ctx.toolchains[BUILD_TOOLCHAIN_TYPE]
    if not toolchain:
        fail(_NOT_REGISTERED % (ctx.label, "build", "exec"))
    return toolchain.build_tools

def run_tools(ctx):
    """The SematicRunToolsInfo of a rule; fails with one line when none is registered.

    Args:
      ctx: context of a rule declaring `toolchains = [RUN_TOOLCHAIN]`.

    Returns:
      SematicRunToolsInfo.
    """
    toolchain = ctx.toolchains[RUN_TOOLCHAIN_TYPE]
    if not toolchain:
        fail(_NOT_REGISTERED % (ctx.label, "run", "target"))
    return toolchain.run_tools
