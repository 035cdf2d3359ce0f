"""The pip wheel whose vendored `packaging` the requirements scripts use (tags, markers,
versions); pip itself is never run. One repository, `@rules_sematic_pip`, holds it for every
requirements repository and the scripts' tests."""

PIP_REPOSITORY = "rules_sematic_pip"

PIP_WHEEL = struct(
    url = "https://files.pythonhosted.org/packages/f3/6e/1736e5b4ae2b778ef2f81c47d797de9f891d4d8acb047a24ca37a60294dd/pip-26.2.1-py3-none-any.whl",
    sha256 = "71138adf1f4ca900cdb7d289c21b7494329f2332b6d85f0e1c42108c0384ed3e",
)

def _pip_impl(rctx):
    # By sha256 alone (no canonical id): the repository cache serves it to every workspace.
    rctx.download(url = PIP_WHEEL.url, sha256 = PIP_WHEEL.sha256, output = "file/pip.whl")
    rctx.file("file/BUILD.bazel", 'filegroup(name = "file", srcs = ["pip.whl"], visibility = ["//visibility:public"])\n')
    rctx.file("BUILD.bazel", "")

_pip = repository_rule(implementation = _pip_impl, doc = "`@rules_sematic_pip//file`: the pip wheel.")

def pip_repository():
    """Declares `@rules_sematic_pip//file:pip.whl` (downloaded only when a script first runs)."""
    _pip(name = PIP_REPOSITORY)
