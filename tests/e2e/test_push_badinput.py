"""Bad inputs to sematic-push / sematic-pull: each is one error line and a non-zero exit."""

import json
import re

import pytest

from harness.fixtures import assert_one_line_error
from harness.images import OCI_INDEX, layer, random_layer, write_layout


@pytest.fixture
def image(tmp_path):
    return write_layout(tmp_path / "img", [random_layer(20_000, 1), layer({"a": b"a"})])


@pytest.mark.parametrize("repository,needle", [
    ("{host}/App/x", "invalid"),
    ("{host}/app//x", "invalid"),
    ("{host}/app/x:tag", "without a tag"),
    ("{host}/app/x@sha256:abc", "sha256"),
    ("bad_host.example/x", "not a valid host"),
])
def test_invalid_repositories(tools, registry, image, repository, needle):
    result = tools.push(image.layout, repository.format(host=registry.host))
    assert_one_line_error(result, "sematic-push", needle)


@pytest.mark.parametrize("tag", ["-bad", ".hidden", "a" * 129, "has space", "a::b"])
def test_invalid_tags(tools, registry, image, tag):
    result = tools.push(image.layout, f"{registry.host}/app/x", "--tag", tag)
    assert_one_line_error(result, "sematic-push", "tag")
    assert registry.tags("app/x") == []


def test_missing_layout(tools, registry, tmp_path):
    result = tools.push(tmp_path / "nowhere", f"{registry.host}/app/x")
    assert_one_line_error(result, "sematic-push", "is not an OCI image layout")


def test_unknown_manifest_media_type(tools, registry, tmp_path):
    image = write_layout(tmp_path / "odd", [layer({"a": b"a"})], media_type="application/vnd.example.thing+json")
    result = tools.push(image.layout, f"{registry.host}/app/x")
    assert_one_line_error(result, "sematic-push", "unsupported manifest media type",
                          "application/vnd.example.thing+json")


def test_corrupt_layer_is_refused_by_size(tools, registry, image):
    blob = image.layout / "blobs" / "sha256" / image.layers[0].digest[7:]
    blob.write_bytes(blob.read_bytes()[:-1])
    result = tools.push(image.layout, f"{registry.host}/app/x", "--tag", "t")
    assert_one_line_error(result, "sematic-push", image.layers[0].digest[7:], "bytes")
    assert registry.tags("app/x") == []


def test_tampered_layer_of_the_right_size_is_never_tagged(tools, registry, image):
    blob = image.layout / "blobs" / "sha256" / image.layers[0].digest[7:]
    data = bytearray(blob.read_bytes())
    data[100] ^= 0xFF
    blob.write_bytes(bytes(data))
    result = tools.push(image.layout, f"{registry.host}/app/x", "--tag", "t")
    assert_one_line_error(result, "sematic-push", image.layers[0].digest, "hashes to")
    assert registry.tags("app/x") == []


def push_ok(tools, registry, image, repository="base/img"):
    result = tools.push(image.layout, f"{registry.host}/{repository}", "--tag", "v1")
    assert result.returncode == 0, result.stderr


def test_pull_requires_a_digest_and_names_the_current_one(tools, registry, image, tmp_path):
    push_ok(tools, registry, image)
    result = tools.run("sematic-pull", "--image", f"{registry.host}/base/img:v1", "--output", tmp_path / "o")
    line = assert_one_line_error(result, "sematic-pull", "not pinned by digest", image.digest)
    assert f"{registry.host}/base/img@{image.digest}" in line
    assert not (tmp_path / "o").exists()


def test_pull_detects_a_lying_registry(tools, registry, make_proxy, image, tmp_path):
    push_ok(tools, registry, image)

    def lie(method, path, status, body):
        if method == "GET" and "/manifests/" in path and status == 200:
            return body.replace(b'"schemaVersion":2', b'"schemaVersion": 2')
        return body

    proxy = make_proxy(registry.host, rewrite=lie)
    result = tools.run("sematic-pull", "--image", f"{proxy.address}/base/img@{image.digest}",
                       "--output", tmp_path / "o", "--timeout", "5")
    assert_one_line_error(result, "sematic-pull", image.digest, "hashing to")
    assert not (tmp_path / "o").exists()


def test_pull_detects_a_corrupted_layer(tools, registry, make_proxy, image, tmp_path):
    push_ok(tools, registry, image)
    target = image.layers[0].digest

    def corrupt(method, path, status, body):
        if method == "GET" and path.endswith(f"/blobs/{target}") and status == 200:
            return body[:-1] + bytes([body[-1] ^ 1])
        return body

    proxy = make_proxy(registry.host, rewrite=corrupt)
    result = tools.run("sematic-pull", "--image", f"{proxy.address}/base/img@{image.digest}",
                       "--output", tmp_path / "o", "--layers", "all")
    assert_one_line_error(result, "sematic-pull", target, "hashing to")
    assert not (tmp_path / "o").exists()
    assert not list(tmp_path.glob(".*"))


def test_pull_of_an_unknown_repository_or_platform(tools, registry, image, tmp_path):
    push_ok(tools, registry, image)
    result = tools.run("sematic-pull", "--image", f"{registry.host}/no/such@{image.digest}",
                       "--output", tmp_path / "o")
    assert_one_line_error(result, "sematic-pull", "404")
    result = tools.run("sematic-pull", "--image", f"{registry.host}/base/img@{image.digest}",
                       "--output", tmp_path / "o", "--platform", "linux/arm64")
    assert_one_line_error(result, "sematic-pull", "linux/amd64", "not linux/arm64")


def test_pull_chooses_the_platform_from_an_index(tools, registry, image, tmp_path):
    push_ok(tools, registry, image)
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": image.digest,
         "size": len(image.manifest), "platform": {"os": "linux", "architecture": "amd64"}}]}).encode()
    registry.put_manifest("base/img", "multi", index, OCI_INDEX)
    digest = registry.manifest_digest("base/img", "multi")
    result = tools.run("sematic-pull", "--image", f"{registry.host}/base/img@{digest}",
                       "--output", tmp_path / "o")
    assert result.returncode == 0, result.stderr
    entry = json.loads((tmp_path / "o" / "index.json").read_text())["manifests"][0]
    assert (entry["digest"], entry["mediaType"]) == (digest, OCI_INDEX)
    assert (tmp_path / "o" / "blobs" / "sha256" / image.digest[7:]).exists()
    result = tools.run("sematic-pull", "--image", f"{registry.host}/base/img@{digest}",
                       "--output", tmp_path / "o2", "--platform", "linux/arm64")
    assert_one_line_error(result, "sematic-pull", "linux/arm64", "offers: linux/amd64")


def test_usage_errors_are_one_line_and_help_documents_every_flag(tools):
    result = tools.run("sematic-push")
    assert_one_line_error(result, "sematic-push", "--layout", "--repository")
    for program in ("sematic-push", "sematic-pull", "sematic-launch"):
        help_text = tools.run(program, "--help").stdout.split("Options:", 1)[1]
        flags = set(re.findall(r"^\s+(--[a-z-]+)", help_text, re.M))
        assert len(flags) >= 5, help_text
        for flag in flags:
            block = help_text.split(flag, 1)[1].split("\n\n", 1)[0]
            assert len(block.strip()) > 20, f"{program} {flag} is undocumented"
