"""Chooses the file of one pinned distribution for one target, among the files of the pin that
the requirements' files list names (lock_files.py wrote it from the index) and whose sha256 the
lock pins:

    select_wheel.py --pip-wheel PIP.whl --name N --version V --hash H [--hash ...]
        --target cp311_x86_64|host|any --libc "glibc 2.28" --files FILES.json --source LABEL
        --output WHEEL.json

FILES.json is the pin's list from the files list, [{"url", "sha256", "requires_python"?}].
WHEEL.json is {"filename", "urls", "sha256", "shared"} for the chosen wheel (`shared`: it is
the pure-Python wheel the `any` target would choose, so the caller can reuse that repository),
or {"missing": message} when no file fits, naming the distribution, the target and why (both
hashes for a lock edited by hand, only a source distribution, the accepted tags). Source
distributions are never chosen: building one would run its code.
"""

import argparse
import json
import sys
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import targets  # noqa: E402


def listed_files(entries):
    """{filename: entry} of a pin's files list entries."""
    return {urllib.parse.unquote(e["url"].rsplit("/", 1)[-1]): {
        "urls": [e["url"]], "sha256": e["sha256"], "requires_python": e.get("requires_python")} for e in entries}


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


def missing_message(name, version, hashes, found, target, source, command):
    """Why no file of `name==version` fits `target`, and what to do: one line. `found` is what
    the files list `source` names; `command` rewrites it."""
    prefix = f"no file of {name}=={version} fits {target.describe()}: "
    allowed = pinned(found, hashes)
    other_bytes = [f for f in found if f not in allowed]
    wheels = [f for f in allowed if f[2] is not None]
    sdists = [f for f in allowed if f[2] is None]
    unlisted = sorted(set(hashes) - {e["sha256"] for _, e, _ in found})
    if other_bytes and not wheels:
        # What a lock edited by hand (or a tampered files list) looks like: say both hashes.
        listed = "; ".join(f"{f} has sha256 {e['sha256']}" for f, e, _ in other_bytes[:3])
        return (prefix + f"the lock pins sha256 {', '.join(sorted(hashes))} but in {source} {listed}"
                f"{' (and more)' if len(other_bytes) > 3 else ''}: the lock was edited, or the files list is "
                f"stale; regenerate the lock from a trusted index (uv pip compile --generate-hashes), then run "
                f"`bazel run {command}`")
    if sdists and not wheels:
        return (prefix + f"only a source distribution of it exists ({_listed([f for f, _, _ in sdists])}) "
                "and rules_sematic never builds one (building runs the package's own code): build a "
                f"wheel of {name} and serve it from your own index (extra_index_urls), or drop {name} "
                "from the requirements")
    if not wheels:
        return prefix + f"{source} lists no file of it that the lock pins: run `bazel run {command}`"
    fix = "pin a version of it that publishes such a wheel, or drop this platform"
    if target.libc and target.libc[0] == "glibc":
        newer = "glibc %d.%d" % (target.libc[1], target.libc[2] + 3)
        fix += (f"; if the images' bases have a newer glibc than {target.libc[1]}.{target.libc[2]}, "
                f"raise libc (e.g. libc = \"{newer}\")")
    if unlisted:
        fix += f"; the lock pins {len(unlisted)} hashes {source} does not list: if the lock changed, run `bazel run {command}`"
    pure = [str(t) for t in target.tags if str(t) == "py3-none-any"]
    tags = f"{target.tags[0]} down to {(pure or [target.tags[-1]])[0]}" if target.tags else "none"
    return (prefix + f"no wheel with accepted tags ({tags}); {source} lists "
            f"{_listed([f for f, _, _ in wheels])} with a sha256 the lock pins: {fix}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pip-wheel", type=Path, required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--version", required=True)
    parser.add_argument("--hash", action="append", default=[], dest="hashes")
    parser.add_argument("--target", required=True)
    parser.add_argument("--libc", required=True)
    parser.add_argument("--files", type=Path, required=True, help="the pin's files, from the files list")
    parser.add_argument("--source", required=True, help="the files list, for messages")
    parser.add_argument("--command", required=True, help="the command that rewrites it, e.g. @pypi//:lock")
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args()
    targets.use_pip_wheel(args.pip_wheel)

    hashes = set(args.hashes)
    found = release_files(args.name, args.version, listed_files(json.loads(args.files.read_text(encoding="utf-8"))))
    target = targets.target_of(args.target, args.libc)
    chosen = best(pinned(found, hashes), target)
    if chosen is None:
        result = {"missing": missing_message(args.name, args.version, hashes, found, target, args.source, args.command)}
    else:
        filename, entry = chosen
        shared = best(pinned(found, hashes), targets.any_target())
        result = {"filename": filename, "urls": entry["urls"], "sha256": entry["sha256"] or "",
                  "shared": bool(shared) and shared[0] == filename}
    args.output.write_text(json.dumps(result, indent=1, sort_keys=True), encoding="utf-8")


if __name__ == "__main__":
    main()
