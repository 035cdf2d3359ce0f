"""The public surface through `bazel run`, in one consumer workspace as a user writes it: a
two-key pipeline with `data`, `image_layers`, `tags` and `ca_certs`, pushed to a TLS registry
that wants a password (from DOCKER_CONFIG), then README's `--repository` example."""

import json

import pytest

from harness.bazel import REPO, Bazel, consumer_module, copy_examples_lock
from harness.credentials import PASSWORD, USER, assert_no_secrets, b64, basic_auths
from harness.fixtures import parse_summaries, require
from harness.images import layers_with_history
from harness.registry import LocalRegistry

# Uses 127.0.0.1:5000 or this checkout's Bazel server (tests/harness/pipeline_fixtures.py).
pytestmark = pytest.mark.checkout

EXTENSION = """
sematic.requirements(name = "pypi", python = "/usr/bin/python3.13", python_version = "3.11", requirements_lock = "//:requirements_lock.txt")
"""

BUILD = """\
load("@pypi//:requirements.bzl", "requirement")
load("@rules_python//python:defs.bzl", "py_library")
load("@rules_sematic//:pipeline.bzl", "sematic_base_image", "sematic_layer", "sematic_pipeline")

py_library(name = "steps", srcs = ["steps.py"], data = ["model.bin"], deps = [requirement("sematic")])

py_library(name = "big", srcs = ["big.py"])

sematic_layer(name = "gpu_marker", files = {{"gpu.txt": "/etc/gpu"}})

sematic_base_image(name = "gpu_base", base = "@rules_sematic//images:python3", layers = [":gpu_marker"])

sematic_pipeline(
    name = "main",
    bases = {{"default": "@rules_sematic//images:python3", "gpu": ":gpu_base"}},
    ca_certs = ["ca.pem"],
    image_layers = [":big"],
    registry = "{registry}",
    repository = "surface/main",
    tags = ["team-ml"],
    deps = [":big", ":steps"],
)
"""

MAIN = """\
import json
import sys

from sematic.container_images import get_image_uris, has_container_image

with open(sys.argv[1], "w", encoding="utf-8") as report:
    json.dump({"images": get_image_uris() if has_container_image() else {}}, report)
"""


def test_public_surface_through_bazel_run(tmp_path):
    require("docker-registry")
    registry = LocalRegistry(tmp_path / "registry", htpasswd=f"{USER}:{PASSWORD}", tls=True).start()
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    (workspace / "MODULE.bazel").write_text(consumer_module("surface", EXTENSION, ["pypi"]))
    (workspace / "WORKSPACE.bzlmod").write_text("")
    (workspace / "BUILD.bazel").write_text(BUILD.format(registry=registry.host))
    copy_examples_lock(workspace)
    (workspace / "ca.pem").write_bytes(registry.ca.read_bytes())
    (workspace / "steps.py").write_text("import sematic\n")
    (workspace / "big.py").write_text("WEIGHTS = 1\n")
    (workspace / "model.bin").write_bytes(b"\0" * 100_000)
    (workspace / "gpu.txt").write_text("gpu\n")
    (workspace / "main.py").write_text(MAIN)
    docker = tmp_path / "docker"
    docker.mkdir()
    (docker / "config.json").write_text(json.dumps(basic_auths(registry.host)))
    env = {"DOCKER_CONFIG": str(docker)}
    bazel = Bazel(workspace)
    try:
        report = tmp_path / "report.json"
        result = bazel.run("run", "//:main", "--", "--jobs", "2", "--no-server-check", "--", str(report), env=env)
        assert_no_secrets(result, PASSWORD, b64(f"{USER}:{PASSWORD}"))
        images = json.loads(report.read_text())["images"]
        assert sorted(images) == ["default", "gpu"], images
        for key, uri in images.items():
            _, digest = bazel.image(f"//:main_{key}_image")
            assert uri == f"{registry.host}/surface/main@{digest}"
        # Each blob is counted once, under the first key that needed it.
        summaries = parse_summaries(result.stderr)
        assert sum(s["uploaded"] for s in summaries) == len(registry.blob_uploads()), result.stderr
        assert sorted(registry.tags("surface/main")) == ["main_default", "main_gpu"]

        history = [h for h, _ in layers_with_history(*bazel.image("//:main_default_image"))]
        assert "rules_sematic: image_layers //:big" in history, history
        assert "rules_sematic: data of //" in history, history

        tagged = bazel.run("query", "attr(tags, team-ml, //...)").stdout.split()
        manual = bazel.run("query", "attr(tags, manual, //...)").stdout.split()
        assert {"//:main_default_image", "//:main_default_push", "//:main"} <= set(tagged), tagged
        assert "//:main_default_image" not in manual and {"//:main", "//:main_gpu_push"} <= set(manual), manual

        # README: `-- --tag extra --repository other/repo` stays on the target's registry.
        pushed = bazel.run("run", "//:main_default_push", "--", "--tag", "extra", "--repository", "other/repo", env=env)
        assert_no_secrets(pushed, PASSWORD)
        assert sorted(registry.tags("other/repo")) == ["extra", "main_default"], pushed.stderr[-2000:]
    finally:
        bazel.shutdown()
        registry.stop()


def test_the_extension_reports_the_root_modules_imports_exactly(tmp_path):
    """extension_metadata: `bazel mod tidy` would change nothing in rules_sematic's MODULE.bazel
    or in a consumer's (no 'reported incorrect imports' warning; --lockfile_mode=off makes the
    extension run)."""
    workspace = tmp_path / "consumer"
    workspace.mkdir()
    extension = EXTENSION + 'sematic.base_images()\nsematic.pull(name = "mine", image = "127.0.0.1:5000/x@sha256:' + "0" * 64 + '")\n'
    imports = ["mine", "pypi", "python_39", "rules_sematic_python3", "rules_sematic_python3_bullseye",
               "rules_sematic_python3_trixie", "sematic-worker-base", "sematic-worker-cuda"]
    (workspace / "MODULE.bazel").write_text(consumer_module("tidy", extension, imports))
    (workspace / "WORKSPACE.bzlmod").write_text("")
    (workspace / "BUILD.bazel").write_text("")
    copy_examples_lock(workspace)
    for root, extension in [(REPO, "@@//:extensions.bzl%sematic"), (workspace, "@rules_sematic//:extensions.bzl%sematic")]:
        bazel = Bazel(root)
        try:
            result = bazel.run("mod", "show_extension", "--lockfile_mode=off", extension)
        finally:
            if root != REPO:
                bazel.shutdown()
        assert "reported incorrect imports" not in result.stderr, result.stderr[-3000:]
