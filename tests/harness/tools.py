"""Locating (and, once per test session, building) the release binaries."""

import os
import subprocess
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
TOOLS_DIR = REPO_ROOT / "tools"
LOCAL_REGISTRY = TOOLS_DIR / "local-registry.sh"
BINARIES = ("sematic-push", "sematic-pull", "sematic-launch")


def tools_bin_dir(binaries=BINARIES) -> Path:
    """The directory holding the release binaries (at least `binaries`).

    $SEMATIC_TOOLS_DIR, when set, names a directory of prebuilt binaries (CI or Bazel
    builds them once); otherwise `cargo build --release --locked` runs in tools/.
    """
    prebuilt = os.environ.get("SEMATIC_TOOLS_DIR")
    if prebuilt:
        directory = Path(prebuilt)
    else:
        subprocess.run(
            ["cargo", "build", "--release", "--locked", "--quiet"]
            + [arg for name in binaries for arg in ("--bin", name)],
            cwd=TOOLS_DIR,
            check=True,
        )
        directory = TOOLS_DIR / "target" / "release"
    missing = [name for name in binaries if not (directory / name).is_file()]
    if missing:
        raise RuntimeError(f"{directory} lacks {', '.join(missing)}")
    return directory
