"""Running images the way a container runtime would: unpacked with umoci, run with runc."""

import json
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Optional

import pytest

from .fixtures import require


def unpack(layout: Path, tag: str, bundle: Path) -> Path:
    """Unpacks the image tagged `tag` in the OCI layout into the runtime bundle `bundle`.

    umoci writes to the layout it reads, and Bazel's outputs are read-only: it unpacks a copy.
    `umoci raw` rather than `umoci unpack`, which also hashes every file into a manifest for
    `umoci repack` (nothing here repacks): 4 times slower on a Sematic image."""
    require("umoci")
    copy = bundle.with_name(bundle.name + "-layout")
    shutil.copytree(layout, copy)
    bundle.mkdir()
    subprocess.run(["umoci", "raw", "unpack", "--image", f"{copy}:{tag}", str(bundle / "rootfs")], check=True,
                   capture_output=True)
    runtime_config(copy, tag, bundle)
    return bundle


def runtime_config(layout: Path, tag: str, bundle: Path) -> None:
    """Writes the bundle's config.json from the image's config (entrypoint, env, user, working
    directory), for the root filesystem already in bundle/rootfs."""
    subprocess.run(["umoci", "raw", "runtime-config", "--image", f"{layout}:{tag}", "--rootfs", "rootfs",
                    "config.json"], cwd=bundle, check=True, capture_output=True, text=True)


def require_arm64_emulation():
    """Fails (never skips) unless binfmt_misc runs aarch64 binaries through qemu."""
    entry = Path("/proc/sys/fs/binfmt_misc/qemu-aarch64")
    if not entry.exists() or entry.read_text().splitlines()[0] != "enabled":
        pytest.fail("arm64 images need qemu-aarch64 registered with binfmt_misc: run tools/bootstrap.sh")


def entrypoint(bundle: Path) -> list:
    """The process the image's config runs (entrypoint and cmd), as umoci wrote it."""
    return json.loads((bundle / "config.json").read_text())["process"]["args"]


# arm64 images run through qemu-user, whose emulation of pointer authentication (which Debian
# trixie's arm64 binaries use) makes Python 8x slower; its own fast variant keeps every CPU
# feature. Native processes ignore the variable.
QEMU_CPU = "QEMU_CPU=max,pauth-impdef=on"


def configure(bundle: Path, args: list, env: Optional[dict] = None, hostname: Optional[str] = None,
              host_network: bool = False) -> None:
    """Rewrites the bundle's config.json for a run without a terminal: the process `args`,
    `env` over the image's variables (a Kubernetes container's env replaces the image's value
    of the same name), QEMU_CPU, and optionally a hostname and the host's network namespace
    (a Kubernetes pod reaching a server on the host's loopback)."""
    config_path = bundle / "config.json"
    config = json.loads(config_path.read_text())
    process = config["process"]
    process["terminal"] = False
    process["args"] = args
    variables = dict(entry.split("=", 1) for entry in process["env"])
    variables.update(env or {})
    variables.update([QEMU_CPU.split("=", 1)])
    process["env"] = [f"{name}={value}" for name, value in variables.items()]
    if hostname:
        config["hostname"] = hostname
    if host_network:
        linux = config["linux"]
        linux["namespaces"] = [n for n in linux["namespaces"] if n["type"] != "network"]
    config_path.write_text(json.dumps(config))


def container_id() -> str:
    """A runc container ID no other test run uses."""
    return f"rules-sematic-test-{uuid.uuid4().hex[:12]}"


def runc_run(bundle: Path, args: list, timeout: int = 300) -> subprocess.CompletedProcess:
    """Runs `args` in the bundle with runc, without a terminal; the container is removed on exit."""
    require("runc")
    configure(bundle, args)
    return subprocess.run(["runc", "run", "--bundle", str(bundle), container_id()],
                          capture_output=True, text=True, timeout=timeout)


def runc_signal(container: str, signal: str) -> None:
    """Sends `signal` (TERM, KILL) to a container's process; a container already gone is not
    an error."""
    subprocess.run(["runc", "kill", container, signal], capture_output=True, timeout=60)


def runc_delete(container: str) -> None:
    """Deletes a container started with `runc run`, killing it (SIGKILL) if it still runs."""
    subprocess.run(["runc", "delete", "--force", container], capture_output=True, timeout=60)


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
