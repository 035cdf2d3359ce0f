"""A real lazy-pulling runtime: a private containerd (its own root, state and sockets under the
test's directory) with the stargz snapshotter (tests/harness/stargz/snapshotter) as its proxy
snapshot plugin. Pulls go through `ctr-remote image rpull` (lazy: layers are FUSE mounts that
fetch file chunks by range request) or `ctr image pull` (whole blobs, overlayfs); containers
run with runc through containerd's shim.

Everything is stopped by PID and every mount under the directory is unmounted in `stop()`,
which is idempotent and runs even when a test fails (use it from a fixture or try/finally)."""

import hashlib
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from .tools import HOME, REPO_ROOT

STARGZ_SOURCES = REPO_ROOT / "tests" / "harness" / "stargz"
COMMANDS = ("containerd", "ctr", "ctr-remote", "containerd-shim-runc-v2", "runc", "go")


def missing_commands() -> list:
    """What this harness needs but the machine lacks (tools/bootstrap.sh installs it all)."""
    return [name for name in COMMANDS if shutil.which(name) is None]


def stargz_tools() -> Path:
    """The directory holding `verify` and `snapshotter`, built from their sources once per
    version of them (tools/bootstrap.sh builds the same directory)."""
    sources = [STARGZ_SOURCES / "build.sh", *sorted(STARGZ_SOURCES.glob("*/main.go"))]
    stamp = hashlib.sha256(b"".join(p.read_bytes() for p in sources)).hexdigest()[:16]
    directory = HOME / "stargz" / stamp
    if not all((directory / name).is_file() for name in ("verify", "snapshotter")):
        directory.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["flock", f"{directory}.lock", str(STARGZ_SOURCES / "build.sh"), str(directory)],
                       check=True, capture_output=True, text=True)
    return directory


