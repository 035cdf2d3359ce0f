"""Writes a requirements lock's files list: for every pin, each file of that version whose sha256
the lock pins, by URL (wheels for Linux or any platform, and source distributions), read from the
project pages of PEP 503 simple indexes. Fetching then reads only this file: every download is
named by URL and sha256, so the repository cache, `--distdir` and a downloader-config mirror all
serve it, and no index page is read. `bazel run @<hub>//:lock` runs it in the workspace.

    lock_files.py --pip-wheel PIP.whl --lock LABEL=LOCK.txt=FILES.json [--lock ...]
        [--index-url URL] [--extra-index-url URL ...] [--check]

Paths are relative to the current directory (the workspace under `bazel run`). The index is
--index-url, else $PIP_INDEX_URL, else PyPI; credentials for an index come from ~/.netrc and
are never written. --check writes nothing and fails if a files list differs from what it would
write.
"""

import argparse
import concurrent.futures
import hashlib
import html.parser
import json
import netrc
import os
import sys
import urllib.parse
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import targets  # noqa: E402

DEFAULT_INDEX_URL = "https://pypi.org/simple"
COMMENT = "Written by `bazel run {command}` from {label}: the files of each pin by URL and sha256. Do not edit."

# Wheels only for these platforms are left out: images and hosts are Linux.
_FOREIGN_PLATFORMS = ("win", "macosx", "ios", "android")


class _Links(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.links = []

    def handle_starttag(self, tag, attrs):
        if tag == "a" and dict(attrs).get("href"):
            self.links.append(dict(attrs))


def _opener(url):
    """A urllib opener with the ~/.netrc credentials of `url`'s host, if any."""
    handlers = []
    host = urllib.parse.urlsplit(url).hostname
    try:
        found = netrc.netrc().authenticators(host) if host else None
    except (FileNotFoundError, netrc.NetrcParseError):
        found = None
    if found:
        manager = urllib.request.HTTPPasswordMgrWithDefaultRealm()
        manager.add_password(None, url, found[0], found[2])
        handlers.append(urllib.request.HTTPBasicAuthHandler(manager))
    return urllib.request.build_opener(*handlers)


def _read(url, missing_ok=False):
    request = urllib.request.Request(url, headers={"Accept": "text/html"})
    try:
        with _opener(url).open(request, timeout=120) as response:
            return response.read()
    except urllib.error.HTTPError as error:
        if missing_ok and error.code == 404:
            return None
        targets.die(f"{_public(url)}: HTTP {error.code} {error.reason}")
    except (OSError, urllib.error.URLError) as error:
        reason = getattr(error, "reason", error)
        if missing_ok and isinstance(reason, FileNotFoundError):
            return None
        targets.die(f"{_public(url)}: {reason}")


def _public(url):
    """`url` without credentials: what may be printed or written."""
    parts = urllib.parse.urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc)) if parts.username else url


def project_files(index_urls, name):
    """{filename: {"url", "sha256" (or None), "requires_python" (or None)}} of `name`'s project
    pages; the main index must have the project, extra ones may not."""
    files = {}
    for position, index_url in enumerate(index_urls):
        page_url = f"{index_url.rstrip('/')}/{name.replace('_', '-')}/"
        # A directory on disk serves the page as index.html, as pip reads it.
        page = _read(page_url + ("index.html" if page_url.startswith("file:") else ""), missing_ok=position > 0)
        if page is None:
            continue
        parser = _Links()
        parser.feed(page.decode("utf-8", "replace"))
        for link in parser.links:
            url, _, fragment = urllib.parse.urljoin(page_url, link["href"]).partition("#")
            filename = urllib.parse.unquote(url.rsplit("/", 1)[-1])
            digest = dict(p.split("=", 1) for p in fragment.split("&") if "=" in p).get("sha256")
            files.setdefault(filename, {"url": _public(url), "sha256": digest,
                                        "requires_python": link.get("data-requires-python")})
    return files


def _linux_or_any(filename):
    if not filename.endswith(".whl"):
        return True
    platforms = filename[: -len(".whl")].split("-")[-1].split(".")
    return not all(p.startswith(_FOREIGN_PLATFORMS) for p in platforms)


