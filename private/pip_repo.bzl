"""python_requirements: a hash-pinned requirements lock as a repository of py_libraries.

rules_python's pip integration as packaged for offline Bazel (0.22.1) runs pip 22.3, which
cannot run on Python >= 3.12. This rule runs a current, pinned pip wheel with the interpreter
the packages are for and lays every distribution out in its own directory, which is what the
image layering needs to give third-party code stable layers.
"""

load(":paths.bzl", "display_label")

# Run straight from the wheel (pip supports `python pip.whl/pip`): nothing to bootstrap.
_PIP_WHEEL_URL = "https://files.pythonhosted.org/packages/f3/6e/1736e5b4ae2b778ef2f81c47d797de9f891d4d8acb047a24ca37a60294dd/pip-26.2.1-py3-none-any.whl"
_PIP_WHEEL_SHA256 = "71138adf1f4ca900cdb7d289c21b7494329f2332b6d85f0e1c42108c0384ed3e"

def _python_requirements_impl(rctx):
    python = rctx.attr.python
    interpreter = rctx.path(python) if python.startswith("/") else rctx.which(python)
    if not interpreter or not interpreter.exists:
        fail("python_requirements(%s): interpreter %s not found: install it or set python = \"/path/to/python3.X\"" %
             (rctx.name, python))
    rctx.download(url = _PIP_WHEEL_URL, sha256 = _PIP_WHEEL_SHA256, output = "_pip/pip.whl")
    lock = rctx.path(rctx.attr.requirements_lock)
    rctx.report_progress("pip install -r %s" % rctx.attr.requirements_lock)
    result = rctx.execute(
        [
            interpreter,
            rctx.path(Label("//private:pip_install.py")),
            "--pip-wheel",
            rctx.path("_pip/pip.whl"),
            "--lock",
            lock,
            "--lock-label",
            display_label(rctx.attr.requirements_lock),
            "--repo",
            rctx.path("."),
            "--",
        ] + rctx.attr.pip_args,
        timeout = rctx.attr.timeout,
        quiet = True,
    )
    if result.return_code != 0:
        fail(result.stderr or result.stdout)
    rctx.delete("_pip")

REQUIREMENTS_ATTRS = {
    "pip_args": attr.string_list(
        doc = "Extra `pip install` arguments, e.g. `--index-url=https://mirror/simple`.",
    ),
    "python": attr.string(
        mandatory = True,
        doc = "Interpreter the packages are for (absolute path or name on PATH), e.g. " +
              "`/usr/bin/python3.13`. Use the same Python version as the base image.",
    ),
    "requirements_lock": attr.label(
        mandatory = True,
        allow_single_file = True,
        doc = "The lock file: every distribution pinned with `==` (and ideally `--hash`).",
    ),
    "timeout": attr.int(
        default = 1800,
        doc = "Seconds pip may take.",
    ),
}

python_requirements = repository_rule(
    implementation = _python_requirements_impl,
    doc = """Installs a fully pinned requirements lock (`pip-compile --generate-hashes`) and exposes
one `py_library` per distribution, with dependencies from each wheel's metadata:

    load("@pypi//:requirements.bzl", "requirement")
    deps = [requirement("sematic")]

Only wheels are installed (no sdist builds: they would run arbitrary code at fetch time).""",
    attrs = REQUIREMENTS_ATTRS,
    environ = ["PIP_CERT", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS", "SSL_CERT_FILE"],
)
