"""sematic-push against a plain local registry: output contract, round trip through skopeo,
incremental pushes."""

import os
import pty
import re
import select
import subprocess

from harness.fixtures import assert_one_line_error, parse_summaries, parse_summary, skopeo_copy_back
from harness.images import layer, random_layer, write_layout


def test_push_prints_one_reference_line_and_round_trips(tools, registry, tmp_path):
    image = write_layout(tmp_path / "img", [random_layer(200_000, seed) for seed in range(3)])
    ref_file = tmp_path / "out" / "pushed.ref"
    result = tools.push(image.layout, f"{registry.host}/app/hello", "--tag", "main_default",
                        "--tag", "v1", "--ref-file", ref_file)
    assert result.returncode == 0, result.stderr
    expected = f"{registry.host}/app/hello@{image.digest}"
    assert result.stdout == expected + "\n"
    assert ref_file.read_text() == expected + "\n"
    summary = parse_summary(result.stderr)
    assert summary["uploaded"] == 4 and summary["existed"] == 0
    assert summary["bytes"] == len(image.config) + sum(len(l.blob) for l in image.layers)
    assert summary["manifest"] == "pushed" and summary["tags"] == ["main_default", "v1"]
    assert result.stderr.rstrip().splitlines()[-1].startswith("sematic-push: summary: ")
    assert sorted(registry.tags("app/hello")) == ["main_default", "v1"]
    assert registry.manifest_digest("app/hello", "main_default") == image.digest
    assert skopeo_copy_back(registry.host, f"app/hello@{image.digest}", tmp_path / "copy") == image.digest


def test_unchanged_push_uploads_nothing_and_one_changed_layer_uploads_one(tools, registry, tmp_path):
    layers = [random_layer(100_000, seed) for seed in range(4)]
    first = write_layout(tmp_path / "v1", layers)
    assert tools.push(first.layout, f"{registry.host}/app/inc", "--tag", "t").returncode == 0

    mark = len(registry.access_log())
    again = tools.push(first.layout, f"{registry.host}/app/inc", "--tag", "t")
    assert again.returncode == 0, again.stderr
    summary = parse_summary(again.stderr)
    assert (summary["uploaded"], summary["manifest"]) == (0, "existed")
    assert registry.blob_uploads(mark) == []
    assert [a.path for a in registry.manifest_puts(mark)] == ["/v2/app/inc/manifests/t"]

    changed = layers[:2] + [layer({"app/main.py": b"print('changed')\n"})] + layers[3:]
    second = write_layout(tmp_path / "v2", changed)
    mark = len(registry.access_log())
    result = tools.push(second.layout, f"{registry.host}/app/inc", "--tag", "t")
    assert result.returncode == 0, result.stderr
    summary = parse_summary(result.stderr)
    assert (summary["uploaded"], summary["existed"], summary["manifest"]) == (2, 3, "pushed")
    uploaded = sorted(a.path.split("digest=")[1] for a in registry.blob_uploads(mark))
    assert uploaded == sorted([changed[2].digest, second.config_digest])
    assert [a.path for a in registry.manifest_puts(mark)] == [
        f"/v2/app/inc/manifests/{second.digest}", "/v2/app/inc/manifests/t"]
    assert registry.manifest_digest("app/inc", "t") == second.digest


def test_later_repository_overrides_and_tags_accumulate(tools, registry, tmp_path):
    image = write_layout(tmp_path / "img", [layer({"a": b"a"})])
    result = tools.run("sematic-push", "--layout", image.layout,
                       "--repository", f"{registry.host}/default/repo", "--tag", "one",
                       "--repository", f"{registry.host}/user/choice", "--tag", "two",
                       "--progress", "quiet")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{registry.host}/user/choice@{image.digest}\n"
    assert registry.tags("default/repo") == []
    assert sorted(registry.tags("user/choice")) == ["one", "two"]
    # Quiet progress: the summary is the only line.
    assert len(result.stderr.splitlines()) == 1


def test_push_without_tags_pushes_by_digest_only(tools, registry, tmp_path):
    image = write_layout(tmp_path / "img", [layer({"b": b"b"})])
    result = tools.push(image.layout, f"{registry.host}/app/notag")
    assert result.returncode == 0, result.stderr
    assert parse_summary(result.stderr)["tags"] == []
    assert registry.tags("app/notag") == []
    assert registry.manifest_digest("app/notag", image.digest) == image.digest


def test_terminal_progress_is_redrawn_in_place_and_ends_with_the_summary(tools, registry, make_proxy, tmp_path):
    image = write_layout(tmp_path / "img", [random_layer(2_000_000, seed) for seed in range(3)])
    # Slow requests keep transfers in flight long enough for several redraws.
    proxy = make_proxy(registry.host, delay=0.2)
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [str(tools.path("sematic-push")), "--layout", str(image.layout),
         "--repository", f"{proxy.address}/app/tty", "--tag", "t", "--jobs", "2"],
        stdout=subprocess.PIPE, stderr=terminal, env=tools.env)
    os.close(terminal)
    output = b""
    while True:
        ready, _, _ = select.select([controller], [], [], 60)
        if not ready:
            break
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # the terminal closed: the process is gone
            break
        if not chunk:
            break
        output += chunk
    os.close(controller)
    stdout = process.stdout.read().decode()
    assert process.wait() == 0
    assert stdout == f"{proxy.address}/app/tty@{image.digest}\n"
    text = output.decode()
    assert "\x1b[J" in text, "live mode redraws its area"
    # The area: a count line, then a line per transfer in flight with its rate.
    assert re.search(r"sematic-push: \d+/4 blobs \((none done yet|\d+ [a-z]+(, \d+ [a-z]+)*)\), \d+ in flight", text), text
    assert re.search(r"\n  app/tty [0-9a-f]{12}  [\d.]+ [KMG]?i?B / [\d.]+ [KMG]?i?B  [\d.]+ [KMG]?i?B/s", text.replace("\r", "")), text
    lines = [l for l in text.replace("\r", "").splitlines() if l.strip()]
    assert lines[-1].startswith("sematic-push: summary: uploaded=4 ")


