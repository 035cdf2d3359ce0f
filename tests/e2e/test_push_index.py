"""Multi-platform images: a layout holding an image index is pushed image by image, then the
index, then the tags; shallow ones take the base layers of every platform from their source;
sematic-pull fetches several platforms of an index; sematic-launch hands out the index digest."""

import json
import subprocess

from harness.fixtures import assert_one_line_error, parse_summary, require, skopeo_copy_back
from harness.images import (
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    OCI_INDEX,
    SOURCE_ANNOTATION,
    blob_path,
    layer,
    random_layer,
    sha256,
    write_index_layout,
)
from harness.launch import launch, make_runfiles

AMD64, ARM64 = "linux/amd64", "linux/arm64"


def two_platforms(layout, **options):
    """amd64 and arm64 images sharing their first layer."""
    shared = random_layer(100_000, 1)
    return write_index_layout(layout, {
        AMD64: [shared, layer({"arch.txt": b"amd64\n"})],
        ARM64: [shared, layer({"arch.txt": b"arm64\n"})],
    }, **options)


def test_index_goes_after_its_images_and_copies_back_per_platform(tools, registry, tmp_path):
    index = two_platforms(tmp_path / "multi")
    mark = len(registry.access_log())
    result = tools.push(index.layout, f"{registry.host}/app/multi", "--tag", "t")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{registry.host}/app/multi@{index.digest}\n"
    summary = parse_summary(result.stderr)
    # The shared layer once, the two other layers, the two configs.
    assert (summary["uploaded"], summary["existed"], summary["manifest"]) == (5, 0, "pushed")

    log = registry.access_log()[mark:]
    manifest_puts = [i for i, a in enumerate(log) if a.method == "PUT" and "/manifests/" in a.path]
    assert [log[i].path for i in manifest_puts] == [
        f"/v2/app/multi/manifests/{index.images[AMD64].digest}",
        f"/v2/app/multi/manifests/{index.images[ARM64].digest}",
        f"/v2/app/multi/manifests/{index.digest}",
        "/v2/app/multi/manifests/t",
    ]
    last_blob = max(i for i, a in enumerate(log) if "/blobs/uploads/" in a.path)
    assert last_blob < manifest_puts[0]

    require("skopeo")
    raw = subprocess.run(["skopeo", "inspect", "--raw", "--tls-verify=false",
                          f"docker://{registry.host}/app/multi:t"], check=True, capture_output=True).stdout
    assert raw == index.index
    copy = tmp_path / "arm64"
    arm64 = index.images[ARM64]
    assert skopeo_copy_back(registry.host, "app/multi:t", copy, "--override-arch", "arm64") == arm64.digest
    for blob in [arm64.config] + [l.blob for l in arm64.layers]:
        assert blob_path(copy, sha256(blob)).read_bytes() == blob

    again = tools.push(index.layout, f"{registry.host}/app/multi", "--tag", "t")
    assert again.returncode == 0, again.stderr
    summary = parse_summary(again.stderr)
    assert (summary["manifest"], summary["existed"], summary["uploaded"]) == ("existed", 5, 0)


def test_docker_manifest_list_keeps_its_media_type(tools, registry, tmp_path):
    index = two_platforms(tmp_path / "docker", media_type=DOCKER_MANIFEST)
    result = tools.push(index.layout, f"{registry.host}/app/docker", "--tag", "t")
    assert result.returncode == 0, result.stderr
    status, headers, body = registry.request("GET", "/v2/app/docker/manifests/t",
                                             headers={"Accept": DOCKER_MANIFEST_LIST})
    assert (status, headers["Content-Type"], body) == (200, DOCKER_MANIFEST_LIST, index.index)
    assert registry.manifest_digest("app/docker", index.images[ARM64].digest) == index.images[ARM64].digest


def test_shallow_index_mounts_or_streams_the_base_layers_of_every_platform(tools, make_registry, tmp_path):
    first, second = make_registry(), make_registry()
    base = write_index_layout(tmp_path / "base", {
        AMD64: [random_layer(150_000, 10), random_layer(150_000, 11)],
        ARM64: [random_layer(150_000, 12), random_layer(150_000, 13)],
    })
    assert tools.push(base.layout, f"{first.host}/base/multi").returncode == 0
    app = write_index_layout(tmp_path / "app", {
        AMD64: [layer({"app.py": b"print('amd64')\n"})],
        ARM64: [layer({"app.py": b"print('arm64')\n"})],
    }, bases=base.images, source=f"{first.host}/base/multi")

    result = tools.push(app.layout, f"{first.host}/app/x", "--tag", "t")
    assert result.returncode == 0, result.stderr
    summary = parse_summary(result.stderr)
    assert (summary["mounted"], summary["uploaded"], summary["streamed"]) == (4, 4, 0)

    mark = len(first.access_log())
    result = tools.push(app.layout, f"{second.host}/app/x", "--tag", "t")
    assert result.returncode == 0, result.stderr
    summary = parse_summary(result.stderr)
    assert (summary["streamed"], summary["uploaded"], summary["mounted"]) == (4, 4, 0)
    assert len(first.blob_reads("base/multi", mark)) == 4
    copied = skopeo_copy_back(second.host, "app/x:t", tmp_path / "copy", "--override-arch", "arm64")
    assert copied == app.images[ARM64].digest


