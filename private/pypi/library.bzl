"""The targets a requirements repository is made of: one library per distribution and target
Python, and the targets that fail (at analysis, only when used) when a target has no wheel."""

load("@rules_python//python:defs.bzl", "PyInfo")
load("//private:piece.bzl", "SematicPieceInfo")

SematicWheelInfo = provider(
    doc = "A third-party distribution installed from a wheel by a rules_sematic requirements repository.",
    fields = {
        "distribution": "Normalised distribution name, e.g. `pyyaml`.",
        "files": "depset of the installed files (`site/`, `bin/` of the wheel's repository).",
        "libc": "The C library the wheel was chosen for (the requirements' `libc`, e.g. `glibc 2.28`).",
        "piece": "SematicPieceInfo: the files as a layer piece, shared by every image.",
        "python_version": "`major.minor` Python the wheel was chosen for.",
        "served_python_versions": "The Python versions its requirements hub serves.",
        "repository": "The wheel repository's name in the runfiles tree (`ctx.workspace_name` style).",
        "version": "The pinned version.",
    },
)

def _sematic_wheel_library_impl(ctx):
    files = ctx.attr.wheel[DefaultInfo].files

    # The repository holding the files: `wheel` may be an alias of another target's repository
    # (a pure-Python wheel every target shares).
    repository = ctx.files.wheel[0].owner.workspace_name if ctx.files.wheel else ctx.attr.wheel.label.workspace_name
    deps = ctx.attr.deps
    return [
        DefaultInfo(
            files = files,
            runfiles = ctx.runfiles(transitive_files = files).merge_all([d[DefaultInfo].default_runfiles for d in deps]),
        ),
        PyInfo(
            transitive_sources = depset(transitive = [files] + [d[PyInfo].transitive_sources for d in deps]),
            imports = depset([repository + "/site"], transitive = [d[PyInfo].imports for d in deps]),
            has_py2_only_sources = False,
            has_py3_only_sources = True,
            uses_shared_libraries = False,
        ),
        SematicWheelInfo(
            distribution = ctx.attr.distribution,
            files = files,
            libc = ctx.attr.libc,
            piece = ctx.attr.piece[SematicPieceInfo],
            python_version = ctx.attr.python_version,
            repository = repository,
            served_python_versions = ctx.attr.served_python_versions,
            version = ctx.attr.version,
        ),
    ]

sematic_wheel_library = rule(
    implementation = _sematic_wheel_library_impl,
    doc = "A distribution installed from its wheel, importable like a py_library.",
    attrs = {
        "deps": attr.label_list(providers = [PyInfo], doc = "The distributions it requires for this target."),
        "distribution": attr.string(mandatory = True, doc = "Normalised distribution name."),
        "libc": attr.string(mandatory = True, doc = "C library the wheel was chosen for, e.g. `glibc 2.28`."),
        "piece": attr.label(mandatory = True, providers = [SematicPieceInfo], doc = "`@<wheel repo>//:piece`."),
        "python_version": attr.string(mandatory = True, doc = "Python the wheel was chosen for."),
        "served_python_versions": attr.string_list(doc = "The Python versions its requirements hub serves."),
        "version": attr.string(mandatory = True, doc = "Pinned version."),
        "wheel": attr.label(mandatory = True, allow_files = True, doc = "The installed files (`@<wheel repo>//:files`)."),
    },
    provides = [PyInfo, SematicWheelInfo],
)

def _failing_impl(ctx):
    fail(ctx.attr.message)

sematic_requirement_error = rule(
    implementation = _failing_impl,
    doc = "Stands for what a requirements repository cannot give a target (no wheel fits it, " +
          "a Python version it does not serve); using it fails with `message`.",
    attrs = {"message": attr.string(mandatory = True)},
)
