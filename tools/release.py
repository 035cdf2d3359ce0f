#!/usr/bin/env python3
"""Makes a release of rules_sematic: the rule set's archive and the prebuilt tools' archives.

    tools/release.py build --out DIR [--url-base URL] [--allow-dirty]
    tools/release.py prepare-root --mirror URL     (tools/bootstrap.sh runs it)

`build` writes into DIR:

  sematic-tools-<version>-linux_x86_64.tar.gz  the tools, compiled in a Debian bullseye root
                                                (tools/release_root.py): glibc >= 2.31 suffices
  rules_sematic-<version>.tar.gz               the checkout's files under rules_sematic-<version>/,
                                                with private/prebuilt_tools.bzl listing the tool
                                                archives (URL + sha256 per platform), so the
                                                module extension downloads them instead of
                                                running cargo
  source.json                                  the Bazel Central Registry entry's source (URL,
                                                integrity, strip_prefix) of that archive
  SHA256SUMS, BUILD-ENVIRONMENT                checksums; the compiler and library versions

The archives are reproducible: sorted entries, fixed mtimes and owners, gzip without a name or
time. URL is where DIR's files will be published (default: the GitHub release of tag
v<version> of $GITHUB_REPOSITORY). Only linux_x86_64 is built: rustup here has no other
target, and Debian's cross standard library matches only Debian's own rustc (README).
"""

import argparse
import base64
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

from release_root import ReleaseError, compile_tools, prepare_root, root_dir, root_glibc, root_packages

REPO = Path(__file__).resolve().parents[1]
TOOLS = ("sematic-image", "sematic-index", "sematic-launch", "sematic-layer", "sematic-load", "sematic-pull",
         "sematic-push", "sematic-tarball")
PLATFORM = "linux_x86_64"
LOCK = "private/prebuilt_tools.bzl"


def version() -> str:
    """The version the checkout declares, once in each of the three places that say it."""
    declared = {
        "private/version.bzl": re.search(r'^VERSION = "([^"]+)"', (REPO / "private/version.bzl").read_text(), re.M),
        "MODULE.bazel": re.search(r'module\([^)]*?version = "([^"]+)"', (REPO / "MODULE.bazel").read_text(), re.S),
        "tools/Cargo.toml": re.search(r'\[workspace\.package\]\s+version = "([^"]+)"', (REPO / "tools/Cargo.toml").read_text()),
    }
    found = {path: match.group(1) if match else None for path, match in declared.items()}
    if len(set(found.values())) != 1 or None in found.values():
        listing = ", ".join(f"{path}: {value or 'none'}" for path, value in found.items())
        raise ReleaseError(f"the version is not the same everywhere ({listing}): set the same one in all three")
    return found["private/version.bzl"]


def source_files(allow_dirty: bool) -> list:
    """The checkout's files a release holds: tracked ones (and, with allow_dirty, untracked
    ones git does not ignore), as repository-relative paths."""
    def git(*args):
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, check=True).stdout

    if not allow_dirty and git("status", "--porcelain").strip():
        raise ReleaseError("the checkout has uncommitted changes: commit them, or pass --allow-dirty for a test release")
    listed = git("ls-files", "-z") + (git("ls-files", "-z", "--others", "--exclude-standard") if allow_dirty else b"")
    names = (name for name in listed.decode().split("\0") if name)
    return sorted({name for name in names if (REPO / name).is_symlink() or (REPO / name).is_file()})


