"""Analysis tests: rules take their tools from the registered toolchains, not from fixed labels."""

load("@bazel_skylib//lib:unittest.bzl", "analysistest", "asserts")

# Also used by failures_test.bzl: analysis there must not need the real tools.
WITH_FAKE_TOOLCHAINS = {"//command_line_option:extra_toolchains": [
    str(Label(":fake_build_toolchain")),
    str(Label(":fake_run_toolchain")),
]}

def _tool_actions_test_impl(ctx):
    env = analysistest.begin(ctx)
    actions = analysistest.target_actions(env)
    for mnemonic, tool in ctx.attr.tools.items():
        executables = [a.argv[0].split("/")[-1] for a in actions if a.mnemonic == mnemonic]
        asserts.equals(env, [tool], executables, "executable of the %s actions" % mnemonic)
    return analysistest.end(env)

tool_actions_test = analysistest.make(
    _tool_actions_test_impl,
    attrs = {"tools": attr.string_dict(doc = "Action mnemonic -> basename of the tool it must run.")},
    config_settings = WITH_FAKE_TOOLCHAINS,
)

def _run_tools_test_impl(ctx):
    env = analysistest.begin(ctx)
    runfiles = analysistest.target_under_test(env)[DefaultInfo].default_runfiles.files.to_list()
    names = [f.basename for f in runfiles]
    asserts.true(env, "fake_push.sh" in names, "the push target's runfiles lack the toolchain's tool: %s" % names)
    asserts.false(env, "sematic-push" in names, "the push target still carries the default tool")
    return analysistest.end(env)

run_tools_test = analysistest.make(
    _run_tools_test_impl,
    config_settings = WITH_FAKE_TOOLCHAINS,
)
