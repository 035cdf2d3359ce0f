"""Pushing through a fault-injecting proxy: every push either ends with the right digest in
the registry or fails with one clear line and nothing tagged; at fault rates up to 30 % every
push succeeds. Uploads run in parallel (--jobs, and across a launch's keys), and memory stays
flat whatever the blob size (or a credential helper's output); a corrupt local blob is sent
once."""

import hashlib
import os
import random
import subprocess
import time

import pytest

from harness.credentials import (PASSWORD, USER, assert_no_secrets, b64, basic_auths, docker_config,
                                 docker_helper)
from harness.fixtures import assert_one_line_error, parse_summary, require, skopeo_copy_back
from harness.images import FileLayer, Layer, layer, random_layer, sha256, write_layout


@pytest.fixture
def image(tmp_path):
    return write_layout(tmp_path / "img", [random_layer(150_000 * (i + 1), i) for i in range(5)])


def uploads_of(digest):
    return lambda method, path: method == "PUT" and "/blobs/uploads/" in path and digest in path


@pytest.mark.parametrize("rate,seed", [(0.1, 1), (0.1, 2), (0.3, 3), (0.3, 4), (0.5, 5), (0.5, 6)])
def test_random_faults_end_in_the_right_digest_or_a_clean_failure(
        tools, make_registry, make_proxy, image, tmp_path, rate, seed):
    # Authenticated, so that every retry, error and summary line is checked for the secret.
    registry = make_registry(htpasswd=f"{USER}:{PASSWORD}")
    proxy = make_proxy(registry.host, rate=rate, seed=seed, stall_seconds=3)
    docker_config(tools, basic_auths(proxy.address))
    result = tools.push(image.layout, f"{proxy.address}/app/faulty", "--tag", "t",
                        "--timeout", "2", "--jobs", "3", timeout=600)
    assert proxy.faults_injected(), "the proxy injected nothing: raise the rate"
    assert_no_secrets(result, PASSWORD, b64(f"{USER}:{PASSWORD}"))
    # Up to 30 % of requests failing, retries must get every push through; beyond, a push may
    # give up, but only cleanly.
    if rate <= 0.3:
        assert result.returncode == 0, result.stderr
    if result.returncode == 0:
        assert result.stdout == f"{proxy.address}/app/faulty@{image.digest}\n"
        assert registry.manifest_digest("app/faulty", "t") == image.digest
        assert skopeo_copy_back(registry.host, "app/faulty:t", tmp_path / "copy",
                                "--src-creds", f"{USER}:{PASSWORD}") == image.digest
    else:
        assert_one_line_error(result, "sematic-push", proxy.address, "app/faulty")
        assert "t" not in registry.tags("app/faulty")


def test_retry_after_is_honoured(tools, registry, make_proxy, image):
    layer = image.layers[0].digest
    proxy = make_proxy(registry.host, retry_after="2", script=[(uploads_of(layer), "429")])
    result = tools.push(image.layout, f"{proxy.address}/app/slow", "--tag", "t", "--jobs", "1")
    assert result.returncode == 0, result.stderr
    refused = next(r for r in proxy.log if r.fault == "429")
    after = [r for r in proxy.log if r.time > refused.time]
    assert after and after[0].time - refused.time >= 1.9


def test_a_stalled_upload_times_out_and_is_retried(tools, registry, make_proxy, image):
    layer = image.layers[1].digest
    proxy = make_proxy(registry.host, stall_seconds=60, script=[(uploads_of(layer), "stall")])
    started = time.monotonic()
    result = tools.push(image.layout, f"{proxy.address}/app/stall", "--tag", "t", "--timeout", "2")
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 30
    assert registry.manifest_digest("app/stall", "t") == image.digest


def test_a_response_lost_after_the_upload_completed_is_not_uploaded_twice(tools, registry, make_proxy, image):
    layer = image.layers[2].digest
    proxy = make_proxy(registry.host, script=[(uploads_of(layer), "reset-after")])
    result = tools.push(image.layout, f"{proxy.address}/app/lost", "--tag", "t", "--jobs", "1")
    assert result.returncode == 0, result.stderr
    # The retry first asks whether the blob arrived, and it had.
    puts = [r for r in proxy.log if uploads_of(layer)(r.method, r.path)]
    assert len(puts) == 1
    assert registry.manifest_digest("app/lost", "t") == image.digest


def test_monolithic_refusal_falls_back_to_chunked_upload(tools, registry, make_proxy, image):
    proxy = make_proxy(registry.host, reject_put_bodies_over=100_000)
    result = tools.push(image.layout, f"{proxy.address}/app/chunked", "--tag", "t")
    assert result.returncode == 0, result.stderr
    patches = [r for r in proxy.log if r.method == "PATCH" and r.status == 202]
    assert len(patches) == 5
    assert registry.manifest_digest("app/chunked", "t") == image.digest
    assert parse_summary(result.stderr)["uploaded"] == 6


