"""`data` files in layers of their own, one per package: a code edit never re-pushes data, and
an edited data file re-pushes its package's layer only."""

from harness.bazel import Bazel, consumer_module
from harness.images import layers_with_history

ROOT_BUILD = """\
load("@rules_python//python:defs.bzl", "py_binary", "py_library")
load("@rules_sematic//:pipeline.bzl", "sematic_image")

py_library(name = "lib", srcs = ["lib.py"], data = ["model.bin"])

py_binary(name = "app", srcs = ["app.py"], deps = [":lib"], data = ["//configs"], legacy_create_init = False)

sematic_image(name = "image", binary = ":app")
"""

CONFIGS_BUILD = 'filegroup(name = "configs", srcs = ["train.yaml"], visibility = ["//visibility:public"])\n'


def layers_by_history(bazel: Bazel) -> dict:
    return {h: layer["digest"] for h, layer in layers_with_history(*bazel.image("//:image"))}


def test_data_layers_change_only_with_their_data(tmp_path):
    workspace = tmp_path / "workspace"
    (workspace / "configs").mkdir(parents=True)
    (workspace / "MODULE.bazel").write_text(consumer_module("data_layers", "", [], python_toolchain=False))
    (workspace / "WORKSPACE.bzlmod").write_text("")
    (workspace / "BUILD.bazel").write_text(ROOT_BUILD)
    (workspace / "configs" / "BUILD.bazel").write_text(CONFIGS_BUILD)
    (workspace / "configs" / "train.yaml").write_text("epochs: 3\n")
    (workspace / "model.bin").write_bytes(bytes(range(256)) * 4096)
    (workspace / "lib.py").write_text("WEIGHTS = 'model.bin'\n")
    (workspace / "app.py").write_text("import lib\n")
    bazel = Bazel(workspace)
    try:
        first = layers_by_history(bazel)
        (workspace / "app.py").write_text("import lib\nprint(lib.WEIGHTS)\n")
        code_edit = layers_by_history(bazel)
        (workspace / "configs" / "train.yaml").write_text("epochs: 4\n")
        config_edit = layers_by_history(bazel)
    finally:
        bazel.shutdown()
    data = sorted(h for h in first if "rules_sematic: data of" in h)
    assert data == ["rules_sematic: data of //", "rules_sematic: data of //configs"], list(first)
    first_party = next(h for h in first if h.startswith("rules_sematic: first-party code"))

    def changed(before, after):
        return sorted(h for h in before if before[h] != after[h])

    assert changed(first, code_edit) == [first_party]
    assert changed(code_edit, config_edit) == ["rules_sematic: data of //configs"]
