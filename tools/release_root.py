"""The Debian bullseye root the release compiles the tools in, so that they need glibc 2.31 at
most and run on every Linux distribution of the last years, whatever the releasing machine runs.

The root holds gcc and libc6-dev only. The host's Rust toolchain, CARGO_HOME (crates already
fetched: the build is offline), the tools' sources and the cargo target directory are
bind-mounted into it in a private mount namespace, and `tools/build.sh` runs there, the same
script and flags as the repository rule's builds.
"""

import os
import shutil
import subprocess
from pathlib import Path

SUITE = "bullseye"
PACKAGES = ("gcc", "libc6-dev")
# What the root is made of: a root made from another list is rebuilt.
SPEC = f"{SUITE} {' '.join(PACKAGES)}\n"


class ReleaseError(Exception):
    """A release cannot be made; the message says why and what to do."""


def home() -> Path:
    return Path(os.environ.get("RULES_SEMATIC_HOME") or Path.home() / ".cache" / "rules_sematic")


def root_dir() -> Path:
    return home() / "release-root" / f"{SUITE}-amd64"


def prepare_root(mirror: str) -> Path:
    """Creates the root with mmdebstrap unless it exists with the same packages; returns it."""
    root = root_dir()
    marker = root / ".rules-sematic-root"
    if marker.is_file() and marker.read_text() == SPEC:
        return root
    if not shutil.which("mmdebstrap"):
        raise ReleaseError("mmdebstrap is missing: run tools/bootstrap.sh (or apt-get install mmdebstrap)")
    partial = root.with_name(root.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    shutil.rmtree(root, ignore_errors=True)
    partial.parent.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        ["mmdebstrap", "--quiet", "--variant=minbase", f"--include={','.join(PACKAGES)}",
         "--aptopt=Acquire::Check-Valid-Until \"false\"", SUITE, str(partial), mirror],
        capture_output=True, text=True)
    if result.returncode != 0:
        shutil.rmtree(partial, ignore_errors=True)
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise ReleaseError(f"mmdebstrap {SUITE} from {mirror} failed: {last}")
    (partial / ".rules-sematic-root").write_text(SPEC)
    partial.rename(root)
    return root


def root_glibc(root: Path) -> str:
    """The glibc version of the root (e.g. "2.31"), read from its libc6 package."""
    status = (root / "var/lib/dpkg/status").read_text()
    for paragraph in status.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in paragraph.splitlines() if ": " in line)
        if fields.get("Package") == "libc6":
            return ".".join(fields["Version"].split("-")[0].split(".")[:2])
    raise ReleaseError(f"{root} has no libc6: remove it and run tools/bootstrap.sh")


def root_packages(root: Path) -> str:
    """`package version` lines of the compilers and libraries that go into the binaries."""
    result = subprocess.run(["chroot", str(root), "dpkg-query", "-W", "gcc", "gcc-10", "libc6-dev", "binutils"],
                            capture_output=True, text=True, check=True)
    return result.stdout


def compile_tools(tools_dir: Path, out_dir: Path, tools) -> None:
    """Runs tools/build.sh inside the root; the binaries land in out_dir."""
    if os.geteuid() != 0:
        raise ReleaseError("run as root: the tools compile in a Debian bullseye root (chroot, mount namespace)")
    root = root_dir()
    if not (root / ".rules-sematic-root").is_file():
        raise ReleaseError(f"the release root {root} is missing: run tools/bootstrap.sh")
    rustc = shutil.which("rustc")
    if not rustc:
        raise ReleaseError("rustc is not on PATH: install Rust with rustup (the release compiles with it)")
    toolchain = Path(subprocess.run([rustc, "--print", "sysroot"], capture_output=True, text=True,
                                    check=True).stdout.strip()).resolve()
    cargo_home = Path(os.environ.get("CARGO_HOME") or Path.home() / ".cargo").resolve()
    target = home() / "release-target"
    target.mkdir(parents=True, exist_ok=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    mounts = [(toolchain, "rust", "ro"), (cargo_home, "cargo", "rw"), (tools_dir.resolve(), "src", "ro"),
              (target, "target", "rw"), (out_dir.resolve(), "out", "rw")]
    script = ["set -e", 'root=$1', 'mount -t proc proc "$root/proc"', 'mount --rbind /dev "$root/dev"']
    for source, name, mode in mounts:
        script += [f'mkdir -p "$root/{name}"', f"mount --bind -o {mode} '{source}' \"$root/{name}\""]
    script.append('exec chroot "$root" /usr/bin/env -i PATH=/rust/bin:/usr/bin:/bin HOME=/root CARGO_HOME=/cargo '
                  'CARGO_NET_OFFLINE=true LANG=C.UTF-8 bash /src/build.sh /rust/bin/cargo /target /out "${@:2}"')
    # One release build at a time per target directory: the copy out of target/release must
    # see this build's binaries.
    result = subprocess.run(["flock", str(target) + ".lock", "unshare", "--mount", "--propagation", "private",
                             "--", "bash", "-c", "\n".join(script), "release-root", str(root), *tools],
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise ReleaseError(f"compiling the tools in {root} failed (exit {result.returncode}):\n{result.stderr[-4000:]}")