def _sha256_of(url):
    """The sha256 of a file whose index gives none: it is downloaded once and hashed."""
    digest = hashlib.sha256()
    try:
        with _opener(url).open(url, timeout=600) as response:
            for chunk in iter(lambda: response.read(1 << 20), b""):
                digest.update(chunk)
    except (OSError, urllib.error.URLError) as error:
        targets.die(f"{_public(url)}: {getattr(error, 'reason', error)} (the index gives no sha256 for it)")
    return digest.hexdigest()


def pin_files(index_urls, pin, label):
    """The files of `pin` whose sha256 the lock pins, sorted by URL; fails if one of the
    lock's hashes is on no index."""
    import select_wheel

    found = select_wheel.release_files(pin.name, pin.version, project_files(index_urls, pin.name))
    chosen = []
    for filename, entry, _ in found:
        if not _linux_or_any(filename):
            continue
        sha256 = entry["sha256"] or _sha256_of(entry["url"])
        if sha256 in pin.hashes:
            chosen.append({"url": entry["url"], "sha256": sha256, "requires_python": entry["requires_python"]})
    absent = sorted(set(pin.hashes) - {f["sha256"] for f in chosen} - _foreign_hashes(found, pin.hashes))
    if absent:
        targets.die(f"{label}: {pin.name}=={pin.version} pins sha256 {', '.join(absent)}, which no file of it on "
                    f"{', '.join(map(_public, index_urls))} has: the lock was edited, or made from another index; "
                    "regenerate it (uv pip compile --generate-hashes)")
    return sorted(chosen, key=lambda f: f["url"].rsplit("/", 1)[-1])


def _foreign_hashes(found, hashes):
    """The lock's hashes of Windows and macOS wheels: pinned, but never fetched here."""
    return {e["sha256"] for f, e, _ in found if not _linux_or_any(f) and e["sha256"] in hashes}


def render(files, label, command):
    """The files list as text: sorted, one file per line, so a change reads as a small diff."""
    lines = ["{", f'  "comment": {json.dumps(COMMENT.format(command=command, label=label))},', '  "files": {']
    pins = sorted(files)
    for index, key in enumerate(pins):
        entries = [json.dumps({k: v for k, v in f.items() if v is not None}, sort_keys=True) for f in files[key]]
        body = ",\n".join(f"      {entry}" for entry in entries)
        lines.append(f"    {json.dumps(key)}: [\n{body}\n    ]{',' if index < len(pins) - 1 else ''}")
    lines += ["  }", "}"]
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pip-wheel", type=Path, required=True)
    parser.add_argument("--lock", action="append", required=True, help="LABEL=LOCK.txt=FILES.json")
    parser.add_argument("--command", default="@pypi//:lock", help="how users run this, for the comment")
    parser.add_argument("--index-url")
    parser.add_argument("--extra-index-url", action="append", default=[])
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    targets.use_pip_wheel(args.pip_wheel.resolve())
    # Under `bazel run`, the paths are the workspace's.
    os.chdir(os.environ.get("BUILD_WORKSPACE_DIRECTORY") or ".")
    primary = args.index_url or os.environ.get("PIP_INDEX_URL") or DEFAULT_INDEX_URL
    index_urls = [primary] + [u for u in args.extra_index_url if u != primary]
    stale = []
    for entry in args.lock:
        if entry.count("=") < 2:
            targets.die(f"--lock {entry!r} is not LABEL=LOCK.txt=FILES.json")
        label, lock, output = entry.split("=", 2)
        pins = targets.read_lock(Path(lock), label)
        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            results = pool.map(lambda pin: (f"{pin.name}=={pin.version}", pin_files(index_urls, pin, label)), pins)
            files = dict(results)
        text = render(files, label, args.command)
        path = Path(output)
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(output)
            continue
        partial = path.with_name(f".{path.name}.{os.getpid()}")
        partial.write_text(text, encoding="utf-8")
        partial.replace(path)
        print(f"wrote {output}: {len(files)} pins, {sum(len(f) for f in files.values())} files")
    if stale:
        targets.die(f"{', '.join(stale)} {'is' if len(stale) == 1 else 'are'} not what the lock and the index "
                    f"give: run `bazel run {args.command}` and commit the result")


if __name__ == "__main__":
    main()
