"""Bad inputs to sematic-push / sematic-pull: each is one error line and a non-zero exit."""

import hashlib
import json
import re

import pytest

from harness.fixtures import assert_one_line_error
from harness.images import OCI_INDEX, layer, random_layer, write_layout


@pytest.fixture
def image(tmp_path):
    return write_layout(tmp_path / "img", [random_layer(20_000, 1), layer({"a": b"a"})])


REPOSITORY_COMPONENT = "is invalid: use lowercase letters and digits, separated by '.', '_', '__' or '-'"


@pytest.mark.parametrize("repository,message", [
    ("{host}/App/x", 'invalid image reference "{host}/App/x": repository component "App" ' + REPOSITORY_COMPONENT),
    ("{host}/app//x", 'invalid image reference "{host}/app//x": repository component "" ' + REPOSITORY_COMPONENT),
    ("{host}/app/x:tag", 'invalid repository "{host}/app/x:tag": give registry/repository without a tag or digest'),
    ("{host}/app/x@sha256:abc", 'invalid image reference "{host}/app/x@sha256:abc": invalid digest "sha256:abc": '
                                "expected sha256:<64 lowercase hex characters>"),
    ("bad_host.example/x", 'invalid image reference "bad_host.example/x": registry "bad_host.example" is not a valid '
                           "host[:port]"),
])
def test_invalid_repositories(tools, registry, image, repository, message):
    result = tools.push(image.layout, repository.format(host=registry.host))
    line = assert_one_line_error(result, "sematic-push")
    assert line == "sematic-push: error: " + message.format(host=registry.host)


@pytest.mark.parametrize("host", ["127.1", "2130706433"])
def test_shorthand_ipv4_registries_are_refused_naming_the_address(tools, registry, image, host):
    port = registry.host.rsplit(":", 1)[1]
    result = tools.push(image.layout, f"{host}:{port}/app/x")
    assert_one_line_error(result, "sematic-push", f"registry host {host} is the IPv4 address 127.0.0.1 in a "
                          "shorthand form", "write 127.0.0.1")
    assert result.stdout == ""


def test_an_invalid_also_repository_is_refused_before_anything_is_pushed(tools, registry, image):
    mark = len(registry.access_log())
    result = tools.push(image.layout, f"{registry.host}/app/x", "--also-repository", f"{registry.host}/App")
    assert_one_line_error(result, "sematic-push", f'"{registry.host}/App"', 'repository component "App"')
    assert registry.access_log()[mark:] == []


@pytest.mark.parametrize("tag", ["-bad", ".hidden", "a" * 129, "has space", "a::b"])
def test_invalid_tags(tools, registry, image, tag):
    result = tools.push(image.layout, f"{registry.host}/app/x", "--tag", tag)
    line = assert_one_line_error(result, "sematic-push")
    assert line == (f"sematic-push: error: tag {json.dumps(tag)} is invalid: use up to 128 of A-Z a-z 0-9 _ . - "
                    "(not starting with . or -)")
    assert registry.tags("app/x") == []


def test_missing_layout(tools, registry, tmp_path):
    layout = tmp_path / "nowhere"
    result = tools.push(layout, f"{registry.host}/app/x")
    line = assert_one_line_error(result, "sematic-push")
    assert line == (f"sematic-push: error: preparing {layout} for push: {layout} is not an OCI image layout "
                    "(no oci-layout and index.json): point at a directory written by an image rule or "
                    "`skopeo copy … oci:DIR`")


def test_unknown_manifest_media_type(tools, registry, tmp_path):
    image = write_layout(tmp_path / "odd", [layer({"a": b"a"})], media_type="application/vnd.example.thing+json")
    result = tools.push(image.layout, f"{registry.host}/app/x")
    line = assert_one_line_error(result, "sematic-push")
    assert line == (f"sematic-push: error: preparing {image.layout} for push: the index.json entry of "
                    f"{image.layout}: unsupported manifest media type \"application/vnd.example.thing+json\": "
                    "expected an OCI or Docker v2 schema 2 image manifest or index")


def test_corrupt_layer_is_refused_by_size(tools, registry, image):
    blob = image.layout / "blobs" / "sha256" / image.layers[0].digest[7:]
    blob.write_bytes(blob.read_bytes()[:-1])
    result = tools.push(image.layout, f"{registry.host}/app/x", "--tag", "t")
    line = assert_one_line_error(result, "sematic-push")
    size = len(image.layers[0].blob)
    assert line == (f"sematic-push: error: preparing {image.layout} for push: {blob} has {size - 1} bytes but "
                    f"the manifest says {size}")
    assert registry.tags("app/x") == []


