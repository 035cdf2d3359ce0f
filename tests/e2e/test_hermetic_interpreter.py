"""A hermetic Python toolchain (an interpreter shipped as files in an external repository, not a
path on the base image) gets a layer of its own, below the code, and the image runs through it."""

import tarfile
from pathlib import Path

from harness.bazel import Bazel, consumer_module
from harness.containers import entrypoint, runc_run, unpack
from harness.images import blob_path, layers_with_history

TOOLCHAIN_BUILD = """\
load("@rules_python//python:defs.bzl", "py_runtime", "py_runtime_pair")

py_runtime(
    name = "runtime",
    files = glob(["lib/**"]),
    interpreter = "bin/python3",
    python_version = "PY3",
)

py_runtime_pair(name = "pair", py3_runtime = ":runtime")

toolchain(
    name = "toolchain",
    toolchain = ":pair",
    toolchain_type = "@bazel_tools//tools/python:toolchain_type",
)
"""

# Stands in for a python-build-standalone interpreter (which only GitHub serves): it leaves its
# own path in the environment, proof that the py_binary ran through it, then hands over to the
# base image's python.
INTERPRETER = '#!/bin/sh\nexport HERMETIC_INTERPRETER="$0"\nexec /usr/bin/python3 "$@"\n'

MODULE_TAIL = """
local_repository = use_repo_rule("@bazel_tools//tools/build_defs/repo:local.bzl", "local_repository")

local_repository(name = "python_hermetic", path = "{path}")

register_toolchains("@python_hermetic//:toolchain")
"""

BUILD = """\
load("@rules_python//python:defs.bzl", "py_binary")
load("@rules_sematic//:pipeline.bzl", "sematic_image")

py_binary(name = "app", srcs = ["app.py"], legacy_create_init = False)

sematic_image(name = "image", base = "@rules_sematic//images:python3", binary = ":app", interpreter = "toolchain")
"""

APP = 'import os\nprint("{greeting}", os.environ.get("HERMETIC_INTERPRETER"))\n'
RUNFILES = "app/app.runfiles/"
TOOLS_LAYER = "rules_sematic: Sematic worker tools in /sematic/bin"
INTERPRETER_LAYER = "rules_sematic: Python interpreter"


def own_layers(layout: Path, digest: str) -> dict:
    """{history text: layer blob path} of the layers sematic_image put on the base, in order
    (the first is always the /sematic/bin tools layer)."""
    layers = layers_with_history(layout, digest)
    ours = [created_by for created_by, _ in layers].index(TOOLS_LAYER)
    return {created_by: blob_path(layout, layer["digest"]) for created_by, layer in layers[ours:]}


def members(blob: Path) -> dict:
    with tarfile.open(blob) as layer:
        return {member.name: member for member in layer.getmembers() if member.isfile()}


def test_hermetic_interpreter_has_its_own_layer_and_runs(tmp_path):
    toolchain = tmp_path / "python_hermetic"
    (toolchain / "bin").mkdir(parents=True)
    (toolchain / "lib" / "python3.13").mkdir(parents=True)
    (toolchain / "MODULE.bazel").write_text("")
    (toolchain / "BUILD.bazel").write_text(TOOLCHAIN_BUILD)
    (toolchain / "bin" / "python3").write_text(INTERPRETER)
    (toolchain / "bin" / "python3").chmod(0o755)
    (toolchain / "lib" / "python3.13" / "stdlib_stand_in.py").write_text("")

    workspace = tmp_path / "workspace"
    workspace.mkdir()
    (workspace / "MODULE.bazel").write_text(
        consumer_module("hermetic_interpreter", "", [], python_toolchain=False) + MODULE_TAIL.format(path=toolchain))
    (workspace / "WORKSPACE.bzlmod").write_text("")
    (workspace / "BUILD.bazel").write_text(BUILD)
    app = workspace / "app.py"
    app.write_text(APP.format(greeting="hello"))
    bazel = Bazel(workspace)
    try:
        layout, digest = bazel.image("//:image")
        layers = own_layers(layout, digest)
        order = list(layers)
        # Least often changed first: the interpreter right above the /sematic/bin tools, the code last.
        assert order[1] == INTERPRETER_LAYER and "first-party" in order[-1], order
        interpreter, first_party = layers[INTERPRETER_LAYER], layers[order[-1]]

        shipped = members(interpreter)
        (binary,) = [name for name in shipped if name.startswith(RUNFILES) and name.endswith("/bin/python3")]
        assert shipped[binary].mode == 0o755
        assert any(name.endswith("/lib/python3.13/stdlib_stand_in.py") for name in shipped), sorted(shipped)
        assert not set(shipped) & set(members(first_party)), "interpreter files also in the first-party layer"

        bundle = unpack(layout, "latest", tmp_path / "bundle")
        run = runc_run(bundle, entrypoint(bundle))
        assert run.returncode == 0, run.stderr
        assert run.stdout.split() == ["hello", "/" + binary], run.stdout

        app.write_text(APP.format(greeting="edited"))
        layout, edited = bazel.image("//:image")
        after = own_layers(layout, edited)
    finally:
        bazel.shutdown()

    assert edited != digest
    changed = [name for name in order if after[name].name != layers[name].name]
    assert changed == [order[-1]], "a code edit may change only the first-party layer"
