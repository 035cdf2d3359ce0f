"""WORKSPACE (non-bzlmod) setup of rules_sematic. bzlmod users use //:extensions.bzl instead."""

load("//images:bases.bzl", "DEBIAN_BASES", "SEMATIC_BASES")
load("//private:pull_repo.bzl", _sematic_pull = "sematic_pull")
load("//private:toolchains_repo.bzl", "HOST_TOOLS_REPOSITORY", "prebuilt_tools_repository", "sematic_toolchains")
load("//private:tools_repo.bzl", "prebuilt_archives", "sematic_prebuilt_tools", "sematic_tools")
load("//private/debian:repositories.bzl", _debian_image = "debian_image")
load("//private/pypi:pip.bzl", "PIP_REPOSITORY", "pip_repository")
load("//private/pypi:requirements.bzl", _python_requirements = "python_requirements")

debian_image = _debian_image
python_requirements = _python_requirements
sematic_pull = _sematic_pull

# WORKSPACE setup functions declare repositories and register toolchains, not targets: a `name`
# argument would mean nothing.
# buildifier: disable=unnamed-macro
def rules_sematic_dependencies(prebuilt_tools_dir = None):
    """Declares the repositories rules_sematic needs and registers its toolchains. Call it once from WORKSPACE.

    The toolchains (@rules_sematic_toolchains) give build actions and `bazel run` targets the
    tools: this machine's, and the release's prebuilt ones for other platforms.

    Args:
      prebuilt_tools_dir: absolute path of a directory with prebuilt rules_sematic tool
        binaries of this version. By default a release downloads its prebuilt tools and a
        checkout builds them from source with `cargo build --release --locked`.
    """
    if not native.existing_rule(HOST_TOOLS_REPOSITORY):
        sematic_tools(
            name = HOST_TOOLS_REPOSITORY,
            prebuilt_dir = prebuilt_tools_dir or "",
        )
    for platform in prebuilt_archives():
        if not native.existing_rule(prebuilt_tools_repository(platform)):
            sematic_prebuilt_tools(name = prebuilt_tools_repository(platform), platform = platform)
    if not native.existing_rule("rules_sematic_toolchains"):
        sematic_toolchains(name = "rules_sematic_toolchains")
    if not native.existing_rule(PIP_REPOSITORY):
        pip_repository()

    # C++ toolchains that only let images for another CPU be analysed (//platforms).
    native.register_toolchains("@rules_sematic//platforms:all")
    native.register_toolchains("@rules_sematic_toolchains//:all")

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
