"""A test whose executable is a tool wrapper (private/wrapper.bzl): `bazel test` runs the
wrapper as Bazel runs tests, and the checker it execs runs it again as a user would run it from
bazel-bin (no runfiles variables, another working directory)."""

load("//private:wrapper.bzl", "RUNFILES_ROOT", "WRAPPER_ATTRS", "write_tool_wrapper")

def _wrapper_test_impl(ctx):
    # The checker finds the wrapper by this runfiles path to run it again directly.
    me = "%s/%s/%s.sh" % (ctx.workspace_name, ctx.label.package, ctx.label.name)
    wrapper = write_tool_wrapper(ctx, "bash", [ctx.file.checker, ctx.file.data, RUNFILES_ROOT, "it's literal", me])
    runfiles = ctx.runfiles(files = [ctx.file.checker, ctx.file.data]).merge(wrapper.runfiles)
    return [DefaultInfo(executable = wrapper.executable, runfiles = runfiles)]

wrapper_test = rule(
    implementation = _wrapper_test_impl,
    test = True,
    attrs = dict({
        "checker": attr.label(allow_single_file = True, mandatory = True),
        "data": attr.label(allow_single_file = True, mandatory = True),
    }, **WRAPPER_ATTRS),
)
