"""eStargz blobs written by tools/crates/estargz, checked by the real implementation:

- containerd's estargz reader (tests/harness/stargz/verify) opens them, verifies the TOC
  digest and every chunk digest, and lists the same files as the input tar;
- a private containerd with the stargz snapshotter pulls an image made of one such layer
  lazily and runs a file from it, having fetched only a small part of the blob, and pulls it
  the ordinary way too (a plain gzip layer to containerd's unpacker, diff_id checked).

test_lazy_pull_worker.py does the same with the worker image the rules build."""

import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from harness.containerd import COMMANDS, Containerd, stargz_tools
from harness.fixtures import require
from harness.tools import HOME, REPO_ROOT, TOOLS_DIR

REPOSITORY = "lazy/busybox"
BIG = 32 << 20


def estargz_tool() -> Path:
    """The crate's example binary (writes a tar as an eStargz blob), built once per checkout.
    Its own target directory: tools/build.sh's flags differ, and sharing would rebuild both."""
    checkout = hashlib.sha256(str(REPO_ROOT).encode()).hexdigest()[:12]
    target = HOME / "test-cargo-target" / f"{checkout}-examples"
    target.parent.mkdir(parents=True, exist_ok=True)
    cargo = shutil.which("cargo") or str(Path.home() / ".cargo" / "bin" / "cargo")
    subprocess.run(["flock", f"{target}.lock", cargo, "build", "--locked", "--release", "-q",
                    "--manifest-path", str(TOOLS_DIR / "Cargo.toml"), "--target-dir", str(target),
                    "-p", "sematic-estargz", "--example", "estargz"], check=True, capture_output=True)
    return target / "release" / "examples" / "estargz"


def write_estargz(tar: Path, blob: Path, *flags) -> dict:
    result = subprocess.run([str(estargz_tool()), str(tar), str(blob), *flags],
                            check=True, capture_output=True, text=True)
    return json.loads(result.stdout)


def add(archive: tarfile.TarFile, name: str, data: bytes = b"", **fields) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 1_700_000_000
    info.mode = 0o644
    for key, value in fields.items():
        setattr(info, key, value)
    archive.addfile(info, io.BytesIO(data) if info.isreg() else None)


def test_reference_reader_verifies_crate_blobs(tmp_path):
    require("go")
    tar = tmp_path / "layer.tar"
    big = hashlib.sha256(b"seed").digest() * (300_000 // 32)
    long_name = "opt/" + "d" * 120 + "/deep.txt"
    with tarfile.open(tar, "w", format=tarfile.PAX_FORMAT) as archive:
        add(archive, "opt", type=tarfile.DIRTYPE, mode=0o755)
        add(archive, "opt/app.py", b"print('hi')\n")
        add(archive, "opt/big.bin", big)
        add(archive, "opt/empty")
        add(archive, "opt/link", type=tarfile.SYMTYPE, linkname="app.py")
        add(archive, "opt/hard", type=tarfile.LNKTYPE, linkname="opt/app.py")
        add(archive, long_name, b"deep\n")
        add(archive, "opt/xattr", b"x\n", pax_headers={"SCHILY.xattr.user.k": "v"})
    verify = stargz_tools() / "verify"
    for flags in ([], ["--chunk-size", "65536", "--prioritize", "opt/app.py"]):
        blob = tmp_path / "layer.estargz"
        facts = write_estargz(tar, blob, *flags)
        listing = subprocess.run([str(verify), str(blob), facts["toc_digest"]],
                                 capture_output=True, text=True)
        assert listing.returncode == 0, listing.stderr
        landmark = ".prefetch.landmark" if flags else ".no.prefetch.landmark"
        # The reader resolves a hard link to its target's entry.
        assert sorted(listing.stdout.splitlines()) == sorted([
            f"reg 1 {landmark}", "dir 0 opt", "reg 12 opt/app.py", f"reg {len(big)} opt/big.bin",
            "reg 0 opt/empty", "symlink 0 opt/link", "reg 12 opt/hard", f"dir 0 {long_name.rsplit('/', 1)[0]}",
            f"reg 5 {long_name}", "reg 2 opt/xattr"])

    wrong = subprocess.run([str(verify), str(blob), "sha256:" + "0" * 64], capture_output=True, text=True)
    assert wrong.returncode != 0 and "TOC" in wrong.stderr


def busybox_image(tmp_path: Path, registry) -> dict:
    """A one-layer image: a static busybox, a small text file and a 32 MiB file the runs never
    read; busybox and the text file are prioritized (fetched before the container starts)."""
    tar = tmp_path / "layer.tar"
    with tarfile.open(tar, "w", format=tarfile.PAX_FORMAT) as archive:
        add(archive, "bin", type=tarfile.DIRTYPE, mode=0o755)
        add(archive, "bin/busybox", Path("/bin/busybox").read_bytes(), mode=0o755)
        add(archive, "data", type=tarfile.DIRTYPE, mode=0o755)
        add(archive, "data/hello.txt", b"hello from a lazy layer\n")
        add(archive, "data/big.bin", os.urandom(BIG))
    blob_path = tmp_path / "layer.estargz"
    facts = write_estargz(tar, blob_path, "--prioritize", "bin/busybox", "--prioritize", "data/hello.txt")
    blob = blob_path.read_bytes()
    assert registry.put_blob(REPOSITORY, blob) == facts["digest"]
    config = json.dumps({
        "architecture": "amd64", "os": "linux",
        "config": {"Env": ["PATH=/bin"]},
        "rootfs": {"type": "layers", "diff_ids": [facts["diff_id"]]},
    }, sort_keys=True).encode()
    config_digest = registry.put_blob(REPOSITORY, config)
    manifest = json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": config_digest, "size": len(config)},
        "layers": [{
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "digest": facts["digest"], "size": facts["size"],
            "annotations": {
                "containerd.io/snapshot/stargz/toc.digest": facts["toc_digest"],
                "io.containers.estargz.uncompressed-size": str(facts["uncompressed_size"]),
            },
        }],
    }, sort_keys=True).encode()
    registry.put_manifest(REPOSITORY, "v1", manifest, "application/vnd.oci.image.manifest.v1+json")
    return facts