def test_tampered_layer_of_the_right_size_is_never_tagged(tools, registry, image):
    blob = image.layout / "blobs" / "sha256" / image.layers[0].digest[7:]
    data = bytearray(blob.read_bytes())
    data[100] ^= 0xFF
    blob.write_bytes(bytes(data))
    result = tools.push(image.layout, f"{registry.host}/app/x", "--tag", "t")
    line = assert_one_line_error(result, "sematic-push")
    actual = "sha256:" + hashlib.sha256(bytes(data)).hexdigest()
    assert line == (f"sematic-push: error: pushing blob {image.layers[0].digest} to {registry.host}/app/x: the "
                    f"local blob {blob} hashes to {actual}, not {image.layers[0].digest}")
    assert registry.tags("app/x") == []


def push_ok(tools, registry, image, repository="base/img"):
    result = tools.push(image.layout, f"{registry.host}/{repository}", "--tag", "v1")
    assert result.returncode == 0, result.stderr


def test_pull_requires_a_digest_and_names_the_current_one(tools, registry, image, tmp_path):
    push_ok(tools, registry, image)
    result = tools.run("sematic-pull", "--image", f"{registry.host}/base/img:v1", "--output", tmp_path / "o")
    line = assert_one_line_error(result, "sematic-pull")
    assert line == (f"sematic-pull: error: {registry.host}/base/img:v1 is not pinned by digest: pin it as "
                    f"{registry.host}/base/img@{image.digest} (what tag v1 resolves to now)")
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
    line = assert_one_line_error(result, "sematic-pull")
    lied = "sha256:" + hashlib.sha256(image.manifest.replace(b'"schemaVersion":2', b'"schemaVersion": 2')).hexdigest()
    assert line == (f"sematic-pull: error: fetching manifest {proxy.address}/base/img@{image.digest}: giving up "
                    f"after 8 attempts: the registry sent a manifest hashing to {lied}, not {image.digest}")
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
    line = assert_one_line_error(result, "sematic-pull")
    blob = image.layers[0].blob
    corrupted = "sha256:" + hashlib.sha256(blob[:-1] + bytes([blob[-1] ^ 1])).hexdigest()
    assert line == (f"sematic-pull: error: downloading blob {target} from {proxy.address}/base/img: giving up "
                    f"after 8 attempts: the registry sent {len(blob)} bytes hashing to {corrupted}, expected "
                    f"{len(blob)} bytes with digest {target}")
    assert not (tmp_path / "o").exists()
    assert not list(tmp_path.glob(".*"))


def test_pull_of_an_unknown_repository_or_platform(tools, registry, image, tmp_path):
    push_ok(tools, registry, image)
    result = tools.run("sematic-pull", "--image", f"{registry.host}/no/such@{image.digest}",
                       "--output", tmp_path / "o")
    line = assert_one_line_error(result, "sematic-pull")
    assert line == (f"sematic-pull: error: fetching manifest {registry.host}/no/such@{image.digest}: HTTP 404 "
                    "Not Found (MANIFEST_UNKNOWN: manifest unknown)")
    result = tools.run("sematic-pull", "--image", f"{registry.host}/base/img@{image.digest}",
                       "--output", tmp_path / "o", "--platform", "linux/arm64")
    line = assert_one_line_error(result, "sematic-pull")
    assert line == (f"sematic-pull: error: {registry.host}/base/img@{image.digest} is an image for linux/amd64, "
                    "not linux/arm64")


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
    line = assert_one_line_error(result, "sematic-pull")
    assert line == (f"sematic-pull: error: image index {registry.host}/base/img@{digest}: has no image for "
                    "platform linux/arm64; it offers: linux/amd64")


def test_usage_errors_are_one_line_and_help_documents_every_flag(tools):
    result = tools.run("sematic-push")
    line = assert_one_line_error(result, "sematic-push")
    assert line == ("sematic-push: error: the following required arguments were not provided: --layout <DIR> "
                    "--repository <REGISTRY/REPO> (see --help)")
    assert result.returncode == 2
    for program in ("sematic-push", "sematic-pull", "sematic-launch"):
        help_text = tools.run(program, "--help").stdout.split("Options:", 1)[1]
        flags = set(re.findall(r"^\s+(--[a-z-]+)", help_text, re.M))
        assert len(flags) >= 5, help_text
        for flag in flags:
            # The flag's own entry: its line, then its description up to the next blank line.
            entry = re.search(rf"^\s+{flag}\b[^\n]*\n(.*?)(\n\n|$)", help_text, re.M | re.S)
            assert entry and len(entry.group(1).strip()) > 20, f"{program} {flag} is undocumented"
