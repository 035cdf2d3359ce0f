"""A C++ toolchain that compiles nothing, for the image platforms only.

Bazel 7's py_binary asks for a C++ toolchain of its target platform even when nothing is
compiled. Images for another CPU than the host's (linux/arm64 from an amd64 laptop) would then
need a cross compiler just to be analysed. Python code reaches images as wheels, never compiled
here, so a toolchain that can only be analysed is enough; it is registered for platforms with
`@rules_sematic//platforms:in_image`, after the user's own toolchains, so a real cross
toolchain a user registers still wins.
"""

load("@rules_cc//cc/common:cc_common.bzl", "cc_common")
load("@rules_cc//cc/toolchains:cc_toolchain_config_info.bzl", "CcToolchainConfigInfo")

def _noop_cc_toolchain_config_impl(ctx):
    return cc_common.create_cc_toolchain_config_info(
        ctx = ctx,
        toolchain_identifier = "rules_sematic_noop_" + ctx.attr.cpu,
        host_system_name = "local",
        target_system_name = "linux-" + ctx.attr.cpu,
        target_cpu = ctx.attr.cpu,
        target_libc = "unknown",
        compiler = "rules_sematic_noop",
        abi_version = "unknown",
        abi_libc_version = "unknown",
    )

noop_cc_toolchain_config = rule(
    implementation = _noop_cc_toolchain_config_impl,
    attrs = {"cpu": attr.string(mandatory = True)},
    provides = [CcToolchainConfigInfo],
)
