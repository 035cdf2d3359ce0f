#!/usr/bin/env python3
"""Fills the caches the test suites read instead of the network (run by tools/bootstrap.sh):

  CACHES/pypi/<project>/index.html   the PyPI project page of every distribution of the
                                     examples' lock (and pip), as a PEP 503 index on disk; the
                                     tests point PIP_INDEX_URL at it
  CACHES/repository/                 a Bazel repository cache holding the wheels those pages
                                     list for the tests' targets (CPython 3.9/3.11/3.13 on
                                     linux x86_64/aarch64, pure-Python): Bazel takes a file
                                     from it by sha256 before it would download anything
  CACHES/offline.bazelrc             the Bazel options of the tests: that repository cache,
                                     and a downloader config that allows loopback hosts only,
                                     so a test that would reach the network fails instead

The Debian bases' packages and archive index are filled by tools/fill_debian_test_caches.py.

    fill_test_caches.py --caches DIR [--lock FILE ...]
"""

import argparse
import concurrent.futures
import hashlib
import html.parser
import os
import re
import sys
import urllib.parse
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "private" / "pypi"))
import targets  # noqa: E402

# The interpreters and CPUs the tests build for, as wheel tags allow them.
PYTHONS = {"py3", "py2", "cp39", "cp311", "cp313"}
MACHINES = ("x86_64", "aarch64")


def log(message):
    print(f"[fill_test_caches] {message}", flush=True)


def lock_pins(path):
    """{(project, version): {sha256, ...}} of a hash-pinned lock, read by the parser the
    requirements repositories use (this runs before pip, which that parser's validation needs,
    is available: the lines are split here)."""
    pins = {}
    for line in targets.logical_lines(Path(path).read_text(encoding="utf-8")):
        if line.startswith("-"):
            continue
        name, version = line.split(";")[0].split()[0].split("==", 1)
        # PEP 503 project page names use '-'.
        key = (targets.normalize(name.split("[")[0]).replace("_", "-"), version.lstrip("="))
        pins.setdefault(key, set()).update(w.split(":", 1)[1] for w in line.split() if w.startswith("--hash=sha256:"))
    return pins


def pip_wheel():
    """(URL, sha256) of pip's pinned wheel, as private/pypi/pip.bzl names it."""
    text = (REPO / "private" / "pypi" / "pip.bzl").read_text()
    url = re.search(r'url = "(https://[^"]+/pip-[0-9.]+-py3-none-any.whl)"', text).group(1)
    return url, re.search(r'sha256 = "([0-9a-f]{64})"', text).group(1)


def pip_pin():
    """pip's pinned wheel as a lock pin."""
    url, sha256 = pip_wheel()
    return ("pip", re.search(r"/pip-([0-9.]+)-py3", url).group(1)), {sha256}


class Links(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.hrefs = []

    def handle_starttag(self, tag, attrs):
        if tag == "a" and dict(attrs).get("href"):
            self.hrefs.append(dict(attrs)["href"])


def wanted(filename, version):
    """Whether a file is a wheel of `version` some test target could choose."""
    parts = filename[: -len(".whl")].split("-")
    if not filename.endswith(".whl") or len(parts) < 5 or parts[1] != version:
        return False
    pythons, abis, platforms = parts[-3].split("."), parts[-2].split("."), parts[-1].split(".")
    python_ok = bool(PYTHONS & set(pythons)) or ("abi3" in abis and any(p.startswith("cp3") for p in pythons))
    platform_ok = "any" in platforms or any(p.startswith("manylinux") and p.endswith(MACHINES) for p in platforms)
    return python_ok and platform_ok


def fetch(url, destination):
    with urllib.request.urlopen(url, timeout=120) as response:
        data = response.read()
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(destination.name + f".{os.getpid()}")
    partial.write_bytes(data)
    partial.rename(destination)
    return data


def mirror_project(index_url, pypi, repository, project, versions):
    """Saves the project page; puts the wanted wheels of `versions` ({version: hashes}) in the
    repository cache. Returns the bytes downloaded."""
    page_url = f"{index_url.rstrip('/')}/{project}/"
    page = pypi / project / "index.html"
    parser = Links()
    parser.feed(fetch(page_url, page).decode("utf-8", "replace"))
    downloaded = 0
    for href in parser.hrefs:
        url, _, fragment = urllib.parse.urljoin(page_url, href).partition("#")
        digest = dict(p.split("=", 1) for p in fragment.split("&") if "=" in p).get("sha256")
        filename = urllib.parse.unquote(url.rsplit("/", 1)[-1])
        if not any(digest in hashes and wanted(filename, version) for version, hashes in versions.items()):
            continue
        cached = repository / "content_addressable" / "sha256" / digest / "file"
        if cached.exists():
            continue
        data = fetch(url, cached)
        if hashlib.sha256(data).hexdigest() != digest:
            cached.unlink()
            raise SystemExit(f"fill_test_caches: {url} does not match its sha256 {digest}")
        downloaded += len(data)
    return downloaded


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--caches", type=Path, required=True)
    parser.add_argument("--lock", type=Path, action="append", default=[REPO / "examples" / "requirements_lock.txt"])
    args = parser.parse_args()
    index_url = os.environ.get("PIP_INDEX_URL", "https://pypi.org/simple")
    projects = {}  # project -> {version: hashes}
    for (project, version), hashes in [*(p for lock in args.lock for p in lock_pins(lock).items()), pip_pin()]:
        projects.setdefault(project, {}).setdefault(version, set()).update(hashes)
    pypi, repository = args.caches / "pypi", args.caches / "repository"
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        jobs = [pool.submit(mirror_project, index_url, pypi, repository, project, versions)
                for project, versions in sorted(projects.items())]
        total = sum(job.result() for job in jobs)
    # Every URL but a loopback one is rewritten to a blocked host: tests reach only their own
    # servers (and file:// URLs). (`block *` would block loopback too, whatever `allow` says.)
    (args.caches / "offline.cfg").write_text(
        "# Bazel downloader config of the tests: only loopback hosts are reachable.\n"
        "rewrite ^((?!127\\.0\\.0\\.1[:/]|localhost[:/]).*)$ network-blocked-by-rules-sematic-tests.invalid/$1\n"
        "block network-blocked-by-rules-sematic-tests.invalid\n")
    (args.caches / "offline.bazelrc").write_text(
        "# Written by tools/fill_test_caches.py: what the tests' Bazel invocations read.\n"
        f"common --repository_cache={repository}\n"
        f"common --experimental_downloader_config={args.caches / 'offline.cfg'}\n")
    log(f"{len(projects)} projects mirrored in {pypi}, {total / 1e6:.0f} MB of wheels added to {repository}")


if __name__ == "__main__":
    sys.exit(main())