def test_lazy_pull_fetches_a_fraction_of_the_layer(tmp_path, registry, containerd):
    facts = busybox_image(tmp_path, registry)
    reference = f"{registry.host}/{REPOSITORY}:v1"
    start = len(registry.access_log())

    containerd.rpull(reference)
    assert any(fstype.startswith("fuse") for _, fstype in containerd.mounts()), \
        "rpull mounted no lazy (FUSE) layer"
    # Footer, TOC and the prioritized prefix (busybox, hello.txt) before anything runs.
    before_run = registry.blob_bytes_served({facts["digest"]}, start)
    assert 0 < before_run < facts["size"] // 8, (before_run, facts["size"])
    out = containerd.run(reference, "/bin/busybox", "cat", "/data/hello.txt", name="cat")
    assert out == "hello from a lazy layer\n"
    # The big file's metadata comes from the TOC: stat reads none of its chunks.
    out = containerd.run(reference, "/bin/busybox", "stat", "-c", "%s", "/data/big.bin", name="stat")
    assert out.strip() == str(BIG)
    lazy_bytes = registry.blob_bytes_served({facts["digest"]}, start)
    assert lazy_bytes < facts["size"] // 8, (lazy_bytes, facts["size"])
    print(f"lazy pull: {before_run} bytes before the run, {lazy_bytes} after two runs, "
          f"of a {facts['size']}-byte layer")

    # Without the snapshotter the blob is an ordinary gzip layer (containerd checks its diff_id).
    since = len(registry.access_log())
    containerd.pull(reference)
    out = containerd.run(reference, "/bin/busybox", "cat", "/data/hello.txt", snapshotter="overlayfs", name="full")
    assert out == "hello from a lazy layer\n"
    assert registry.blob_bytes_served({facts["digest"]}, since) == facts["size"]



def test_stop_leaves_nothing_behind_with_a_container_running(tmp_path, registry):
    """A failing test may leave a container running: stop() still ends it, its shim and both
    daemons, and unmounts its root filesystem and the lazy layers."""
    require(*COMMANDS)
    busybox_image(tmp_path, registry)
    runtime = Containerd(tmp_path / "containerd")
    try:
        runtime.start()
        reference = f"{registry.host}/{REPOSITORY}:v1"
        runtime.rpull(reference)
        runtime.ctr("run", "-d", "--snapshotter", "stargz", reference, "sleeper", "/bin/busybox", "sleep", "600")
        pids = runtime.task_pids()
        assert len(pids) >= 2, "no shim and container process recorded"
        assert any(fstype == "overlay" for _, fstype in runtime.mounts())
    finally:
        runtime.stop()
    assert runtime.mounts() == []
    assert not [pid for pid in pids if _running(pid)], "container or shim processes left running"


def _running(pid: int) -> bool:
    """Whether `pid` exists and is not a zombie waiting for its (re)parent to reap it."""
    try:
        return "zombie" not in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