def test_a_registry_restarting_mid_push_is_waited_for(tools, registry, make_proxy, image):
    """Refused connections from a registry that has answered are a restart, not a typo: each
    request keeps its eight backed-off attempts (at least 3 s in all) and the push completes."""
    proxy = make_proxy(registry.host, down_seconds=2, script=[(uploads_of(image.layers[2].digest), "down")])
    result = tools.push(image.layout, f"{proxy.address}/app/restarted", "--tag", "t", "--jobs", "2")
    assert [r.fault for r in proxy.faults_injected()] == ["down"]
    assert result.returncode == 0, result.stderr
    assert "Connection refused" in result.stderr, result.stderr
    assert registry.manifest_digest("app/restarted", "t") == image.digest


def test_a_blob_that_never_uploads_fails_cleanly_with_nothing_tagged(tools, registry, make_proxy, image):
    layer = image.layers[3].digest
    proxy = make_proxy(registry.host, script=[(uploads_of(layer), "500", None)])
    result = tools.push(image.layout, f"{proxy.address}/app/broken", "--tag", "t", timeout=300)
    line = assert_one_line_error(result, "sematic-push")
    assert line == (f"sematic-push: error: pushing blob {layer} to {proxy.address}/app/broken: giving up after 8 "
                    "attempts: HTTP 500 Internal Server Error (UNKNOWN: injected 500)")
    assert result.stdout == ""
    assert not [r for r in proxy.log if "/manifests/" in r.path and r.method == "PUT"]
    assert registry.tags("app/broken") == []


def test_a_manifest_that_never_uploads_fails_cleanly_with_nothing_tagged(tools, registry, make_proxy, image):
    def manifest_put(method, path):
        return method == "PUT" and "/manifests/sha256:" in path

    proxy = make_proxy(registry.host, script=[(manifest_put, "502", None)])
    result = tools.push(image.layout, f"{proxy.address}/app/nomanifest", "--tag", "t")
    line = assert_one_line_error(result, "sematic-push")
    assert line == (f"sematic-push: error: pushing manifest {image.digest} to {proxy.address}/app/nomanifest: "
                    "giving up after 8 attempts: HTTP 502 Bad Gateway (UNKNOWN: injected 502)")
    assert registry.tags("app/nomanifest") == []


def test_an_upload_cut_midway_resumes_from_what_the_registry_holds(tools, registry, make_proxy, tmp_path):
    size = 200 << 20
    data = random.Random(7).randbytes(size)
    # Any bytes make a blob the registry stores; a gzip layer of this size would only be slower.
    image = write_layout(tmp_path / "big", [Layer(data, sha256(data))])
    patches = []

    def seventh_patch(method, path):
        patches.extend([path] if method == "PATCH" else [])
        return len(patches) == 7 and method == "PATCH"

    proxy = make_proxy(registry.host, script=[(seventh_patch, "cut")])
    result = tools.push(image.layout, f"{proxy.address}/app/big", "--tag", "t", "--jobs", "1")
    assert result.returncode == 0, result.stderr
    assert registry.manifest_digest("app/big", "t") == image.digest
    [cut] = [r for r in proxy.log if r.fault == "cut"]
    uploads = [r for r in proxy.log if r.method in ("PATCH", "PUT") and "/blobs/uploads/" in r.path]
    sent = sum(r.body_length for r in uploads)
    assert size < sent <= 1.1 * size, f"{sent} bytes sent for a {size}-byte blob"
    # After the cut: the upload's status (six chunks held), then the rest of the blob.
    after = proxy.log[proxy.log.index(cut) + 1:]
    assert [(r.method, r.status) for r in after if "/blobs/uploads/" in r.path][0] == ("GET", 204)
    resent = sum(r.body_length for r in after if r.method == "PATCH")
    assert resent == size - 6 * (16 << 20)


def overlapping(records) -> bool:
    """Whether two of the requests were in flight at the same time."""
    spans = sorted((r.started, r.time) for r in records)
    return any(later_start < earlier_end for (_, earlier_end), (later_start, _) in zip(spans, spans[1:]))


def upload_puts(proxy):
    return [r for r in proxy.log if r.method == "PUT" and "/blobs/uploads/" in r.path]


@pytest.mark.parametrize("jobs,overlap", [(1, False), (3, True)])
def test_uploads_run_in_parallel_with_jobs(tools, registry, make_proxy, image, jobs, overlap):
    # Each request takes 0.3 s at the proxy, long enough for parallel ones to meet.
    proxy = make_proxy(registry.host, delay=0.3)
    result = tools.push(image.layout, f"{proxy.address}/app/parallel", "--jobs", jobs)
    assert result.returncode == 0, result.stderr
    puts = upload_puts(proxy)
    assert len(puts) == 6
    assert overlapping(puts) == overlap


