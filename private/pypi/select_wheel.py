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


def candidates(name, version, hashes, files):
    """[(filename, entry, tags)] of the pinned version's wheels the lock's hashes allow."""
    from pip._vendor.packaging.utils import InvalidWheelFilename, parse_wheel_filename
    from pip._vendor.packaging.version import Version

    found = []
    for filename, entry in sorted(files.items()):
        if not filename.endswith(".whl"):
            continue
        try:
            wheel_name, wheel_version, _, tags = parse_wheel_filename(filename)
        except InvalidWheelFilename:
            continue
        if targets.normalize(wheel_name) != name or wheel_version != Version(version):
            continue
        if entry["sha256"] is not None and entry["sha256"] not in hashes:
            continue
        found.append((filename, entry, tags))
    return found


def best(found, target):
    """The candidate whose best tag ranks first for `target`, or None."""
    from pip._vendor.packaging.specifiers import SpecifierSet

    rank = {tag: i for i, tag in enumerate(target.tags)}
    chosen = None
    for filename, entry, tags in found:
        requires = entry.get("requires_python")
        full = target.environment.get("python_full_version")
        if requires and full and not SpecifierSet(requires).contains(full, prereleases=True):
            continue
        score = min((rank[t] for t in tags if t in rank), default=None)
        if score is not None and (chosen is None or score < chosen[0]):
            chosen = (score, filename, entry)
    return chosen and chosen[1:]


def missing_message(name, version, found, target, index_urls):
    offered = ", ".join(f for f, _, _ in found[:4]) + (", ..." if len(found) > 4 else "")
    fix = "pin a version of it that publishes such a wheel, or drop this platform"
    if target.libc and target.libc[0] == "glibc":
        newer = "glibc %d.%d" % (target.libc[1], target.libc[2] + 3)
        fix += (f"; if the images' bases have a newer glibc than {target.libc[1]}.{target.libc[2]}, "
                f"raise libc (e.g. libc = \"{newer}\")")
    pure = [str(t) for t in target.tags if str(t) == "py3-none-any"]
    tags = f"{target.tags[0]} down to {(pure or [target.tags[-1]])[0]}" if target.tags else "none"
    return (f"no wheel of {name}=={version} fits {target.describe()} (accepted tags {tags}; "
            f"{', '.join(index_urls)} has {offered or 'no wheel with a hash the lock pins'}): {fix}")


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
    found = candidates(args.name, args.version, set(args.hashes), index_files(pages))
    target = targets.target_of(args.target, args.libc)
    chosen = best(found, target)
    if chosen is None:
        result = {"missing": missing_message(args.name, args.version, found, target,
                                             sorted({url.rsplit("/", 2)[0] for url, _ in pages}))}
    else:
        filename, entry = chosen
        shared = best(found, targets.any_target())
        result = {"filename": filename, "urls": entry["urls"], "sha256": entry["sha256"] or "",
                  "shared": bool(shared) and shared[0] == filename}
    args.output.write_text(json.dumps(result, indent=1, sort_keys=True), encoding="utf-8")


if __name__ == "__main__":
    main()
