"""The release: tools/release.py builds the rule set's archive and the prebuilt tools; a
workspace gets both from a loopback HTTP server, with no cargo anywhere, and builds and pushes
an image with them.

The release compiles the tools in a Debian bullseye root (tools/release_root.py), into a cargo
target directory kept in RULES_SEMATIC_HOME: a few minutes the first time on a machine, seconds
after that.
"""

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from harness.bazel import REPO, Bazel
from harness.fileserver import FileServer
from harness.fixtures import skopeo_copy_back
from harness.offline import caches

sys.path.insert(0, str(REPO / "tools"))
import release  # noqa: E402  (tools/release.py, importable once tools/ is on the path)

VERSION = release.version()
# Where the release says its files are published; the test serves them from loopback instead.
PUBLISHED = "releases.rules-sematic.invalid/v" + VERSION
TOOLS_ARCHIVE = f"sematic-tools-{VERSION}-linux_x86_64.tar.gz"
RULES_ARCHIVE = f"rules_sematic-{VERSION}.tar.gz"
GLIBC_LIMIT = (2, 31)  # Debian bullseye's, the oldest the README promises


def make_release(out: Path) -> Path:
    subprocess.run([sys.executable, str(REPO / "tools/release.py"), "build", "--out", str(out),
                    "--url-base", f"https://{PUBLISHED}", "--allow-dirty"],
                   check=True, capture_output=True, text=True)
    return out


@pytest.fixture(scope="module")
def release_dir(tmp_path_factory) -> Path:
    return make_release(tmp_path_factory.mktemp("release") / "dist")


@pytest.fixture
def file_server(release_dir):
    server = FileServer(release_dir).start()
    yield server
    server.stop()


def archive_members(path: Path) -> dict:
    with tarfile.open(path) as archive:
        return {m.name: archive.extractfile(m).read() for m in archive.getmembers() if m.isfile()}


def test_versions_agree():
    """private/version.bzl, MODULE.bazel and tools/Cargo.toml say one version (the tools report
    Cargo's, the rules check it against version.bzl's)."""
    assert re.fullmatch(r"\d+\.\d+\.\d+", release.version())


def test_release_is_reproducible(release_dir, tmp_path):
    again = make_release(tmp_path / "again")
    names = sorted(p.name for p in release_dir.iterdir())
    assert names == sorted(p.name for p in again.iterdir())
    differing = [n for n in names if (release_dir / n).read_bytes() != (again / n).read_bytes()]
    assert not differing, f"two releases of one checkout differ in {differing}"


def test_prebuilt_tools_run_on_old_glibc(release_dir, tmp_path):
    tools = archive_members(release_dir / TOOLS_ARCHIVE)
    assert sorted(tools) == sorted(release.TOOLS)
    needed = {}
    for name, data in tools.items():
        binary = tmp_path / name
        binary.write_bytes(data)
        binary.chmod(0o755)
        needed[name] = tuple(int(p) for p in release.glibc_needed(binary).split("."))
        # Outside the build root, on this machine's glibc.
        assert subprocess.run([binary, "--version"], capture_output=True, text=True).stdout == f"{name} {VERSION}\n"
    assert max(needed.values()) <= GLIBC_LIMIT, needed

    # The lock in the rules archive names the tools archive by URL and sha256, and the glibc it needs.
    lock = archive_members(release_dir / RULES_ARCHIVE)[f"rules_sematic-{VERSION}/private/prebuilt_tools.bzl"].decode()
    sha256 = hashlib.sha256((release_dir / TOOLS_ARCHIVE).read_bytes()).hexdigest()
    assert f'"sha256": "{sha256}"' in lock and f'"https://{PUBLISHED}/{TOOLS_ARCHIVE}"' in lock
    assert f'"glibc": "{".".join(map(str, max(needed.values())))}"' in lock


