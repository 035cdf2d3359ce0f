"""Chooses the wheel of one pinned distribution for one target, from the project pages of
PEP 503 simple indexes, among the files whose sha256 the lock pins:

    select_wheel.py --pip-wheel PIP.whl --name N --version V --hash H [--hash ...]
        --target cp311_x86_64|host|any --libc "glibc 2.28"
        --page-url URL --page-file FILE [--page-url URL --page-file FILE ...] --output WHEEL.json

WHEEL.json is {"filename", "urls", "sha256", "shared"} for the chosen wheel (`shared`: it is
the pure-Python wheel the `any` target would choose, so the caller can reuse that repository),
or {"missing": message} when no file fits, naming the distribution, the target, the tags and
the fix. Source distributions are never chosen: building one would run its code.
"""

import argparse
import html.parser
import json
import sys
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import targets  # noqa: E402


class _Links(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.links = []
        self._current = None

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self._current = dict(attrs)

    def handle_endtag(self, tag):
        if tag == "a" and self._current is not None:
            self.links.append(self._current)
            self._current = None


def index_files(pages):
    """{filename: {"urls": [...], "sha256": hex or None, "requires_python": str or None}}."""
    files = {}
    for page_url, path in pages:
        parser = _Links()
        parser.feed(Path(path).read_text(encoding="utf-8", errors="replace"))
        for link in parser.links:
            if not link.get("href"):
                continue
            url, _, fragment = urllib.parse.urljoin(page_url, link["href"]).partition("#")
            filename = urllib.parse.unquote(url.rsplit("/", 1)[-1])
            digest = dict(p.split("=", 1) for p in fragment.split("&") if "=" in p).get("sha256")
            entry = files.setdefault(filename, {"urls": [], "sha256": digest,
                                                "requires_python": link.get("data-requires-python")})
            entry["urls"].append(url)
    return files


def release_files(name, version, files):
    """The files of `name==version` an index offers: [(filename, entry, tags or None)], tags
    None for a source distribution."""
    from pip._vendor.packaging.utils import (InvalidSdistFilename, InvalidWheelFilename,
                                             parse_sdist_filename, parse_wheel_filename)
    from pip._vendor.packaging.version import InvalidVersion, Version

    found = []
    for filename, entry in sorted(files.items()):
        try:
            if filename.endswith(".whl"):
                file_name, file_version, _, tags = parse_wheel_filename(filename)
            else:
                (file_name, file_version), tags = parse_sdist_filename(filename), None
        except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion):
            continue
        if targets.normalize(file_name) == name and file_version == Version(version):
            found.append((filename, entry, tags))
    return found


def pinned(found, hashes):
    """The files of `found` the lock's hashes allow (an index that gives no sha256 is checked
    when the file is downloaded)."""
    return [f for f in found if f[1]["sha256"] is None or f[1]["sha256"] in hashes]


def best(found, target):
    """The wheel whose best tag ranks first for `target`, or None."""
    from pip._vendor.packaging.specifiers import SpecifierSet

    rank = {tag: i for i, tag in enumerate(target.tags)}
    chosen = None
    for filename, entry, tags in found:
        if tags is None:
            continue  # a source distribution: never built
        requires = entry.get("requires_python")
        full = target.environment.get("python_full_version")
        if requires and full and not SpecifierSet(requires).contains(full, prereleases=True):
            continue
        score = min((rank[t] for t in tags if t in rank), default=None)
        if score is not None and (chosen is None or score < chosen[0]):
            chosen = (score, filename, entry)
    return chosen and chosen[1:]


def _listed(names, limit=4):
    return ", ".join(names[:limit]) + (f" and {len(names) - limit} more" if len(names) > limit else "")


def missing_message(name, version, hashes, found, target, index_urls):
    """Why no file of `name==version` fits `target`, and what to do: one line."""
    pin = f"{name}=={version}"
    where = ", ".join(index_urls) or "the index"
    allowed = pinned(found, hashes)
    other_bytes = [f for f in found if f not in allowed]
    wheels = [f for f in allowed if f[2] is not None]
    sdists = [f for f in allowed if f[2] is None]
    prefix = f"no file of {pin} fits {target.describe()}: "
    if other_bytes and not wheels:
        # What a lock edited by hand (or a tampered index) looks like: say both hashes.
        offered = "; ".join(f"{f} has sha256 {e['sha256']}" for f, e, _ in other_bytes[:3])
        return (prefix + f"the lock pins sha256 {', '.join(sorted(hashes))} but on {where} "
                f"{offered}{' (and more)' if len(other_bytes) > 3 else ''}: the lock was edited or "
                "the index serves other bytes than the lock was made from; regenerate the lock "
                "from a trusted index (uv pip compile --generate-hashes)")
    if sdists and not wheels:
        return (prefix + f"only a source distribution of it exists ({_listed([f for f, _, _ in sdists])}) "
                "and rules_sematic never builds one (building runs the package's own code): build a "
                f"wheel of {name} and serve it from your own index (extra_index_urls), or drop {name} "
                "from the requirements")
    if not wheels:
        return (prefix + f"{where} has no file of it with a sha256 the lock pins "
                f"({', '.join(h[:12] for h in sorted(hashes))}): check the index, or regenerate the lock")
    fix = "pin a version of it that publishes such a wheel, or drop this platform"
    if target.libc and target.libc[0] == "glibc":
        newer = "glibc %d.%d" % (target.libc[1], target.libc[2] + 3)
        fix += (f"; if the images' bases have a newer glibc than {target.libc[1]}.{target.libc[2]}, "
                f"raise libc (e.g. libc = \"{newer}\")")
    pure = [str(t) for t in target.tags if str(t) == "py3-none-any"]
    tags = f"{target.tags[0]} down to {(pure or [target.tags[-1]])[0]}" if target.tags else "none"
    return (prefix + f"no wheel with accepted tags ({tags}); {where} has "
            f"{_listed([f for f, _, _ in wheels])} with a sha256 the lock pins: {fix}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pip-wheel", type=Path, required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--version", required=True)
    parser.add_argument("--hash", action="append", default=[], dest="hashes")
    parser.add_argument("--target", required=True)
    parser.add_argument("--libc", required=True)
    parser.add_argument("--page-url", action="append", default=[], help="a project page's URL")
    parser.add_argument("--page-file", action="append", default=[], help="...downloaded here")
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args()
    targets.use_pip_wheel(args.pip_wheel)

    pages = list(zip(args.page_url, args.page_file))
    hashes = set(args.hashes)
    found = release_files(args.name, args.version, index_files(pages))
    target = targets.target_of(args.target, args.libc)
    chosen = best(pinned(found, hashes), target)
    if chosen is None:
        result = {"missing": missing_message(args.name, args.version, hashes, found, target,
                                             sorted({url.rsplit("/", 2)[0] for url, _ in pages}))}
    else:
        filename, entry = chosen
        shared = best(pinned(found, hashes), targets.any_target())
        result = {"filename": filename, "urls": entry["urls"], "sha256": entry["sha256"] or "",
                  "shared": bool(shared) and shared[0] == filename}
    args.output.write_text(json.dumps(result, indent=1, sort_keys=True), encoding="utf-8")


if __name__ == "__main__":
    main()
