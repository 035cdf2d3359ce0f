#!/usr/bin/env python3
"""Fills the Debian parts of the caches the test suites read instead of the network (run by
tools/bootstrap.sh), from the locks of rules_sematic's bases (images/*.lock.json):

  CACHES/repository/                 every .deb the locks list, in Bazel's repository cache
                                     (content_addressable/sha256/<sha256>/file): debian_image
                                     fetches them from there, offline
  CACHES/debian-mirror/              a file:// Debian mirror with what the lock command reads:
                                     dists/<suite>/InRelease and main/binary-<arch>/Packages.xz
                                     of each lock's suite and architectures

The mirror's files are fetched afresh from each lock's `mirror`, then the lock command's own
code (private/debian/lock.py) resolves every lock against them: a lock the archive no longer
reproduces is reported (update it with `bazel run @<name>//:lock`).

    fill_debian_test_caches.py --caches DIR [--keyring FILE]
"""

import argparse
import concurrent.futures
import hashlib
import json
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "private" / "debian"))

import lock  # noqa: E402
import resolve  # noqa: E402


def log(message):
    print(f"[fill_debian_test_caches] {message}", flush=True)


def store(path, data):
    """Writes `data` at `path` through a temporary name: never half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + f".{os.getpid()}")
    partial.write_bytes(data)
    partial.rename(path)


def fetch(url):
    data = lock.fetch(url)
    if data is None:
        raise lock.LockError(f"{url} not found")
    return data


def cache_deb(repository, mirror, package):
    """Puts one locked .deb in the repository cache; returns the bytes downloaded."""
    cached = repository / "content_addressable" / "sha256" / package["sha256"] / "file"
    if cached.exists():
        return 0
    url = f"{mirror}/{package['path']}"
    data = fetch(url)
    if hashlib.sha256(data).hexdigest() != package["sha256"]:
        raise lock.LockError(f"{url} does not match the sha256 of its lock")
    store(cached, data)
    return len(data)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--caches", type=Path, required=True)
    parser.add_argument("--keyring", default="/usr/share/keyrings/debian-archive-keyring.gpg")
    args = parser.parse_args()
    repository, mirror_root = args.caches / "repository", args.caches / "debian-mirror"
    locks = {path: json.loads(path.read_text()) for path in sorted((REPO / "images").glob("*.lock.json"))}
    try:
        fetched = set()
        for data in locks.values():
            source = data["mirror"].rstrip("/")
            wanted = [f"dists/{data['suite']}/InRelease"]
            wanted += [f"dists/{data['suite']}/main/binary-{arch}/Packages.xz" for arch in data["architectures"]]
            for path in wanted:
                if path not in fetched:
                    store(mirror_root / path, fetch(f"{source}/{path}"))
                    fetched.add(path)
        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            jobs = [pool.submit(cache_deb, repository, data["mirror"].rstrip("/"), package)
                    for data in locks.values() for packages in data["resolved"].values() for package in packages]
            downloaded = sum(job.result() for job in jobs)
        stale = []
        for path, data in locks.items():
            text, _ = lock.lock_text(data, mirror_root.as_uri(), args.keyring)
            if text != path.read_text():
                stale.append(path.name)
    except (lock.LockError, resolve.ResolveError) as error:
        raise SystemExit(f"fill_debian_test_caches: {error}") from None
    log(f"{len(fetched)} index files in {mirror_root}, {downloaded / 1e6:.0f} MB of packages added to {repository}")
    if stale:
        log(f"warning: the archive no longer gives {', '.join(stale)}: update them with `bazel run @<name>//:lock` "
            "(tests/e2e/test_debian_lock.py fails until then)")


if __name__ == "__main__":
    sys.exit(main())
