"""`bazel run @<hub>//:lock`: writes the files list of each lock of a requirements hub (the URL
and sha256 of every file of every pin, read from the index) into the workspace, beside the lock.
Fetching reads only that list, never an index page."""

load("//private:wrapper.bzl", "WRAPPER_ATTRS", "shell_quote", "write_tool_wrapper")

def _lock_impl(ctx):
    if ctx.attr.problem:
        executable = ctx.actions.declare_file(ctx.label.name + ".sh")
        ctx.actions.write(executable, "#!/bin/sh\necho %s >&2\nexit 1\n" % shell_quote("rules_sematic requirements: error: " + ctx.attr.problem), is_executable = True)
        return [DefaultInfo(executable = executable)]
    arguments = [ctx.file._script, "--pip-wheel", ctx.file._pip_wheel, "--command", ctx.attr.command]
    for lock in ctx.attr.locks:
        arguments += ["--lock", lock]
    if ctx.attr.index_url:
        arguments += ["--index-url", ctx.attr.index_url]
    for url in ctx.attr.extra_index_urls:
        arguments += ["--extra-index-url", url]
    wrapper = write_tool_wrapper(ctx, ctx.attr.python, arguments)
    runfiles = ctx.runfiles(files = [ctx.file._script, ctx.file._pip_wheel] + ctx.files._libraries)
    return [DefaultInfo(executable = wrapper.executable, runfiles = runfiles.merge(wrapper.runfiles))]

sematic_requirements_lock = rule(
    implementation = _lock_impl,
    executable = True,
    doc = "Writes the files lists of a hub's locks: `bazel run @<hub>//:lock [-- --check]`.",
    attrs = dict({
        "command": attr.string(mandatory = True, doc = "How users run it, e.g. `@pypi//:lock`."),
        "extra_index_urls": attr.string_list(doc = "More indexes to read."),
        "index_url": attr.string(doc = "Main index; empty: $PIP_INDEX_URL when run, else PyPI."),
        "locks": attr.string_list(doc = "`LABEL=LOCK=FILES` of each lock, paths relative to the workspace."),
        "problem": attr.string(doc = "Why the lists cannot be written from here: running fails with it."),
        "python": attr.string(mandatory = True, doc = "The host interpreter running the script."),
        "_libraries": attr.label_list(allow_files = True, default = [Label(":select_wheel.py"), Label(":targets.py")]),
        "_pip_wheel": attr.label(allow_single_file = True, default = Label("@rules_sematic_pip//file")),
        "_script": attr.label(allow_single_file = True, default = Label(":lock_files.py")),
    }, **WRAPPER_ATTRS),
)

LOCK_RULE_LOAD = 'load("@rules_sematic//private/pypi:lock_command.bzl", "sematic_requirements_lock")'

def lock_target(hub, locks, settings):
    """The BUILD text of the hub's `lock` target.

    Args:
      hub: the hub's name.
      locks: list of (lock Label, its display text, its files list's Label).
      settings: dict of python, index_url, extra_index_urls.

    Returns:
      BUILD file text of the target; the file must load LOCK_RULE_LOAD.
    """
    entries = []
    problem = ""
    for lock, display, files in locks:
        if lock.workspace_root:
            problem = problem or "%s is not in this workspace: run the update where it is declared" % display
        entries.append("%s=%s=%s" % (display, _workspace_path(lock), _workspace_path(files)))
    return """
sematic_requirements_lock(
    name = "lock",
    command = {command},
    extra_index_urls = {extra},
    index_url = {index},
    locks = {locks},
    problem = {problem},
    python = {python},
)
""".format(
        command = repr("@%s//:lock" % hub),
        extra = repr(settings["extra_index_urls"]),
        index = repr(settings["index_url"]),
        locks = repr(entries),
        problem = repr(problem),
        python = repr(settings["python"]),
    )

def _workspace_path(label):
    return "%s/%s" % (label.package, label.name) if label.package else label.name