def test_pull_fetches_every_platform_asked_for(tools, registry, tmp_path):
    index = two_platforms(tmp_path / "multi")
    assert tools.push(index.layout, f"{registry.host}/base/multi").returncode == 0
    image = f"{registry.host}/base/multi@{index.digest}"

    shallow = tmp_path / "shallow"
    result = tools.run("sematic-pull", "--image", image, "--output", shallow,
                       "--platform", AMD64, "--platform", ARM64)
    assert result.returncode == 0, result.stderr
    assert result.stderr == f"sematic-pull: {image} -> {shallow} (2 images, 3 layers left in the registry)\n"
    [entry] = json.loads((shallow / "index.json").read_text())["manifests"]
    assert (entry["digest"], entry["mediaType"]) == (index.digest, OCI_INDEX)
    assert entry["annotations"] == {SOURCE_ANNOTATION: f"{registry.host}/base/multi"}
    blobs = sorted(p.name for p in (shallow / "blobs" / "sha256").iterdir())
    expected = [index.digest] + [d for i in index.images.values() for d in (i.digest, i.config_digest)]
    assert blobs == sorted(d[7:] for d in expected)

    # The shallow pull pushes elsewhere in the registry by mounting every layer.
    result = tools.push(shallow, f"{registry.host}/mirror/multi")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith(index.digest)
    summary = parse_summary(result.stderr)
    assert (summary["mounted"], summary["uploaded"]) == (3, 2)

    full = tmp_path / "full"
    result = tools.run("sematic-pull", "--image", image, "--output", full, "--layers", "all",
                       "--platform", ARM64, "--platform", AMD64)
    assert result.returncode == 0, result.stderr
    for l in index.images[AMD64].layers + index.images[ARM64].layers:
        assert blob_path(full, l.digest).read_bytes() == l.blob
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_pull_of_a_platform_the_index_lacks_names_the_ones_it_has(tools, registry, tmp_path):
    index = two_platforms(tmp_path / "multi")
    assert tools.push(index.layout, f"{registry.host}/base/multi").returncode == 0
    image = f"{registry.host}/base/multi@{index.digest}"
    result = tools.run("sematic-pull", "--image", image, "--output", tmp_path / "out",
                       "--platform", AMD64, "--platform", "linux/s390x")
    line = assert_one_line_error(result, "sematic-pull")
    assert line == (f"sematic-pull: error: image index {image}: has no image for platform "
                    "linux/s390x; it offers: linux/amd64, linux/arm64")
    assert not (tmp_path / "out").exists()


def test_index_whose_image_is_not_in_the_layout_is_refused(tools, registry, tmp_path):
    index = two_platforms(tmp_path / "multi")
    arm64 = index.images[ARM64]
    blob_path(index.layout, arm64.digest).unlink()
    result = tools.push(index.layout, f"{registry.host}/app/multi", "--tag", "t")
    line = assert_one_line_error(result, "sematic-push")
    assert line.startswith(
        f"sematic-push: error: preparing {index.layout} for push: image {arm64.digest} (linux/arm64) "
        f"of index {index.digest}: reading blob {arm64.digest} of layout {index.layout}: it is missing")
    assert registry.tags("app/multi") == []


def test_launch_hands_out_the_index_digest(tools, registry, tmp_path):
    repositories = {"default": f"{registry.host}/sematic/multi"}
    runfiles, digests = make_runfiles(tmp_path, {"default": two_platforms}, repositories)
    result, dumped, _ = launch(tools, runfiles, tmp_path, "--no-push")
    assert result.returncode == 0, result.stderr
    uri = f"{registry.host}/sematic/multi@{digests['default']}"
    assert dumped["env"]["SEMATIC_CONTAINER_IMAGE_URIS"] == f"::default##{uri}"

    result, dumped, _ = launch(tools, runfiles, tmp_path)
    assert result.returncode == 0, result.stderr
    assert dumped["env"]["SEMATIC_CONTAINER_IMAGE_URIS"] == f"::default##{uri}"
    assert registry.manifest_digest("sematic/multi", "main_default") == digests["default"]