class Containerd:
    """containerd + stargz snapshotter under `workdir`. `background_fetch=False` makes the
    snapshotter fetch only what is read or prefetched, so fetched bytes can be counted."""

    def __init__(self, workdir: Path, *, background_fetch: bool = False, eager_gc: bool = False):
        self.dir = Path(workdir)
        self.background_fetch = background_fetch
        self.eager_gc = eager_gc
        self.address = self.dir / "containerd.sock"
        self.snapshotter_address = self.dir / "stargz.sock"
        self._processes: list = []  # (name, Popen), in start order

    def start(self) -> "Containerd":
        self.dir.mkdir(parents=True, exist_ok=True)
        snapshotter = stargz_tools() / "snapshotter"
        args = [str(snapshotter), "-root", str(self.dir / "stargz"), "-address", str(self.snapshotter_address)]
        if not self.background_fetch:
            args.append("-no-background-fetch")
        self._spawn("snapshotter", args)
        self._wait_for(self.snapshotter_address.exists, "snapshotter", "its socket")
        config = self.dir / "config.toml"
        config.write_text(CONFIG.format(dir=self.dir, address=self.address,
                                        snapshotter=self.snapshotter_address)
                          + (EAGER_GC if self.eager_gc else ""))
        self._spawn("containerd", ["containerd", "--config", str(config)])
        self._wait_for(lambda: self._ctr_ok("version"), "containerd", "its API")
        plugins = self.ctr("plugins", "ls").stdout
        if not any(line.split()[:1] == ["io.containerd.snapshotter.v1"] and "stargz" in line
                   and line.rstrip().endswith("ok") for line in plugins.splitlines()):
            raise RuntimeError(f"containerd did not load the stargz snapshotter:\n{plugins}")
        return self

    def _spawn(self, name: str, args: list) -> None:
        log = open(self.dir / f"{name}.log", "ab")
        try:
            process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        finally:
            log.close()
        self._processes.append((name, process))

    def _wait_for(self, ready, name: str, what: str, timeout: float = 30) -> None:
        process = dict(self._processes)[name]
        deadline = time.monotonic() + timeout
        while not ready():
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited ({process.returncode}) before {what} was up:\n{self.log(name)}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name}: {what} not up after {timeout} s:\n{self.log(name)}")
            time.sleep(0.1)

    def _ctr_ok(self, *args) -> bool:
        return subprocess.run(["ctr", "--address", str(self.address), *args],
                              capture_output=True).returncode == 0

    def log(self, name: str) -> str:
        path = self.dir / f"{name}.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    # Commands ------------------------------------------------------------------------------

    def ctr(self, *args, program: str = "ctr", timeout: float = 120) -> subprocess.CompletedProcess:
        result = subprocess.run([program, "--address", str(self.address), *args],
                                capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            raise RuntimeError(f"{program} {' '.join(args)} failed ({result.returncode}):\n"
                               f"{result.stdout}{result.stderr}\n--- containerd log:\n{self.log('containerd')}"
                               f"\n--- snapshotter log:\n{self.log('snapshotter')}")
        return result

    def rpull(self, reference: str) -> None:
        """Lazy pull: only the manifests, config and each layer's footer and TOC are fetched
        now; file contents when read (or prefetched, up to a layer's landmark)."""
        self.ctr("image", "rpull", "--plain-http", reference, program="ctr-remote")

    def pull(self, reference: str) -> None:
        """Full pull: every blob fetched and unpacked into the default (overlayfs) snapshotter."""
        self.ctr("image", "pull", "--plain-http", reference)

    def run(self, reference: str, *command: str, snapshotter: str = "stargz", name: str = "run") -> str:
        """Runs `command` in a container of `reference` (removed afterwards); returns stdout."""
        return self.ctr("run", "--rm", "--snapshotter", snapshotter, reference, name, *command).stdout

    # Teardown ------------------------------------------------------------------------------

    def stop(self) -> None:
        """Stops containers (their shims and processes), containerd, then the snapshotter (which
        unmounts its FUSE layers), each by PID; then unmounts whatever is left under the
        directory. Safe to call twice and after a failed start."""
        if any(name == "containerd" and p.poll() is None for name, p in self._processes):
            # Through the API first: a deleted task's shim exits on its own. A hung containerd
            # only delays the PID kills below.
            try:
                tasks = subprocess.run(["ctr", "--address", str(self.address), "task", "ls", "-q"],
                                       capture_output=True, text=True, timeout=30).stdout.split()
                for task in tasks:
                    subprocess.run(["ctr", "--address", str(self.address), "task", "delete", "--force", task],
                                   capture_output=True, timeout=30)
            except subprocess.TimeoutExpired:
                pass
        for pid in self.task_pids():
            _kill(pid)
        for name, process in reversed(self._processes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        self._processes.clear()
        self._unmount_all()

    def task_pids(self) -> list:
        """PIDs of the container processes and shims this containerd started (shims outlive
        it): the runtime's init.pid files, and the processes given this instance's own socket
        (`containerd-shim-runc-v2 -address <socket>`), unique to this directory."""
        pids = []
        for pid_file in (self.dir / "state").glob("io.containerd.runtime.v2.task/*/*/*.pid"):
            try:
                pids.append(int(pid_file.read_text().strip()))
            except (OSError, ValueError):
                continue
        needle = f"\0-address\0{self.address}\0".encode()
        for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
            try:
                if needle in b"\0" + cmdline.read_bytes():
                    pids.append(int(cmdline.parent.name))
            except OSError:
                continue
        return pids

    def _unmount_all(self) -> None:
        # Deepest first: overlay root filesystems sit on top of the FUSE layers.
        for target, _ in sorted(self.mounts(), key=lambda m: len(m[0]), reverse=True):
            if subprocess.run(["umount", target], capture_output=True).returncode != 0:
                subprocess.run(["umount", "-l", target], capture_output=True)

    def mounts(self) -> list:
        """(mount point, filesystem type) of every mount under the directory: the lazy layers
        are "fuse.<name>" mounts, container root filesystems "overlay"."""
        prefix = str(self.dir.resolve()) + "/"
        found = []
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            fields = line.split()
            if fields[4].startswith(prefix):
                found.append((fields[4], fields[fields.index("-") + 1]))
        return found


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


# No CRI (it would look for CNI and a Kubernetes runtime), no debug or metrics listeners: every
# socket lives under the test's directory, so several instances and the host's own containerd
# never meet.
CONFIG = """\
version = 2
root = "{dir}/root"
state = "{dir}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]

[grpc]
  address = "{address}"

[ttrpc]
  address = "{address}.ttrpc"

[proxy_plugins]
  [proxy_plugins.stargz]
    type = "snapshot"
    address = "{snapshotter}"
"""

# Garbage collection after every change, at once: a busy node's containerd (the kubelet pulls
# and removes images all day) collects at any moment, so anything a client leaves unreferenced
# even for a few milliseconds is gone. The default collects after 100 changes.
EAGER_GC = """
[plugins."io.containerd.gc.v1.scheduler"]
  pause_threshold = 0.5
  deletion_threshold = 1
  mutation_threshold = 1
  schedule_delay = "0s"
  startup_delay = "0s"
"""
