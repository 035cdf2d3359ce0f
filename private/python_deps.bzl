"""What an image's Python code depends on, found by an aspect along `deps` and `data`: the
third-party wheels (their distribution, version and the Python version they were chosen for)
and the data files, which get layers of their own."""

load("//private/pypi:library.bzl", "SematicWheelInfo")

PythonDepsInfo = provider(
    doc = "The wheels a target's Python code depends on, transitively.",
    fields = {
        "data": "depset of the files `data` attributes bring, minus Python sources",
        "wheels": "depset of SematicWheelInfo",
    },
)

def _python_deps_aspect_impl(target, ctx):
    direct = [target[SematicWheelInfo]] if SematicWheelInfo in target else []
    deps = [
        dep[PythonDepsInfo]
        for attribute in ("deps", "data", "actual")
        for dep in _targets(getattr(ctx.rule.attr, attribute, None))
        if PythonDepsInfo in dep
    ]
    data = [
        f
        for f in getattr(ctx.rule.files, "data", [])
        if f.extension != "py"
    ]
    return [PythonDepsInfo(
        data = depset(data, transitive = [info.data for info in deps]),
        wheels = depset(direct, transitive = [info.wheels for info in deps]),
    )]

def _targets(value):
    if value == None:
        return []
    if type(value) == "list":
        return value
    return [value]

python_deps_aspect = aspect(
    implementation = _python_deps_aspect_impl,
    attr_aspects = ["deps", "data", "actual"],
    provides = [PythonDepsInfo],
    doc = "Collects the SematicWheelInfo of every wheel library a target depends on.",
)
