"""`bazel run @<name>//:lock`: the executable target that (re)writes a debian_image's lock.

A Starlark rule writing a shell script (no sh_binary: native shell rules leave Bazel's core), run
by `bazel run` from the target's runfiles tree, where the paths below are valid.
"""

_SCRIPT = """#!/bin/sh
# Writes the package lock of debian_image {image} (rules_sematic private/debian/lock.py).
if [ -z "${{BUILD_WORKSPACE_DIRECTORY:-}}" ]; then
    echo "debian_image({image}): run this with \\`bazel run @{image}//:lock\\`" >&2
    exit 1
fi
if ! command -v python3 >/dev/null 2>&1; then
    echo "debian_image({image}): python3 not found: install it (apt-get install python3)" >&2
    exit 1
fi
exec python3 '{tool}' --config '{config}' "$@"
"""

def _debian_lock_impl(ctx):
    config = ctx.actions.declare_file(ctx.label.name + ".json")
    ctx.actions.write(config, json.encode({
        "architectures": ctx.attr.architectures,
        "image": ctx.attr.image,
        "keyring": ctx.attr.keyring,
        "lock": ctx.attr.lock_path if ctx.attr.has_lock else None,
        "lock_label": ctx.attr.lock_label,
        "mirror": ctx.attr.mirror,
        "packages": ctx.attr.packages,
        "suite": ctx.attr.suite,
    }))
    script = ctx.actions.declare_file(ctx.label.name + ".sh")
    ctx.actions.write(script, _SCRIPT.format(
        config = config.short_path,
        image = ctx.attr.image,
        tool = ctx.file._tool.short_path,
    ), is_executable = True)
    runfiles = ctx.runfiles(files = [config, ctx.file._tool, ctx.file._resolver])
    return [DefaultInfo(executable = script, runfiles = runfiles)]

debian_lock = rule(
    implementation = _debian_lock_impl,
    doc = "Writes the lock of a debian_image: `bazel run @<name>//:lock [-- --check]`.",
    executable = True,
    attrs = {
        "architectures": attr.string_list(doc = "Debian architectures the lock resolves."),
        "has_lock": attr.bool(doc = "Whether the debian_image sets `lock`."),
        "image": attr.string(doc = "The debian_image's name."),
        "keyring": attr.string(doc = "OpenPGP keyring verifying the archive (relative to the workspace, or absolute)."),
        "lock_label": attr.string(doc = "The lock's label, for messages."),
        "lock_path": attr.string(doc = "The lock's path in the main repository; empty for another repository's."),
        "mirror": attr.string(doc = "The archive URL the lock records."),
        "packages": attr.string_list(doc = "The packages whose closure is locked."),
        "suite": attr.string(doc = "The Debian suite."),
        "_resolver": attr.label(default = Label("//private/debian:resolve.py"), allow_single_file = True),
        "_tool": attr.label(default = Label("//private/debian:lock.py"), allow_single_file = True),
    },
)
