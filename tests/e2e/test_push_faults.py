"""Pushing through a fault-injecting proxy: every push either ends with the right digest in
the registry or fails with one clear line and nothing tagged."""

import random
import time

import pytest

from harness.credentials import PASSWORD, USER, assert_no_secrets, b64, basic_auths, docker_config
from harness.fixtures import assert_one_line_error, parse_summary, skopeo_copy_back
from harness.images import Layer, random_layer, sha256, write_layout


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


def test_a_blob_that_never_uploads_fails_cleanly_with_nothing_tagged(tools, registry, make_proxy, image):
    layer = image.layers[3].digest
    proxy = make_proxy(registry.host, script=[(uploads_of(layer), "500", None)])
    result = tools.push(image.layout, f"{proxy.address}/app/broken", "--tag", "t", timeout=300)
    assert_one_line_error(result, "sematic-push", proxy.address, "app/broken", layer,
                          "HTTP 500", "injected 500", "giving up after")
    assert result.stdout == ""
    assert not [r for r in proxy.log if "/manifests/" in r.path and r.method == "PUT"]
    assert registry.tags("app/broken") == []


def test_a_manifest_that_never_uploads_fails_cleanly_with_nothing_tagged(tools, registry, make_proxy, image):
    def manifest_put(method, path):
        return method == "PUT" and "/manifests/sha256:" in path

    proxy = make_proxy(registry.host, script=[(manifest_put, "502", None)])
    result = tools.push(image.layout, f"{proxy.address}/app/nomanifest", "--tag", "t")
    assert_one_line_error(result, "sematic-push", "app/nomanifest", image.digest, "HTTP 502")
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
