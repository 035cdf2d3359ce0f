"""Tiny real wheels and a PEP 503 simple index of them on disk (a `file://` URL Bazel's
downloader reads), for requirements tests that must not depend on PyPI: a distribution with a
wheel for one CPU only, a console script, a .data directory."""

import base64
import hashlib
import io
import zipfile
from pathlib import Path

from .bazel import consumer_module


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def make_wheel(directory: Path, name: str, version: str, tag: str, files: dict,
               requires=(), entry_points: str = "") -> Path:
    """Writes `<name>-<version>-<tag>.whl` holding `files` (path -> text or bytes) plus its dist-info."""
    dist_info = f"{name}-{version}.dist-info"
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    metadata += "".join(f"Requires-Dist: {r}\n" for r in requires)
    members = dict(files)
    members[f"{dist_info}/METADATA"] = metadata
    members[f"{dist_info}/WHEEL"] = f"Wheel-Version: 1.0\nGenerator: rules_sematic-tests\nRoot-Is-Purelib: {'true' if tag.endswith('none-any') else 'false'}\nTag: {tag}\n"
    if entry_points:
        members[f"{dist_info}/entry_points.txt"] = entry_points
    members = {path: content if isinstance(content, bytes) else content.encode() for path, content in members.items()}
    record = [f"{path},{_record_hash(data)},{len(data)}" for path, data in sorted(members.items())]
    record.append(f"{dist_info}/RECORD,,")
    members[f"{dist_info}/RECORD"] = ("\n".join(record) + "\n").encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path, data in sorted(members.items()):
            info = zipfile.ZipInfo(path, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    wheel = Path(directory) / f"{name}-{version}-{tag}.whl"
    wheel.parent.mkdir(parents=True, exist_ok=True)
    wheel.write_bytes(buffer.getvalue())
    return wheel


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def write_index(root: Path, wheels) -> str:
    """A simple index at `root` listing `wheels` by project; returns its `file://` URL."""
    root = Path(root)
    projects = {}
    for wheel in wheels:
        projects.setdefault(wheel.name.split("-")[0].replace("_", "-").lower(), []).append(wheel)
    for project, files in projects.items():
        page = root / project / "index.html"
        page.parent.mkdir(parents=True, exist_ok=True)
        links = "".join(f'<a href="{Path(w).resolve().as_uri()}#sha256={sha256(w)}">{w.name}</a><br/>\n' for w in files)
        page.write_text(f"<!DOCTYPE html>\n<html><body>\n{links}</body></html>\n")
    return root.resolve().as_uri()


def lock_line(name: str, version: str, wheels, marker: str = "") -> str:
    """One hash-pinned lock entry for `wheels` of `name==version`."""
    hashes = "".join(f" \\\n    --hash=sha256:{sha256(w)}" for w in wheels)
    return f"{name}=={version}{' ; ' + marker if marker else ''}{hashes}\n"


def index_workspace(workspace: Path, module: str, hub: str, index: str, build: str, sources: dict) -> None:
    """Writes a consumer workspace (this checkout as a module) whose hub `hub` reads the simple
    index `index` with the lock //:lock.txt, for Python 3.11 images: MODULE.bazel,
    WORKSPACE.bzlmod, BUILD.bazel holding `build`, and `sources` (file name -> text)."""
    extension = (f'sematic.requirements(name = "{hub}", python = "/usr/bin/python3.13", python_version = "3.11", '
                 f'requirements_lock = "//:lock.txt", index_url = "{index}")')
    workspace.mkdir(parents=True, exist_ok=True)
    (workspace / "MODULE.bazel").write_text(consumer_module(module, extension, [hub]))
    (workspace / "WORKSPACE.bzlmod").write_text("")
    (workspace / "BUILD.bazel").write_text(build)
    for name, text in sources.items():
        (workspace / name).write_text(text)
