"""sematic-load against real runtimes: a private containerd (tests/harness/containerd.py) and
podman on a private storage. Two images share a busybox layer and differ in a small one, as a
code edit leaves an image: loading the second sends only what the runtime lacks, and a shared
layer whose bytes in the layout are garbage still loads, so it was never read."""

import gzip
import io
import json
import os
import re
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from harness.fixtures import assert_one_line_error, require
from harness.images import Layer, blob_path, layer, sha256, write_layout
from harness.tools import tools_bin_dir

BUSYBOX = Path("/usr/bin/busybox")  # statically linked: busybox-static (tools/bootstrap.sh)
NAME = "registry.example/ml/app:main_default"
SUMMARY = re.compile(r"^sematic-load: summary: runtime=(?P<runtime>\w+) sent=(?P<sent>\d+) "
                     r"\((?P<bytes>\d+) bytes\) present=(?P<present>\d+) image=(?P<image>\S+)$", re.M)


def executable_layer(path: str, data: bytes) -> Layer:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo(path)
        info.size, info.mode = len(data), 0o755
        tar.addfile(info, io.BytesIO(data))
    return Layer(gzip.compress(raw.getvalue(), mtime=0), sha256(raw.getvalue()))


@pytest.fixture(scope="module")
def base_layer() -> Layer:
    require("busybox")
    return executable_layer("bin/busybox", BUSYBOX.read_bytes())


def image(root: Path, base: Layer, message: str):
    config = {"config": {"Entrypoint": ["/bin/busybox"], "Env": ["PATH=/bin"]}}
    return write_layout(root, [base, layer({"etc/msg": message.encode()})], config_extra=config)


def corrupt(layout: Path, digest: str) -> None:
    """Same size, other bytes: a runtime that read the blob would fail its digest check."""
    path = blob_path(layout, digest)
    path.write_bytes(b"x" * path.stat().st_size)


def load(layout: Path, *args, env=None) -> subprocess.CompletedProcess:
    tool = tools_bin_dir(("sematic-load",)) / "sematic-load"
    return subprocess.run([str(tool), "--layout", str(layout), "--tag", NAME, *args],
                          capture_output=True, text=True, env=env, timeout=300)


def summary(result) -> dict:
    assert result.returncode == 0, result.stderr
    (found,) = SUMMARY.finditer(result.stderr)
    return {k: v if k in ("runtime", "image") else int(v) for k, v in found.groupdict().items()}


def base_snapshot_created(containerd, base: Layer) -> str:
    """When the base layer's snapshot (its chain ID is its diff ID) was extracted."""
    info = containerd.ctr("snapshots", "--snapshotter", "overlayfs", "info", base.diff_id).stdout
    return json.loads(info)["Created"]


def test_containerd_gets_only_the_blobs_its_store_lacks(busy_containerd, base_layer, tmp_path):
    """On a containerd collecting garbage after every change, the second image (same name)
    reuses the first one's base snapshot: it is neither extracted again nor, removed midway,
    the cause of a failed unpack ("parent snapshot … does not exist")."""
    containerd = busy_containerd
    first, second = image(tmp_path / "a", base_layer, "one"), image(tmp_path / "b", base_layer, "two")
    flags = ("--runtime", "containerd", "--address", str(containerd.address))
    everything = summary(load(first.layout, *flags))
    assert (everything["sent"], everything["present"]) == (4, 0), everything
    assert containerd.run(NAME, "/bin/busybox", "cat", "/etc/msg", snapshotter="overlayfs", name="a") == "one"
    extracted = base_snapshot_created(containerd, base_layer)

    corrupt(second.layout, base_layer.digest)
    edit = summary(load(second.layout, *flags))
    new = [second.manifest, second.config, second.layers[1].blob]
    assert edit == {"runtime": "containerd", "sent": 3, "bytes": sum(map(len, new)), "present": 1,
                    "image": NAME}, edit
    assert base_snapshot_created(containerd, base_layer) == extracted, "the edit's load extracted the base again"
    assert containerd.run(NAME, "/bin/busybox", "cat", "/etc/msg", snapshotter="overlayfs", name="b") == "two"

    back = summary(load(first.layout, *flags))
    assert (back["sent"], back["present"]) == (3, 1), back
    assert base_snapshot_created(containerd, base_layer) == extracted, "going back extracted the base again"
    assert summary(load(first.layout, *flags))["sent"] == 0
    assert containerd.run(NAME, "/bin/busybox", "cat", "/etc/msg", snapshotter="overlayfs", name="c") == "one"
    assert containerd.ctr("image", "ls", "--quiet").stdout.split() == [NAME], "a staging name left behind"

    # Content is per namespace: the kubelet's k8s.io has none of it yet.
    fresh = summary(load(first.layout, *flags, "--namespace", "k8s.io"))
    assert (fresh["sent"], fresh["present"]) == (4, 0), fresh
    assert NAME in containerd.ctr("--namespace", "k8s.io", "image", "ls", "--quiet").stdout.split()


