"""The transitions into an image's configuration: its platform, its Python version, and the
base's interpreter for py_binaries (unless the image uses its Python toolchain's)."""

load(":platforms.bzl", "IMAGE_PLATFORMS")

_PLATFORMS = "//command_line_option:platforms"
_EXTRA_TOOLCHAINS = "//command_line_option:extra_toolchains"
_PYTHON_VERSION = str(Label("//python:version"))
_BASE_INTERPRETER = str(Label("//python:base_interpreter_toolchain"))

def _image_transition_impl(settings, attr):
    extra_toolchains = [t for t in settings[_EXTRA_TOOLCHAINS] if t != _BASE_INTERPRETER]
    if attr.interpreter == "base":
        # --extra_toolchains outrank registered toolchains: a host interpreter a workspace
        # registers (e.g. /usr/bin/python3.13 for `bazel run :x_local`) must not leak into images.
        extra_toolchains = [_BASE_INTERPRETER] + extra_toolchains
    return {
        _EXTRA_TOOLCHAINS: extra_toolchains,
        _PLATFORMS: [str(IMAGE_PLATFORMS[attr.platform])],
        _PYTHON_VERSION: attr.python_version or "auto",
    }

image_transition = transition(
    implementation = _image_transition_impl,
    inputs = [_EXTRA_TOOLCHAINS],
    outputs = [_EXTRA_TOOLCHAINS, _PLATFORMS, _PYTHON_VERSION],
)

def _base_platform_transition_impl(settings, attr):
    if not attr.platform:
        return {_PLATFORMS: settings[_PLATFORMS]}
    return {_PLATFORMS: [str(IMAGE_PLATFORMS[attr.platform])]}

# Base images follow the platform of the image built on them, unless they name one (to build a
# multi-platform base with sematic_image_index).
base_platform_transition = transition(
    implementation = _base_platform_transition_impl,
    inputs = [_PLATFORMS],
    outputs = [_PLATFORMS],
)

def _piece_transition_impl(_settings, _attr):
    return {
        _EXTRA_TOOLCHAINS: [],
        _PLATFORMS: [str(Label("//platforms:pieces"))],
        _PYTHON_VERSION: "",
    }

# Layer pieces do not depend on the image they go into: whatever platform and Python an image
# sets, a piece is built in this one configuration, so every image shares one action.
piece_transition = transition(
    implementation = _piece_transition_impl,
    inputs = [],
    outputs = [_EXTRA_TOOLCHAINS, _PLATFORMS, _PYTHON_VERSION],
)
