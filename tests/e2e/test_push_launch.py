"""sematic-launch: parallel pushes, Sematic's image-URI environment contract, argument
forwarding, exec, refusing to launch when a push fails, and when no Sematic server answers."""

import json
import os
import time

from harness.background import free_port
from harness.fixtures import assert_one_line_error, parse_summaries
from harness.images import layer, random_layer
from harness.launch import BINARY, launch, make_runfiles

def test_multi_key_push_shares_blobs_and_sets_only_the_uri_list(tools, registry, tmp_path):
    base = [random_layer(200_000, s) for s in range(3)]
    images = {"default": base + [layer({"app": b"cpu"})], "cuda": base + [layer({"app": b"gpu"})]}
    repositories = {"default": f"{registry.host}/sematic/hello",
                    "cuda": f"{registry.host}/sematic/hello-cuda"}
    runfiles, digests = make_runfiles(tmp_path, images, repositories)
    mark = len(registry.access_log())
    result, dumped, pid = launch(tools, runfiles, tmp_path, "--", "--flag", "two words", "")
    assert result.returncode == 0, result.stderr
    assert dumped["pid"] == pid, "the launch script must replace sematic-launch (exec)"
    assert dumped["argv"] == ["--flag", "two words", ""]
    env = dumped["env"]
    default_uri = f"{registry.host}/sematic/hello@{digests['default']}"
    cuda_uri = f"{registry.host}/sematic/hello-cuda@{digests['cuda']}"
    assert env["SEMATIC_CONTAINER_IMAGE_URIS"] == f"::default##{default_uri}::cuda##{cuda_uri}"
    assert "SEMATIC_CONTAINER_IMAGE" not in env
    assert env["RUNFILES_DIR"] == str(runfiles)
    assert f"sematic-launch: default -> {default_uri}" in result.stderr
    assert f"sematic-launch: cuda -> {cuda_uri}" in result.stderr

    uploaded = [a.path.split("digest=")[1] for a in registry.blob_uploads(mark)]
    for shared in base:
        assert uploaded.count(shared.digest) == 1
    summaries = {s["key"]: s for s in parse_summaries(result.stderr)}
    assert summaries["default"]["mounted"] + summaries["cuda"]["mounted"] == 3
    assert registry.manifest_digest("sematic/hello", "main_default") == digests["default"]
    assert registry.manifest_digest("sematic/hello-cuda", "main_cuda") == digests["cuda"]


def test_default_only_sets_both_variables(tools, registry, tmp_path):
    runfiles, digests = make_runfiles(tmp_path, {"default": [layer({"a": b"1"})]},
                                      {"default": f"{registry.host}/sematic/one"})
    result, dumped, _ = launch(tools, runfiles, tmp_path)
    assert result.returncode == 0, result.stderr
    uri = f"{registry.host}/sematic/one@{digests['default']}"
    assert dumped["env"]["SEMATIC_CONTAINER_IMAGE"] == uri
    assert dumped["env"]["SEMATIC_CONTAINER_IMAGE_URIS"] == f"::default##{uri}"
    assert dumped["argv"] == []


def test_no_push_takes_digests_from_layouts(tools, registry, tmp_path):
    dead = f"127.0.0.1:{registry.port}"
    registry.stop()
    runfiles, digests = make_runfiles(tmp_path, {"default": [layer({"a": b"1"})], "gpu": [layer({"b": b"2"})]},
                                      {"default": f"{dead}/x/a", "gpu": f"{dead}/x/b"})
    result, dumped, _ = launch(tools, runfiles, tmp_path, "--no-push", "--", "run")
    assert result.returncode == 0, result.stderr
    assert dumped["env"]["SEMATIC_CONTAINER_IMAGE_URIS"] == (
        f"::default##{dead}/x/a@{digests['default']}::gpu##{dead}/x/b@{digests['gpu']}")
    assert dumped["argv"] == ["run"]