def write_tar_gz(path: Path, entries) -> str:
    """Writes a reproducible .tar.gz of entries (name, mode, bytes, or None and a symlink
    target); returns its sha256."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, mode, data, link in sorted(entries, key=lambda entry: entry[0]):
            info = tarfile.TarInfo(name)
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
            if link is not None:
                info.type, info.linkname, info.mode = tarfile.SYMTYPE, link, 0o777
                tar.addfile(info)
            else:
                info.mode, info.size = mode, len(data)
                tar.addfile(info, io.BytesIO(data))
    with path.open("wb") as out, gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=9) as gz:
        gz.write(raw.getvalue())
    return hashlib.sha256(path.read_bytes()).hexdigest()


def glibc_needed(binary: Path) -> str:
    """The newest GLIBC_x.y symbol version the binary asks the dynamic linker for."""
    dump = subprocess.run(["objdump", "-T", str(binary)], capture_output=True, text=True, check=True).stdout
    versions = {tuple(int(part) for part in v.split(".")) for v in re.findall(r"\bGLIBC_([0-9.]+)\b", dump)}
    return ".".join(map(str, max(versions))) if versions else "0"


def check_binaries(staging: Path, release_version: str, glibc_limit: str) -> str:
    """Runs each binary here (`--version` must be this release's) and checks the glibc it
    needs; returns the newest glibc any of them needs."""
    def as_tuple(text):
        return tuple(int(part) for part in text.split("."))

    needed = "0"
    for tool in TOOLS:
        binary = staging / tool
        reported = subprocess.run([str(binary), "--version"], capture_output=True, text=True).stdout.strip()
        if reported != f"{tool} {release_version}":
            raise ReleaseError(f"{binary} reports {reported!r}, not '{tool} {release_version}': a stale build? remove the release target directory and retry")
        tool_glibc = glibc_needed(binary)
        if as_tuple(tool_glibc) > as_tuple(glibc_limit):
            raise ReleaseError(f"{binary} needs GLIBC_{tool_glibc}, newer than the release root's {glibc_limit}: it was not linked in the root")
        needed = max(needed, tool_glibc, key=as_tuple)
    return needed


def lock_text(release_version: str, archives: dict) -> str:
    """private/prebuilt_tools.bzl of the release: the checkout's docstring, then the archives."""
    docstring = (REPO / LOCK).read_text().split("PREBUILT_TOOLS = ", 1)[0]
    body = json.dumps({"archives": archives, "version": release_version}, indent=4, sort_keys=True)
    return f"{docstring}PREBUILT_TOOLS = {body}\n"


def build(destination: Path, url_base: str, allow_dirty: bool) -> None:
    """Writes the release into destination, replacing it only once every file is complete."""
    release_version = version()
    files = source_files(allow_dirty)
    out = destination.with_name(destination.name + ".partial")
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    try:
        summary = assemble(out, release_version, files, url_base)
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise
    shutil.rmtree(destination, ignore_errors=True)
    out.rename(destination)
    print(json.dumps(summary, indent=2))


def assemble(out: Path, release_version: str, files: list, url_base: str) -> dict:
    """Compiles the tools and writes every release file into out; returns a summary."""
    staging = out / ".staging" / PLATFORM
    compile_tools(REPO / "tools", staging, TOOLS)
    root = root_dir()
    glibc = check_binaries(staging, release_version, root_glibc(root))

    tools_name = f"sematic-tools-{release_version}-{PLATFORM}.tar.gz"
    tools_sha256 = write_tar_gz(out / tools_name, [(tool, 0o755, (staging / tool).read_bytes(), None) for tool in TOOLS])
    archives = {PLATFORM: {"glibc": glibc, "sha256": tools_sha256, "urls": [f"{url_base}/{tools_name}"]}}

    prefix = f"rules_sematic-{release_version}"
    entries = []
    for name in files:
        path = REPO / name
        if path.is_symlink():
            entries.append((f"{prefix}/{name}", 0o777, None, str(path.readlink())))
        else:
            data = lock_text(release_version, archives).encode() if name == LOCK else path.read_bytes()
            entries.append((f"{prefix}/{name}", 0o755 if path.stat().st_mode & 0o100 else 0o644, data, None))
    rules_name = f"{prefix}.tar.gz"
    rules_sha256 = write_tar_gz(out / rules_name, entries)

    integrity = "sha256-" + base64.b64encode(bytes.fromhex(rules_sha256)).decode()
    source = {"integrity": integrity, "strip_prefix": prefix, "url": f"{url_base}/{rules_name}"}
    (out / "source.json").write_text(json.dumps(source, indent=4, sort_keys=True) + "\n")
    (out / "SHA256SUMS").write_text(f"{rules_sha256}  {rules_name}\n{tools_sha256}  {tools_name}\n")
    rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True, check=True).stdout
    (out / "BUILD-ENVIRONMENT").write_text(
        f"rules_sematic {release_version}\n{rustc}Debian {root.name} root:\n{root_packages(root)}"
        f"{PLATFORM} tools need glibc >= {glibc}\n")
    shutil.rmtree(out / ".staging")
    return {"version": release_version, "rules_archive": rules_name, "integrity": integrity, "tools": archives}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    build_parser = commands.add_parser("build", help="build the release archives")
    build_parser.add_argument("--out", type=Path, required=True, help="directory for the release files")
    build_parser.add_argument("--url-base", help="URL the release files are published under")
    build_parser.add_argument("--allow-dirty", action="store_true", help="release uncommitted changes (tests)")
    root_parser = commands.add_parser("prepare-root", help="create the Debian root the tools compile in")
    root_parser.add_argument("--mirror", required=True, help="Debian archive URL")
    args = parser.parse_args()
    try:
        if args.command == "prepare-root":
            print(prepare_root(args.mirror))
            return 0
        url_base = args.url_base
        if not url_base:
            repository = os.environ.get("GITHUB_REPOSITORY")
            if not repository:
                raise ReleaseError("give --url-base URL (where the release files will be published) or set $GITHUB_REPOSITORY")
            url_base = f"https://github.com/{repository}/releases/download/v{version()}"
        build(args.out.resolve(), url_base.rstrip("/"), args.allow_dirty)
        return 0
    except ReleaseError as err:
        print(f"tools/release.py: error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