def test_loopback_registries_bypass_the_environment_proxy(tools, registry, tmp_path):
    image = write_layout(tmp_path / "img", [layer({"p": b"p"})])
    dead_proxy = "http://127.0.0.1:9"
    result = tools.push(image.layout, f"{registry.host}/app/proxied", "--tag", "t",
                        env={"HTTP_PROXY": dead_proxy, "HTTPS_PROXY": dead_proxy, "ALL_PROXY": dead_proxy,
                             "http_proxy": dead_proxy, "https_proxy": dead_proxy})
    assert result.returncode == 0, result.stderr
    assert registry.tags("app/proxied") == ["t"]


def test_docker_schema2_images_keep_their_bytes_and_media_type(tools, registry, tmp_path):
    from harness.images import DOCKER_MANIFEST

    image = write_layout(tmp_path / "img", [random_layer(30_000, 7), layer({"d": b"d"})],
                         media_type=DOCKER_MANIFEST)
    result = tools.push(image.layout, f"{registry.host}/app/docker", "--tag", "t")
    assert result.returncode == 0, result.stderr
    status, headers, body = registry.request("GET", "/v2/app/docker/manifests/t",
                                             headers={"Accept": DOCKER_MANIFEST})
    assert status == 200 and body == image.manifest
    assert headers["Content-Type"] == DOCKER_MANIFEST
    pulled = tmp_path / "pulled"
    result = tools.run("sematic-pull", "--image", f"{registry.host}/app/docker@{image.digest}",
                       "--output", pulled, "--layers", "all")
    assert result.returncode == 0, result.stderr
    assert tools.push(pulled, f"{registry.host}/app/docker-copy").stdout.strip().endswith(image.digest)


def test_a_repository_without_registry_is_in_the_targets_registry(tools, registry, tmp_path):
    image = write_layout(tmp_path / "img", [layer({"r": b"r"})])
    # What a push target passes, then what a user adds after `--`.
    result = tools.push(image.layout, f"{registry.host}/default/repo", "--registry", registry.host,
                        "--repository", "other/repo", "--tag", "t")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{registry.host}/other/repo@{image.digest}\n"
    assert registry.tags("other/repo") == ["t"]
    # Without a registry to fall back on, such a repository is refused, not sent to Docker Hub.
    result = tools.push(image.layout, "other/repo")
    line = assert_one_line_error(result, "sematic-push")
    assert line == ('sematic-push: error: --repository "other/repo" names no registry: write '
                    "REGISTRY/other/repo (docker.io/other/repo for Docker Hub)")


def test_a_second_repository_of_the_same_push_mounts_every_blob(tools, registry, tmp_path):
    image = write_layout(tmp_path / "img", [random_layer(300_000, seed) for seed in range(3)])
    mark = len(registry.access_log())
    result = tools.push(image.layout, f"{registry.host}/team/app", "--tag", "v1",
                        "--also-repository", "release/app", "--registry", registry.host)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [f"{registry.host}/team/app@{image.digest}",
                                          f"{registry.host}/release/app@{image.digest}"]
    first, second = parse_summaries(result.stderr)
    assert (first["uploaded"], first["mounted"]) == (4, 0)
    assert (second["uploaded"], second["bytes"], second["mounted"]) == (0, 0, 4)
    assert (second["manifest"], second["tags"]) == ("pushed", ["v1"])
    # Each blob crossed the network once; the registry serves both repositories.
    uploads = [a.path.split("digest=")[1] for a in registry.blob_uploads(mark)]
    assert sorted(uploads) == sorted([image.config_digest] + [l.digest for l in image.layers])
    for repository in ("team/app", "release/app"):
        assert registry.manifest_digest(repository, "v1") == image.digest


def test_a_registry_refusing_mounts_gets_the_other_repositories_uploaded(tools, registry, make_proxy, tmp_path):
    image = write_layout(tmp_path / "img", [random_layer(100_000, seed) for seed in range(2)])
    proxy = make_proxy(registry.host, script=[(lambda method, path: method == "POST" and "mount=" in path,
                                               "403", None)])
    result = tools.push(image.layout, f"{proxy.address}/team/app", "--tag", "v1",
                        "--also-repository", f"{proxy.address}/release/app")
    assert result.returncode == 0, result.stderr
    first, second = parse_summaries(result.stderr)
    assert (first["uploaded"], second["uploaded"], second["mounted"]) == (3, 3, 0)
    refused = [l for l in result.stderr.splitlines() if "was refused" in l and "transferring it" in l]
    assert len(refused) == 3, result.stderr
    assert registry.manifest_digest("release/app", "v1") == image.digest