def test_the_keys_of_a_launch_upload_in_parallel(tools, registry, make_proxy, tmp_path):
    from harness.launch import launch, make_runfiles

    proxy = make_proxy(registry.host, delay=0.3)
    images = {"default": [random_layer(20_000, 11)], "cuda": [random_layer(20_000, 12)]}
    runfiles, _ = make_runfiles(tmp_path, images, {"default": f"{proxy.address}/sematic/a",
                                                   "cuda": f"{proxy.address}/sematic/b"})
    result, dumped, _ = launch(tools, runfiles, tmp_path, "--jobs", "4")
    assert result.returncode == 0, result.stderr
    first = [r for r in upload_puts(proxy) if "/sematic/a/" in r.path]
    second = [r for r in upload_puts(proxy) if "/sematic/b/" in r.path]
    assert first and second
    assert any(overlapping([a, b]) for a in first for b in second)


def peak_rss_mb(stderr: str) -> float:
    """The peak resident set size /usr/bin/time -v reported, in MB."""
    line = next(l for l in stderr.splitlines() if "Maximum resident set size" in l)
    return int(line.rsplit(":", 1)[1]) / 1024


def test_memory_stays_flat_pushing_and_streaming_a_gigabyte(tools, make_registry, tmp_path):
    require("/usr/bin/time")
    first, second = make_registry(), make_registry()
    # One 1 GiB blob, written in pieces so this test stays small too.
    digest, path = hashlib.sha256(), tmp_path / "big.blob"
    with path.open("wb") as out:
        for _ in range(128):
            piece = os.urandom(8 << 20)
            out.write(piece)
            digest.update(piece)
    blob_digest = "sha256:" + digest.hexdigest()
    big = FileLayer(path, blob_digest, path.stat().st_size, blob_digest)
    image = write_layout(tmp_path / "big", [big])
    timed = ["/usr/bin/time", "-v", str(tools.path("sematic-push")), "--progress", "quiet"]
    result = subprocess.run(timed + ["--layout", image.layout, "--repository", f"{first.host}/big/x"],
                            capture_output=True, text=True, env=tools.env, timeout=600)
    assert result.returncode == 0, result.stderr
    assert peak_rss_mb(result.stderr) <= 64

    # The same blob streamed from the first registry to the second, never touching disk.
    app = write_layout(tmp_path / "app", [layer({"a": b"a"})], base=image, source=f"{first.host}/big/x")
    result = subprocess.run(timed + ["--layout", app.layout, "--repository", f"{second.host}/big/y"],
                            capture_output=True, text=True, env=tools.env, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "streamed=1" in result.stderr
    assert peak_rss_mb(result.stderr) <= 64


def test_an_endless_credential_helper_is_stopped_within_a_few_mib(tools, make_registry, tmp_path):
    require("/usr/bin/time")
    registry = make_registry(htpasswd=f"{USER}:{PASSWORD}")  # asks for credentials
    image = write_layout(tmp_path / "img", [layer({"a": b"a"})])
    env = dict(tools.env, **docker_helper(tmp_path, "endless", "exec yes\n"))
    docker_config(tools, {"credHelpers": {registry.host: "endless"}})
    timed = ["/usr/bin/time", "-v", str(tools.path("sematic-push")), "--progress", "quiet"]
    result = subprocess.run(timed + ["--layout", image.layout, "--repository", f"{registry.host}/app/x"],
                            capture_output=True, text=True, env=env, timeout=60)
    assert_one_line_error(result, "sematic-push", "credential helper docker-credential-endless",
                          "printed more than 1 MiB on stdout; it was stopped")
    assert peak_rss_mb(result.stderr) <= 12  # about 6 MB without the helper


def test_a_corrupt_local_blob_of_70_mib_is_sent_once_and_named(tools, registry, tmp_path):
    # The file holds other bytes than its digest names (a disk error, a tampered cache): past
    # 64 MiB it goes in chunks, and the last chunk is held back once the hash is known wrong.
    content = bytearray(os.urandom(70 << 20))
    claimed = sha256(bytes(content))
    content[12345] ^= 1
    path = tmp_path / "big.blob"
    path.write_bytes(content)
    image = write_layout(tmp_path / "img", [FileLayer(path, claimed, len(content), claimed)])
    mark = len(registry.access_log())
    result = tools.push(image.layout, f"{registry.host}/app/corrupt", "--jobs", "1")
    local = image.layout / "blobs" / "sha256" / claimed[7:]
    assert_one_line_error(result, "sematic-push",
                          f"the local blob {local} hashes to {sha256(bytes(content))}, not {claimed}")
    assert "retry" not in result.stderr
    sessions = [a for a in registry.access_log()[mark:] if a.method == "POST"]
    completed = [a.path for a in registry.blob_uploads(mark)]
    # The big blob's, once: blobs go largest first, and its failure leaves the image's config
    # unsent.
    assert len(sessions) == 1, sessions
    assert not any(claimed in p for p in completed)
    assert registry.tags("app/corrupt") == []
