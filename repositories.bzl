"""WORKSPACE (non-bzlmod) setup of rules_sematic. bzlmod users use //:extensions.bzl instead."""

load("//images:bases.bzl", "DEBIAN_BASES", "SEMATIC_BASES")
load("//private:debian_repo.bzl", _debian_image = "debian_image")
load("//private:pull_repo.bzl", _sematic_pull = "sematic_pull")
load("//private:tools_repo.bzl", "sematic_tools")
load("//private/pypi:requirements.bzl", _python_requirements = "python_requirements")

debian_image = _debian_image
python_requirements = _python_requirements
sematic_pull = _sematic_pull

# WORKSPACE setup functions declare repositories and register toolchains, not targets: a `name`
# argument would mean nothing.
# buildifier: disable=unnamed-macro
def rules_sematic_dependencies(prebuilt_tools_dir = None):
    """Declares the repositories rules_sematic needs and registers its toolchains. Call it once from WORKSPACE.

    The toolchains (//tools/toolchains) give build actions and `bazel run` targets the tools.

    Args:
      prebuilt_tools_dir: absolute path of a directory with prebuilt rules_sematic tool
        binaries, for machines without cargo. By default the tools are built from source with
        `cargo build --release --locked`.
    """
    if not native.existing_rule("rules_sematic_tools"):
        sematic_tools(
            name = "rules_sematic_tools",
            prebuilt_dir = prebuilt_tools_dir or "",
        )

    # C++ toolchains that only let images for another CPU be analysed (//platforms).
    native.register_toolchains("@rules_sematic//platforms:all")
    native.register_toolchains(str(Label("//tools/toolchains:all")))

# buildifier: disable=unnamed-macro
def base_images():
    """Declares the bases of //images: Sematic's pinned worker bases and the Debian python3 base.

    Also declares rules_sematic's own dependencies if rules_sematic_dependencies() was not called.
    Nothing is downloaded until a target uses a base.
    """
    rules_sematic_dependencies()
    for name, kwargs in SEMATIC_BASES.items():
        if not native.existing_rule(name):
            _sematic_pull(name = name, **kwargs)
    for name, kwargs in DEBIAN_BASES.items():
        if not native.existing_rule(name):
            _debian_image(name = name, **kwargs)
