"""What an image's Python code depends on: the third-party wheels, found by an aspect along
`deps` (their distribution, version and the Python version they were chosen for)."""

load("//private/pypi:library.bzl", "SematicWheelInfo")

PythonDepsInfo = provider(
    doc = "The wheels a target's Python code depends on, transitively.",
    fields = {"wheels": "depset of SematicWheelInfo"},
)

def _python_deps_aspect_impl(target, ctx):
    direct = [target[SematicWheelInfo]] if SematicWheelInfo in target else []
    transitive = [
        dep[PythonDepsInfo].wheels
        for attribute in ("deps", "data", "actual")
        for dep in _targets(getattr(ctx.rule.attr, attribute, None))
        if PythonDepsInfo in dep
    ]
    return [PythonDepsInfo(wheels = depset(direct, transitive = transitive))]

def _targets(value):
    if value == None:
        return []
    if type(value) == "list":
        return value
    return [value]

python_deps_aspect = aspect(
    implementation = _python_deps_aspect_impl,
    attr_aspects = ["deps", "data", "actual"],
    doc = "Collects the SematicWheelInfo of every wheel library a target depends on.",
)