def test_no_images_removes_both_variables(tools, tmp_path):
    runfiles, _ = make_runfiles(tmp_path, {}, {})
    result, dumped, _ = launch(tools, runfiles, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "SEMATIC_CONTAINER_IMAGE" not in dumped["env"]
    assert "SEMATIC_CONTAINER_IMAGE_URIS" not in dumped["env"]


def test_refuses_to_launch_when_a_push_is_denied(tools, registry, make_registry, tmp_path):
    locked = make_registry(htpasswd="alice:secret-pw-1")
    runfiles, digests = make_runfiles(
        tmp_path, {"default": [layer({"a": b"1"})], "cuda": [layer({"b": b"2"})]},
        {"default": f"{registry.host}/sematic/ok", "cuda": f"{locked.host}/sematic/locked"})
    result, dumped, _ = launch(tools, runfiles, tmp_path)
    assert result.returncode != 0
    assert dumped is None, "the launch script must not run"
    errors = [l for l in result.stderr.splitlines() if ": error: " in l]
    assert errors == [
        "sematic-launch: error: image cuda: preparing cuda for push: checking for manifest "
        f"{digests['cuda']} in {locked.host}/sematic/locked: HTTP 401 Unauthorized: registry {locked.host} "
        "denied repository:sematic/locked:pull,push to anonymous access: no credentials found for it "
        "(docker login, $REGISTRY_AUTH_FILE, $DOCKER_CONFIG/config.json, ~/.docker/config.json or podman's "
        "auth.json)",
        "sematic-launch: error: not launching: an image failed to push",
    ]


def test_refuses_to_launch_when_a_registry_is_dead(tools, registry, tmp_path):
    dead = f"127.0.0.1:{registry.port}"
    registry.stop()
    runfiles, _ = make_runfiles(tmp_path, {"default": [layer({"a": b"1"})]}, {"default": f"{dead}/x/a"})
    result, dumped, _ = launch(tools, runfiles, tmp_path, "--timeout", "2")
    assert result.returncode != 0 and dumped is None
    assert any(l.startswith("sematic-launch: error: image default: ") and dead in l
               for l in result.stderr.splitlines())


def test_keys_are_validated(tools, registry, tmp_path):
    runfiles, _ = make_runfiles(tmp_path, {"a::b": [layer({"a": b"1"})]},
                                {"a::b": f"{registry.host}/x/a"})
    result, dumped, _ = launch(tools, runfiles, tmp_path, "--no-push")
    line = assert_one_line_error(result, "sematic-launch")
    assert line == ('sematic-launch: error: invalid image key "a::b": it must be non-empty, without whitespace, '
                    '"::" or "##"')
    assert dumped is None
    config_path = runfiles / "_main/examples/hello/main_launch.json"
    config = json.loads(config_path.read_text())
    config["images"][0]["key"] = "x##y"
    config_path.write_text(json.dumps(config))
    result, _, _ = launch(tools, runfiles, tmp_path, "--no-push")
    line = assert_one_line_error(result, "sematic-launch")
    assert line == ('sematic-launch: error: invalid image key "x##y": it must be non-empty, without whitespace, '
                    '"::" or "##"')
    assert os.access(runfiles / BINARY, os.X_OK)


def test_one_image_failing_does_not_blame_the_image_it_shares_blobs_with(tools, registry, make_proxy, tmp_path):
    base = [random_layer(50_000, s) for s in range(2)]
    broken = layer({"app": b"gpu"})
    proxy = make_proxy(registry.host, script=[
        (lambda method, path: method == "PUT" and broken.digest in path, "500", None)])
    runfiles, _ = make_runfiles(
        tmp_path, {"default": base + [layer({"app": b"cpu"})], "cuda": base + [broken]},
        {"default": f"{proxy.address}/sematic/a", "cuda": f"{proxy.address}/sematic/b"})
    result, dumped, _ = launch(tools, runfiles, tmp_path, "--progress", "quiet")
    assert result.returncode != 0 and dumped is None
    errors = [l for l in result.stderr.splitlines() if ": error: " in l]
    assert len(errors) == 2, result.stderr
    assert errors[0].startswith("sematic-launch: error: image cuda: ") and broken.digest in errors[0]
    assert errors[1] == "sematic-launch: error: not launching: an image failed to push"
    assert registry.manifest_digest("sematic/a", "main_default") is not None
    assert registry.tags("sematic/b") == []


def test_two_keys_in_one_repository_count_each_blob_once_plus_a_total(tools, registry, tmp_path):
    base = [random_layer(100_000, s) for s in range(3)]
    images = {"default": base + [layer({"app": b"cpu"})], "cuda": base + [layer({"app": b"gpu"})]}
    repository = f"{registry.host}/sematic/one-repo"
    runfiles, _ = make_runfiles(tmp_path, images, {"default": repository, "cuda": repository})
    mark = len(registry.access_log())
    result, dumped, _ = launch(tools, runfiles, tmp_path)
    assert result.returncode == 0, result.stderr
    uploads = registry.blob_uploads(mark)
    # Three shared layers, two app layers, two configs: each uploaded once.
    assert len(uploads) == 7
    summaries = {s["key"]: s for s in parse_summaries(result.stderr)}
    assert summaries["default"]["uploaded"] + summaries["cuda"]["uploaded"] == 7
    [total] = [l for l in result.stderr.splitlines() if l.startswith("sematic-launch: total: ")]
    uploaded_bytes = sum(s["bytes"] for s in summaries.values())
    assert total == (f"sematic-launch: total: uploaded=7 ({uploaded_bytes} bytes) existed=0 mounted=0 "
                     "streamed=0 images=2")


def test_a_missing_launch_script_stops_the_launch_before_any_push(tools, registry, tmp_path):
    runfiles, _ = make_runfiles(tmp_path, {"default": [layer({"a": b"1"})]},
                                {"default": f"{registry.host}/sematic/never"})
    (runfiles / BINARY).unlink()
    mark = len(registry.access_log())
    result, dumped, _ = launch(tools, runfiles, tmp_path)
    line = assert_one_line_error(result, "sematic-launch")
    assert line == (f"sematic-launch: error: the launch script {runfiles / BINARY} is missing or not "
                    "executable: build the launcher target again")
    assert dumped is None
    assert registry.access_log()[mark:] == []


def test_stamped_tags_and_ca_certs_come_from_the_config(tools, make_registry, tmp_path):
    registry = make_registry(tls=True)
    runfiles, digests = make_runfiles(tmp_path, {"default": [layer({"a": b"1"})]},
                                      {"default": f"{registry.host}/sematic/stamped"},
                                      tags=["main_default", "v{STABLE_RELEASE}"])
    config_path = runfiles / "_main/examples/hello/main_launch.json"
    config = json.loads(config_path.read_text())
    (runfiles / "_main/ca.pem").write_bytes(registry.ca.read_bytes())
    config["images"][0]["ca_certs"] = ["_main/ca.pem"]
    config_path.write_text(json.dumps(config))
    status = tmp_path / "stable-status.txt"
    status.write_text("STABLE_RELEASE 1.2\nBUILD_USER ci\n")
    result, dumped, _ = launch(tools, runfiles, tmp_path, "--status-file", status)
    assert result.returncode == 0, result.stderr
    assert sorted(registry.tags("sematic/stamped")) == ["main_default", "v1.2"]
    assert registry.manifest_digest("sematic/stamped", "v1.2") == digests["default"]

    (tmp_path / "dump.json").unlink()
    result, dumped, _ = launch(tools, runfiles, tmp_path)
    line = assert_one_line_error(result, "sematic-launch")
    assert line == ('sematic-launch: error: image default: tag "v{STABLE_RELEASE}" names the workspace '
                    "status value STABLE_RELEASE, but the build is not stamped: run with --stamp")
    assert dumped is None


def test_no_sematic_server_stops_the_launch_before_any_push(tools, registry, tmp_path):
    """Sematic's client would retry for minutes: the launcher asks the server the client will
    use first, and names SEMATIC_API_ADDRESS (variable, settings file or default) when none
    answers. (A server that answers: tests/e2e/test_sematic_round_trip.py.)"""
    runfiles, _ = make_runfiles(tmp_path, {"default": [layer({"a": b"1"})]},
                                {"default": f"{registry.host}/sematic/never"})
    dead = f"http://127.0.0.1:{free_port()}"
    config = tmp_path / "sematic-config"
    config.mkdir()
    (config / "settings.yaml").write_text(
        "profiles:\n  default:\n    settings:\n      sematic.config.user_settings.UserSettings:\n"
        f"        SEMATIC_API_ADDRESS: {dead}/from-file\n")
    cases = [
        ({"SEMATIC_API_ADDRESS": dead}, f"{dead} (from $SEMATIC_API_ADDRESS)"),
        ({"SEMATIC_CONFIG_DIR": str(config)}, f"{dead}/from-file (SEMATIC_API_ADDRESS in {config}/settings.yaml)"),
        ({"PORT": dead.rsplit(":", 1)[1]}, f"{dead} (Sematic's default: SEMATIC_API_ADDRESS is not set)"),
    ]
    mark = len(registry.access_log())
    for env, where in cases:
        started = time.monotonic()
        result, dumped, _ = launch(tools, runfiles, tmp_path, env=env, server_check=True)
        line = assert_one_line_error(result, "sematic-launch", "--no-server-check")
        assert line.startswith(f"sematic-launch: error: no Sematic server answers at {where}: "), line
        assert "point SEMATIC_API_ADDRESS at yours (sematic settings set SEMATIC_API_ADDRESS" in line, line
        assert dumped is None
        assert time.monotonic() - started < 10
    assert registry.access_log()[mark:] == [], "nothing may be pushed for a launch no server takes"

    result, dumped, _ = launch(tools, runfiles, tmp_path, env={"SEMATIC_API_ADDRESS": dead}, server_check=False)
    assert result.returncode == 0 and dumped is not None, result.stderr
