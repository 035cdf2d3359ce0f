"""The caches the tests read instead of the network, filled once by tools/bootstrap.sh
(tools/fill_test_caches.py, tools/fill_debian_test_caches.py): every Bazel run of the suites gets
a PyPI index on disk, a Bazel repository cache holding the wheels and the Debian bases' packages,
and a downloader config that allows loopback hosts only, so a test that would need the network
fails instead of using it. The Debian lock command reads a file:// mirror of the archive's index."""

import os
from pathlib import Path

import pytest

CACHES = Path(os.environ.get("RULES_SEMATIC_HOME") or Path.home() / ".cache" / "rules_sematic") / "test-caches"


def caches() -> Path:
    """The caches directory; fails (never skips) when bootstrap has not filled it."""
    if not (CACHES / "offline.bazelrc").exists():
        pytest.fail(f"the test caches are missing ({CACHES}): run tools/bootstrap.sh")
    return CACHES


def bazel_env() -> dict:
    """Environment variables that make rules_sematic read the caches."""
    root = caches()
    return {
        "PIP_INDEX_URL": (root / "pypi").as_uri(),
    }


def bazelrc(*imports: Path) -> Path:
    """An rc file importing `imports` and the caches' Bazel options (one --bazelrc may be given)."""
    root = caches()
    lines = [f"import {path}" for path in (*imports, root / "offline.bazelrc")]
    rc = root / ("offline-" + "-".join(p.stem for p in imports) + ".bazelrc" if imports else "offline-only.bazelrc")
    text = "\n".join(lines) + "\n"
    if not rc.exists() or rc.read_text() != text:
        rc.write_text(text)
    return rc


def python_rootfs() -> Path:
    """A Debian bookworm rootfs tarball with python3-minimal and dash (mmdebstrap, extract)."""
    path = caches() / "rootfs-python3-minimal-dash.tar"
    if not path.exists():
        pytest.fail(f"{path} is missing: run tools/bootstrap.sh")
    return path


def debian_mirror() -> Path:
    """A file:// Debian mirror holding the InRelease and Packages.xz files the locks of
    images/*.lock.json were made from (`RULES_SEMATIC_DEBIAN_MIRROR` for the lock command)."""
    path = caches() / "debian-mirror"
    if not (path / "dists").is_dir():
        pytest.fail(f"{path} is missing: run tools/bootstrap.sh")
    return path
