"""Locating (and, once per test session, building) the release binaries."""

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
TOOLS_DIR = REPO_ROOT / "tools"
LOCAL_REGISTRY = TOOLS_DIR / "local-registry.sh"
BINARIES = ("sematic-push", "sematic-pull", "sematic-launch")
# Every tool (private/tools_repo.bzl's TOOLS): what a tools repository or prebuilt directory holds.
ALL_TOOLS = ("sematic-image", "sematic-index", "sematic-launch", "sematic-layer", "sematic-load", "sematic-pull",
             "sematic-push", "sematic-tarball")
HOME = Path(os.environ.get("RULES_SEMATIC_HOME") or Path.home() / ".cache" / "rules_sematic")


def tools_bin_dir(binaries=BINARIES) -> Path:
    """The directory holding the release binaries (at least `binaries`).

    $SEMATIC_TOOLS_DIR, when set, names a directory of prebuilt binaries (CI or Bazel
    builds them once); otherwise tools/build.sh compiles them with the flags of every other
    build. Not in the tools repository rule's cargo target directory: that one links inside
    Bazel's environment (Debian sid's glibc with the bootstrap's Bazel), whose binaries need
    not run on this host, and cargo would reuse them.
    """
    prebuilt = os.environ.get("SEMATIC_TOOLS_DIR")
    if prebuilt:
        directory = Path(prebuilt)
    else:
        # One per checkout: two checkouts testing at once must not run each other's tools.
        checkout = hashlib.sha256(str(REPO_ROOT).encode()).hexdigest()[:12]
        directory = HOME / "test-tools" / checkout
        target = HOME / "test-cargo-target" / checkout
        target.parent.mkdir(parents=True, exist_ok=True)
        cargo = shutil.which("cargo") or str(Path.home() / ".cargo" / "bin" / "cargo")
        subprocess.run(["flock", f"{target}.lock", "bash", str(TOOLS_DIR / "build.sh"), cargo, str(target),
                        str(directory), *binaries], check=True, capture_output=True)
    missing = [name for name in binaries if not (directory / name).is_file()]
    if missing:
        raise RuntimeError(f"{directory} lacks {', '.join(missing)}")
    return directory
