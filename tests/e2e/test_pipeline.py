"""sematic_pipeline end to end: `<name>` pushes and launches, `<name>_binary` and `<name>_local`,
against a real registry on 127.0.0.1:5000 (the examples' registry) and the real sematic package."""

import json
import subprocess
import sys

import pytest

from harness.fixtures import parse_summaries, skopeo_copy_back

# Uses 127.0.0.1:5000 or this checkout's Bazel server (tests/harness/pipeline_fixtures.py).
pytestmark = pytest.mark.checkout

REGISTRY = "127.0.0.1:5000"
EXAMPLES = {
    "hello": {"repository": "rules-sematic/examples/hello", "keys": ["default"]},
    "multi": {"repository": "rules-sematic/examples/multi", "keys": ["cuda", "default"]},
}


def launch(repo_bazel, target, report, *args, env=None, check=True):
    """`bazel run target` with the launch script's --dry-run: no Sematic server here, so the
    launcher does not ask one (test_sematic_round_trip.py launches onto a real one)."""
    return repo_bazel.run("run", target, "--", "--no-server-check", "--", "--dry-run", "--report", str(report), *args,
                          env=env, check=check)


def built_uris(repo_bazel, example):
    spec = EXAMPLES[example]
    return {key: f"{REGISTRY}/{spec['repository']}@{repo_bazel.image(f'//examples/{example}:main_{key}_image')[1]}"
            for key in spec["keys"]}


def expected_environment(uris):
    # `default` first, then the other keys sorted; SEMATIC_CONTAINER_IMAGE only for a lone
    # default key (Sematic ignores the URIS variable whenever it is set).
    keys = ["default"] + sorted(k for k in uris if k != "default")
    return {
        "SEMATIC_CONTAINER_IMAGE": uris["default"] if list(uris) == ["default"] else None,
        "SEMATIC_CONTAINER_IMAGE_URIS": "".join(f"::{key}##{uris[key]}" for key in keys),
    }


def host_sematic_image_uris(environment):
    """What the sematic package installed on the host (not the Bazel-built one) parses."""
    env = {name: value for name, value in environment.items() if value is not None}
    code = "import json; from sematic.container_images import get_image_uris; print(json.dumps(get_image_uris()))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    return json.loads(result.stdout)


@pytest.mark.parametrize("example", sorted(EXAMPLES))
def test_main_pushes_every_image_then_launches_with_their_digests(example, repo_bazel, examples_registry, tmp_path):
    report = tmp_path / "report.json"
    result = launch(repo_bazel, f"//examples/{example}:main", report, "forwarded", "--flag=x")
    data = json.loads(report.read_text())
    uris = built_uris(repo_bazel, example)

    assert data["runner"] == "CloudRunner"
    assert data["argv"] == ["forwarded", "--flag=x"]
    assert data["environment"] == expected_environment(uris)
    assert data["image_uris"] == uris, "sematic (in the launch script) must see exactly the pushed digests"
    assert host_sematic_image_uris(data["environment"]) == uris
    assert {s["key"] for s in parse_summaries(result.stderr)} == set(uris)

    for key, uri in uris.items():
        repository = EXAMPLES[example]["repository"]
        pulled = skopeo_copy_back(REGISTRY, f"{repository}:main_{key}", tmp_path / f"pulled-{key}")
        assert f"{REGISTRY}/{repository}@{pulled}" == uri


def test_second_launch_uploads_nothing(repo_bazel, examples_registry, tmp_path):
    launch(repo_bazel, "//examples/multi:main", tmp_path / "first.json")
    result = launch(repo_bazel, "//examples/multi:main", tmp_path / "second.json")
    summaries = parse_summaries(result.stderr)
    assert [s["uploaded"] for s in summaries] == [0, 0], result.stderr


@pytest.mark.parametrize("example", sorted(EXAMPLES))
def test_binary_uses_build_time_digests_without_pushing(example, repo_bazel, examples_registry, tmp_path):
    report = tmp_path / "report.json"
    result = launch(repo_bazel, f"//examples/{example}:main_binary", report)
    data = json.loads(report.read_text())
    uris = built_uris(repo_bazel, example)
    assert data["environment"] == expected_environment(uris)
    assert data["image_uris"] == uris
    # A registry runs where the images would go: it was asked whether it holds them (one HEAD
    # per key), and nothing was written to it.
    methods = sorted(access.method for access in examples_registry.access_log() if access.path != "/v2/")
    assert methods == ["HEAD"] * len(uris), (methods, result.stderr[-3000:])


def test_local_runs_the_pipeline_with_no_image_variables(repo_bazel, tmp_path):
    report = tmp_path / "report.json"
    inherited = {"SEMATIC_CONTAINER_IMAGE": "stale/value@sha256:" + "0" * 64,
                 "SEMATIC_CONTAINER_IMAGE_URIS": "::default##stale"}
    repo_bazel.run("run", "//examples/hello:main_local", "--", "--report", str(report), "1", "2", "3", env=inherited)
    data = json.loads(report.read_text())
    assert data["runner"] == "SilentRunner"
    assert data["environment"] == {"SEMATIC_CONTAINER_IMAGE": None, "SEMATIC_CONTAINER_IMAGE_URIS": None}
    assert data["image_uris"] == {}
    assert data["result"] == 8.0  # (1 + 2) + (2 + 3), computed by Sematic's SilentRunner


def test_launch_is_refused_when_a_push_fails(repo_bazel, tmp_path):
    # Nothing listens on 127.0.0.1:5000 here.
    report = tmp_path / "report.json"
    result = launch(repo_bazel, "//examples/multi:main", report, check=False)
    assert result.returncode != 0
    assert not report.exists(), "the launch script must not run"
    errors = [line for line in result.stderr.splitlines() if line.startswith("sematic-launch: error")]
    assert errors and REGISTRY in "\n".join(errors), result.stderr


def test_help_is_the_launchers_and_pushes_nothing(repo_bazel, examples_registry):
    result = repo_bazel.run("run", "//examples/hello:main", "--", "--help")
    assert "launcher flags go before a second `--`" in result.stdout, result.stdout
    assert examples_registry.blob_uploads() == [], "--help must not push"


def test_launcher_flags_go_before_a_second_separator(repo_bazel, examples_registry, tmp_path):
    report = tmp_path / "report.json"
    result = repo_bazel.run("run", "//examples/hello:main", "--", "--jobs", "1", "--no-server-check", "--",
                            "--dry-run", "--report", str(report))
    assert json.loads(report.read_text())["image_uris"], result.stderr
    bad = repo_bazel.run("run", "//examples/hello:main", "--", "--jobs", "0", "--", "--dry-run", check=False)
    assert bad.returncode == 2 and "sematic-launch: error: invalid value '0' for '--jobs" in bad.stderr, bad.stderr


def test_binary_warns_about_images_the_registry_lacks(repo_bazel, examples_registry, tmp_path):
    warning = "is not in the registry, so the cluster cannot pull it: push it first"
    unpushed = launch(repo_bazel, "//examples/hello:main_binary", tmp_path / "unpushed.json")
    lines = [line for line in unpushed.stderr.splitlines() if warning in line]
    assert len(lines) == 1 and lines[0].startswith("sematic-launch: warning: image default ("), unpushed.stderr
    launch(repo_bazel, "//examples/hello:main", tmp_path / "pushed.json")
    pushed = launch(repo_bazel, "//examples/hello:main_binary", tmp_path / "binary.json")
    assert warning not in pushed.stderr, pushed.stderr
