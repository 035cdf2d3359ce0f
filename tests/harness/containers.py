"""Running images the way a container runtime would: unpacked with umoci, run with runc."""

import json
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from .fixtures import require


def unpack(layout: Path, tag: str, bundle: Path) -> Path:
    """Unpacks the image tagged `tag` in the OCI layout into the runtime bundle `bundle`.

    umoci writes to the layout it reads, and Bazel's outputs are read-only: it unpacks a copy."""
    require("umoci")
    copy = bundle.with_name(bundle.name + "-layout")
    shutil.copytree(layout, copy)
    subprocess.run(["umoci", "unpack", "--image", f"{copy}:{tag}", str(bundle)], check=True, capture_output=True)
    return bundle


def require_arm64_emulation():
    """Fails (never skips) unless binfmt_misc runs aarch64 binaries through qemu."""
    entry = Path("/proc/sys/fs/binfmt_misc/qemu-aarch64")
    if not entry.exists() or entry.read_text().splitlines()[0] != "enabled":
        pytest.fail("arm64 images need qemu-aarch64 registered with binfmt_misc: run tools/bootstrap.sh")


def entrypoint(bundle: Path) -> list:
    """The process the image's config runs (entrypoint and cmd), as umoci wrote it."""
    return json.loads((bundle / "config.json").read_text())["process"]["args"]


def runc_run(bundle: Path, args: list, timeout: int = 300) -> subprocess.CompletedProcess:
    """Runs `args` in the bundle with runc, without a terminal; the container is removed on exit."""
    require("runc")
    config_path = bundle / "config.json"
    config = json.loads(config_path.read_text())
    config["process"]["terminal"] = False
    config["process"]["args"] = args
    # arm64 images run through qemu-user, whose emulation of pointer authentication (which
    # Debian trixie's arm64 binaries use) makes Python 8x slower; its own fast variant keeps
    # every CPU feature. Native processes ignore the variable.
    qemu_cpu = "QEMU_CPU=max,pauth-impdef=on"
    if qemu_cpu not in config["process"]["env"]:
        config["process"]["env"].append(qemu_cpu)
    config_path.write_text(json.dumps(config))
    return subprocess.run(["runc", "run", "--bundle", str(bundle), f"rules-sematic-test-{uuid.uuid4().hex[:12]}"],
                          capture_output=True, text=True, timeout=timeout)


def run_image_python(bundle: Path, code: str, timeout: int = 300) -> str:
    """Runs `code` on the image's own Python (/sematic/python3) with the image's wheel
    directories on PYTHONPATH, without the py_binary stub or the Sematic worker (starting
    those under qemu takes minutes); returns its stdout, stripped."""
    app = bundle / "rootfs" / "app"
    runfiles = next(p for pattern in ("*.runfiles", "*/*.runfiles") for p in app.glob(pattern))
    sites = sorted("/" + str(p.relative_to(bundle / "rootfs")) for p in runfiles.glob("*/site"))
    config_path = bundle / "config.json"
    config = json.loads(config_path.read_text())
    config["process"]["env"] = [e for e in config["process"]["env"] if not e.startswith("PYTHONPATH=")]
    config["process"]["env"].append("PYTHONPATH=" + ":".join(sites))
    config_path.write_text(json.dumps(config))
    result = runc_run(bundle, ["/sematic/python3", "-c", code], timeout=timeout)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip()
