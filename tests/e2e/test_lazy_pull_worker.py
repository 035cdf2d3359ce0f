"""The worker image the rules build with compression = "estargz", pulled lazily by a real
containerd with the stargz snapshotter (tests/harness/containerd.py): the worker starts having
fetched part of its eStargz layers only. test_lazy_pull.py checks the blobs themselves."""

import subprocess

import pytest

from harness.fixtures import require
from harness.images import read_blob_json

# Builds with this checkout's Bazel server (tests/harness/pipeline_fixtures.py).
pytestmark = pytest.mark.checkout

HELLO_ESTARGZ = "//tests/image:hello_estargz_image"
HELLO_WORKER = "/app/examples/hello/main_worker"
ESTARGZ_TOC = "containerd.io/snapshot/stargz/toc.digest"


def test_hello_worker_starts_from_a_lazy_pull_of_its_estargz_image(repo_bazel, registry, containerd):
    """Every layer is eStargz (the base's too: containerd fetches every layer whole from the
    first one its snapshotter cannot mount lazily); the interpreter and first-party layers are
    fetched before the start, the rest file by file as the worker reads them."""
    require("skopeo")
    layout, digest = repo_bazel.image(HELLO_ESTARGZ)
    reference = f"{registry.host}/lazy/hello:v1"
    subprocess.run(["skopeo", "copy", "--quiet", "--dest-tls-verify=false", f"oci:{layout}:latest",
                    f"docker://{reference}"], check=True, capture_output=True)
    manifest = read_blob_json(layout, digest)
    lazy = {layer["digest"]: layer["size"] for layer in manifest["layers"]
            if ESTARGZ_TOC in layer.get("annotations", {})}
    assert len(lazy) == len(manifest["layers"]), manifest["layers"]

    start = len(registry.access_log())
    containerd.rpull(reference)
    out = containerd.run(reference, "/sematic/python3", HELLO_WORKER, "--help", name="worker")
    # sematic.resolvers.worker's own argument parser answered: sematic imported.
    assert "--run_id" in out and "--resolve" in out, out
    fetched = registry.blob_bytes_served(lazy, start)
    total = sum(lazy.values())
    print(f"lazy start of the hello worker: {fetched} of {total} eStargz bytes fetched "
          f"({100 * fetched / total:.0f} %)")
    assert fetched < total // 2, (fetched, total)
