"""Public toolchain API of rules_sematic: bring your own tool binaries for another platform.

    load("@rules_sematic//:toolchains.bzl", "sematic_build_toolchain")

    sematic_build_toolchain(name = "arm_tools", image = ..., index = ..., layer = ..., tarball = ...)

    toolchain(
        name = "arm_build",
        exec_compatible_with = ["@platforms//os:linux", "@platforms//cpu:aarch64"],
        toolchain = ":arm_tools",
        toolchain_type = "@rules_sematic//tools/toolchains:build_toolchain_type",
    )

Rules of other rule sets may read the tools the same way: declare the toolchain type in
`toolchains` and read `ctx.toolchains[BUILD_TOOLCHAIN_TYPE].build_tools` (a
SematicBuildToolsInfo) or `ctx.toolchains[RUN_TOOLCHAIN_TYPE].run_tools` (a SematicRunToolsInfo).
"""

load(
    "//private:toolchains.bzl",
    _BUILD_TOOLCHAIN_TYPE = "BUILD_TOOLCHAIN_TYPE",
    _RUN_TOOLCHAIN_TYPE = "RUN_TOOLCHAIN_TYPE",
    _SematicBuildToolsInfo = "SematicBuildToolsInfo",
    _SematicRunToolsInfo = "SematicRunToolsInfo",
    _sematic_build_toolchain = "sematic_build_toolchain",
    _sematic_run_toolchain = "sematic_run_toolchain",
)

BUILD_TOOLCHAIN_TYPE = _BUILD_TOOLCHAIN_TYPE
RUN_TOOLCHAIN_TYPE = _RUN_TOOLCHAIN_TYPE
SematicBuildToolsInfo = _SematicBuildToolsInfo
SematicRunToolsInfo = _SematicRunToolsInfo
sematic_build_toolchain = _sematic_build_toolchain
sematic_run_toolchain = _sematic_run_toolchain