def test_containerd_refuses_a_layer_it_has_nowhere(containerd, base_layer, tmp_path):
    """A shallow layout whose base layer the store lacks: one line, and no image half-made."""
    shallow = image(tmp_path / "a", base_layer, "one")
    blob_path(shallow.layout, base_layer.digest).unlink()
    result = load(shallow.layout, "--runtime", "containerd", "--address", str(containerd.address))
    assert_one_line_error(result, "sematic-load", "the image's base is shallow", base_layer.digest,
                          "nor in containerd's namespace default")
    assert containerd.ctr("image", "ls", "--quiet").stdout.split() == []


@pytest.fixture
def podman_env(tmp_path):
    """podman on a storage of its own (vfs: no mounts), emptied afterwards."""
    require("podman")
    conf = tmp_path / "storage.conf"
    conf.write_text(f'[storage]\ndriver = "vfs"\ngraphroot = "{tmp_path}/podman"\n'
                    f'runroot = "{tmp_path}/podman-run"\n')
    env = dict(os.environ, CONTAINERS_STORAGE_CONF=str(conf))
    try:
        yield env
    finally:
        subprocess.run(["podman", "rmi", "--all", "--force"], env=env, capture_output=True)


def podman_image(env, *fields) -> list:
    format = " ".join("{{.%s}}" % field for field in fields)
    return subprocess.run(["podman", "image", "inspect", "--format", format, NAME], env=env,
                          capture_output=True, text=True, check=True).stdout.split()


def test_podman_copies_only_the_layers_its_storage_lacks(podman_env, base_layer, tmp_path):
    first, second = image(tmp_path / "a", base_layer, "one"), image(tmp_path / "b", base_layer, "two")
    everything = summary(load(first.layout, "--runtime", "podman", env=podman_env))
    assert (everything["sent"], everything["present"]) == (4, 0), everything

    corrupt(second.layout, base_layer.digest)
    edit = summary(load(second.layout, env=podman_env))  # auto: podman, installed
    assert (edit["runtime"], edit["sent"], edit["present"]) == ("podman", 3, 1), edit
    # The named image is the new one (podman's ID is the config digest), under NAME only.
    assert podman_image(podman_env, "Id", "Digest") == [second.config_digest[7:], second.digest]
    names = subprocess.run(["podman", "images", "--format", "{{.Repository}}:{{.Tag}}"], env=podman_env,
                           capture_output=True, text=True, check=True).stdout.split()
    assert NAME in names and not any("sematic-load" in n for n in names), names

    # A layer podman lacks is read: garbage there fails the load, with podman's reason.
    third = image(tmp_path / "c", base_layer, "three")
    corrupt(third.layout, third.layers[1].digest)
    failed = load(third.layout, "--runtime", "podman", env=podman_env)
    assert_one_line_error(failed, "sematic-load", "podman pull", "igest")
    assert podman_image(podman_env, "Id") == [second.config_digest[7:]]


def test_bad_runtimes_fail_with_one_line(base_layer, tmp_path):
    layout = image(tmp_path / "a", base_layer, "one").layout
    result = load(layout, "--runtime", "rkt")
    assert result.returncode == 2
    assert_one_line_error(result, "sematic-load", "invalid value 'rkt'", "podman, containerd, docker")
    missing = tmp_path / "no-such.sock"
    assert_one_line_error(load(layout, "--runtime", "containerd", "--address", str(missing)),
                          "sematic-load", f"containerd's socket {missing} does not exist", "--address")
    empty = tmp_path / "empty-path"
    empty.mkdir()
    nothing = dict(os.environ, PATH=str(empty), CONTAINERD_ADDRESS=str(missing))
    assert_one_line_error(load(layout, env=nothing), "sematic-load", "no container runtime found",
                          "install podman")
    assert_one_line_error(load(layout, "--runtime", "podman", env=nothing), "sematic-load",
                          "podman is not on PATH")
    daemon = shutil.which("docker") and subprocess.run(
        ["docker", "version", "--format", "{{.Server.Version}}"], capture_output=True).returncode == 0
    if not daemon:  # the usual case here: no Docker, or a client without a daemon
        assert_one_line_error(load(layout, "--runtime", "docker"), "sematic-load",
                              "Docker's daemon does not answer", "start it")
