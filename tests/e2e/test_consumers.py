"""Outside workspaces using rules_sematic only as the README says (bzlmod with
local_path_override, WORKSPACE with local_repository), each with a two-base pipeline. The two
workspaces share their packages (workspace/pipelines and workspace/python are symlinks)."""

import json

import pytest

from harness.bazel import REPO, Bazel
from harness.fixtures import skopeo_copy_back

# Uses 127.0.0.1:5000 or this checkout's Bazel server (tests/harness/pipeline_fixtures.py).
pytestmark = pytest.mark.checkout

REGISTRY = "127.0.0.1:5000"


@pytest.fixture(params=["bzlmod", "workspace"])
def consumer(request):
    bazel = Bazel(REPO / "tests" / "consumers" / request.param)
    yield request.param, bazel
    bazel.shutdown()


def test_consumer_builds_pushes_and_launches(consumer, examples_registry, tmp_path):
    _, bazel = consumer
    report = tmp_path / "report.json"
    bazel.run("run", "//pipelines:train", "--", "--no-server-check", "--", "--dry-run", "--report", str(report))
    images = json.loads(report.read_text())["images"]
    assert sorted(images) == ["default", "gpu"]
    for key, uri in images.items():
        _, digest = bazel.image(f"//pipelines:train_{key}_image")
        assert uri == f"{REGISTRY}/consumers/train@{digest}"
        pulled = skopeo_copy_back(REGISTRY, f"consumers/train:train_{key}", tmp_path / key)
        assert pulled == digest

    report_binary = tmp_path / "binary.json"
    bazel.run("run", "//pipelines:train_binary", "--", "--no-server-check", "--", "--dry-run", "--report",
              str(report_binary))
    assert json.loads(report_binary.read_text())["images"] == images

    report_local = tmp_path / "local.json"
    bazel.run("run", "//pipelines:train_local", "--", "--report", str(report_local))
    local = json.loads(report_local.read_text())
    assert (local["images"], local["uris_variable"], local["result"]) == ({}, None, 36)
