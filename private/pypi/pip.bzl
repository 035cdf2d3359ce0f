"""The pip wheel whose vendored `packaging` the requirements scripts use (tags, markers,
versions); pip itself is never run. One repository, `@rules_sematic_pip`, holds it for every
requirements repository and the scripts' tests."""

load("@bazel_tools//tools/build_defs/repo:http.bzl", "http_file")

PIP_REPOSITORY = "rules_sematic_pip"

PIP_WHEEL = struct(
    url = "https://files.pythonhosted.org/packages/f3/6e/1736e5b4ae2b778ef2f81c47d797de9f891d4d8acb047a24ca37a60294dd/pip-26.2.1-py3-none-any.whl",
    sha256 = "71138adf1f4ca900cdb7d289c21b7494329f2332b6d85f0e1c42108c0384ed3e",
)

def pip_repository():
    """Declares `@rules_sematic_pip//file:pip.whl` (downloaded only when a script first runs)."""
    http_file(
        name = PIP_REPOSITORY,
        downloaded_file_path = "pip.whl",
        sha256 = PIP_WHEEL.sha256,
        urls = [PIP_WHEEL.url],
    )