def consumer_workspace(tmp_path: Path, server: FileServer, release_dir: Path) -> Path:
    """tests/consumers/release, with rules_sematic overridden by the served release archive."""
    workspace = tmp_path / "consumer"
    shutil.copytree(REPO / "tests/consumers/release", workspace)
    source = (release_dir / "source.json").read_text()
    integrity = re.search(r'"integrity": "([^"]+)"', source).group(1)
    with (workspace / "MODULE.bazel").open("a") as module:
        module.write(f"""
archive_override(
    module_name = "rules_sematic",
    integrity = "{integrity}",
    strip_prefix = "rules_sematic-{VERSION}",
    urls = ["{server.url}/{RULES_ARCHIVE}"],
)
""")
    return workspace


def downloader_flags(tmp_path: Path, server: FileServer) -> list:
    """The published URLs go to the loopback server; everything else stays blocked. A
    repository cache of its own, so the tools are downloaded, not found in a cache."""
    config = tmp_path / "downloader.cfg"
    config.write_text(f"rewrite {re.escape(PUBLISHED)}/(.*) {server.url}/$1\n" + (caches() / "offline.cfg").read_text())
    return [f"--experimental_downloader_config={config}", f"--repository_cache={tmp_path / 'repository-cache'}"]


def without_cargo(tmp_path: Path) -> dict:
    """An environment in which no cargo can be found: another HOME and CARGO_HOME (the bazel
    wrapper puts $CARGO_HOME/bin on PATH), a PATH without rustup."""
    path = "/usr/local/bin:/usr/bin:/bin"
    assert shutil.which("cargo", path=path) is None
    env = {"HOME": str(tmp_path / "home"), "CARGO_HOME": str(tmp_path / "no-cargo"), "PATH": path,
           "RULES_SEMATIC_HOME": str(tmp_path / "rules-sematic-home")}
    os.makedirs(env["HOME"])
    return env


def test_release_builds_and_pushes_without_cargo(release_dir, file_server, make_registry, tmp_path):
    registry = make_registry()
    env = without_cargo(tmp_path)
    flags = downloader_flags(tmp_path, file_server)
    bazel = Bazel(consumer_workspace(tmp_path, file_server, release_dir), output_base=tmp_path / "output_base")
    try:
        pushed = bazel.run("run", *flags, "//:push", "--", "--repository", f"{registry.host}/release/greeting", env=env)
        built = bazel.run("cquery", *flags, "--output=files", "//:image", env=env).stdout.split()
        digest = (bazel.workspace / next(f for f in built if f.endswith(".digest"))).read_text()
        assert pushed.stdout.strip() == f"{registry.host}/release/greeting@{digest}"
        assert skopeo_copy_back(registry.host, f"release/greeting@{digest}", tmp_path / "pulled") == digest

        assert f"/{RULES_ARCHIVE}" in file_server.requests and f"/{TOOLS_ARCHIVE}" in file_server.requests
        assert not (tmp_path / "rules-sematic-home" / "cargo-target").exists(), "the tools were compiled"
        output_base = Path(bazel.run("info", "output_base", env=env).stdout.strip())
        tools_repository = next((output_base / "external").glob("*sematic~rules_sematic_tools"))
        released = archive_members(release_dir / TOOLS_ARCHIVE)
        assert all((tools_repository / name).read_bytes() == data for name, data in released.items())

        # Binaries of another version are refused, naming the binary, both versions and the fix.
        stale = tmp_path / "stale-tools"
        stale.mkdir()
        for name in release.TOOLS:
            (stale / name).write_text(f"#!/bin/sh\necho '{name} 0.0.1'\n")
            (stale / name).chmod(0o755)
        refused = bazel.run("build", *flags, "//:greeting", check=False,
                            env=dict(env, RULES_SEMATIC_PREBUILT_TOOLS=str(stale)))
        assert refused.returncode != 0
        errors = [line for line in refused.stderr.splitlines() if "rules_sematic:" in line]
        assert any(f"{stale}/sematic-image is version \"0.0.1\" but these rules are {VERSION}" in line
                   and "unset prebuilt_dir" in line for line in errors), refused.stderr[-3000:]
    finally:
        bazel.shutdown()
