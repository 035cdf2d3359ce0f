"""A base pinned by digest (sematic.pull) is fetched shallowly: manifest and config only. Images
built on it name the base's repository, and pushes mount (same registry) or stream (another
registry) its layers; nothing of the base's layers is ever written to disk, nor to a remote
cache."""

import json
from pathlib import Path

import pytest

from harness.bazel import Bazel, consumer_module, copy_examples_lock
from harness.containers import entrypoint, runc_run, unpack
from harness.fixtures import parse_summary, skopeo_copy_back
from harness.images import read_blob_json
from harness.nginx import NginxCache

# Uses 127.0.0.1:5000 or this checkout's Bazel server (tests/harness/pipeline_fixtures.py).
pytestmark = pytest.mark.checkout

EXTENSION = """
sematic.pull(name = "pulled", image = "{image}", python_version = "3.11")
sematic.requirements(name = "pypi", python = "/usr/bin/python3.13", python_version = "3.11", requirements_lock = "//:requirements_lock.txt")
"""

BUILD = """\
load("@pypi//:requirements.bzl", "requirement")
load("@rules_sematic//:pipeline.bzl", "sematic_pipeline")

exports_files(["requirements_lock.txt"])

sematic_pipeline(
    name = "main",
    base = "@pulled//image",
    registry = "{registry}",
    repository = "app/shallow",
    deps = [requirement("sematic")],
)
"""


def blobs(layout: Path) -> set:
    return {f.name for f in (layout / "blobs" / "sha256").iterdir()}


def test_pulled_base_is_shallow_and_its_layers_are_mounted_or_streamed(tools, make_registry, repo_bazel, tmp_path):
    registry, elsewhere = make_registry(), make_registry()
    base_layout, _ = repo_bazel.image("//images:python3")
    pushed = tools.push(base_layout, f"{registry.host}/base/python3")
    assert pushed.returncode == 0, pushed.stderr
    base_ref = pushed.stdout.strip()

    workspace = tmp_path / "workspace"
    workspace.mkdir()
    (workspace / "MODULE.bazel").write_text(
        consumer_module("shallow_base", EXTENSION.format(image=base_ref), ["pulled", "pypi"]))
    (workspace / "WORKSPACE.bzlmod").write_text("")
    (workspace / "BUILD.bazel").write_text(BUILD.format(registry=registry.host))
    (workspace / "main.py").write_text("print('launched')\n")
    copy_examples_lock(workspace)
    bazel = Bazel(workspace)
    cache = NginxCache().start()
    try:
        # The first build fills a remote cache (Debian's nginx): every action's outputs go there.
        layout, digest = bazel.image("//:main_default_image", f"--remote_cache={cache.url}")

        output_base = Path(bazel.run("info", "output_base").stdout.strip())
        (pulled,) = output_base.glob("external/*pulled/image/layout")
        base_manifest = json.loads((base_layout / "index.json").read_text())["manifests"][0]
        base_layers = [l["digest"].split(":")[1]
                       for l in read_blob_json(base_layout, base_manifest["digest"])["layers"]]
        assert len(blobs(pulled)) == 2, "a shallow pull keeps only the manifest and the config"
        assert not set(base_layers) & blobs(layout), "the base's layers must not be copied into the image"
        own_layers = [l["digest"].split(":")[1] for l in read_blob_json(layout, digest)["layers"]][len(base_layers):]
        cached = cache.stored_blobs()
        assert set(own_layers) <= cached, "the image's own layers are in the remote cache"
        assert not set(base_layers) & cached, "the base's layers must stay out of the remote cache"
        entry = json.loads((layout / "index.json").read_text())["manifests"][0]
        assert entry["annotations"]["dev.rules-sematic.source"] == f"{registry.host}/base/python3"

        same = parse_summary(bazel.run("run", "//:main_default_push").stderr)
        assert (same["mounted"], same["streamed"]) == (len(base_layers), 0), same

        # Arguments after `--` reach the push: another repository, an extra tag.
        other = parse_summary(bazel.run("run", "//:main_default_push", "--",
                                        "--repository", f"{elsewhere.host}/app/copy", "--tag", "extra").stderr)
        assert (other["mounted"], other["streamed"]) == (0, len(base_layers)), other
        assert sorted(elsewhere.tags("app/copy")) == ["extra", "main_default"]
    finally:
        bazel.shutdown()
        cache.stop()

    # The pushed image is complete: pull it back and run Sematic's worker in it.
    copy = tmp_path / "pulled-back"
    assert skopeo_copy_back(elsewhere.host, "app/copy:main_default", copy) == digest
    bundle = unpack(copy, "copied", tmp_path / "bundle")
    run = runc_run(bundle, entrypoint(bundle) + ["--help"])
    assert run.returncode == 0, run.stderr
    assert "--run_id" in run.stdout
