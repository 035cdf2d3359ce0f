"""Chooses, for every target a requirements repository serves, the wheel of each pinned
distribution that fits the target's interpreter: Python version and ABI, CPU, libc.

Run by rules_sematic's repository code with the *host* interpreter, which is also the host
target (`bazel run :x_local` and launch scripts run on it). Image targets are described
explicitly, and their environment markers are evaluated with the target's values, never the
host's (pip's --python-version/--platform do not do that: pypa/pip#11664).

    resolver.py names --lock L [--lock L2 ...]              -> JSON list of distribution names
    resolver.py select --request REQUEST.json --output PLAN.json

REQUEST.json: {"locks": {"3.11": {"path", "label"}, ...} (one lock per served version, "" for
the host interpreter's; one universal lock may serve several), "index_pages": {name:
[[PAGE_URL, FILE], ...]}, "libc": "glibc 2.28", "cpus": ["x86_64", "aarch64"]}. The host target
uses the lock of its version (else the closest below).

PLAN.json: {"wheels": {KEY: {name, version, filename, urls, sha256}},
"targets": {TARGET: {"python_version", "distributions": {name: KEY},
"missing": {name: message}, "environment": {...}}}} where TARGET is `cp311_x86_64` or `host`.
"""

import argparse
import html.parser
import json
import re
import sys
import urllib.parse
from pathlib import Path


def die(message):
    print(f"rules_sematic requirements: error: {message}", file=sys.stderr)
    sys.exit(1)


def normalize(name):
    """PEP 503 normalisation, with `_` so the result is a valid Bazel target name."""
    return re.sub(r"[-_.]+", "_", name).lower()


# Lock files ----------------------------------------------------------------------------------

class Pin:
    def __init__(self, requirement, hashes, line):
        self.requirement = requirement
        self.name = normalize(requirement.name)
        self.hashes = hashes
        self.line = line
        specifiers = list(requirement.specifier)
        if len(specifiers) != 1 or specifiers[0].operator not in ("==", "==="):
            raise ValueError(f"{requirement} is not pinned with ==: the lock must pin every "
                             "distribution (pip-compile / uv pip compile)")
        self.version = specifiers[0].version


def logical_lines(text):
    """Lines of a requirements file with continuations joined and comments removed."""
    pending = ""
    for raw in text.splitlines():
        line = re.sub(r"(^|\s)#.*$", "", raw).rstrip()
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = (pending + line).strip()
        pending = ""
        if line:
            yield line
    if pending.strip():
        yield pending.strip()


def read_lock(path, label):
    from pip._vendor.packaging.requirements import InvalidRequirement, Requirement

    pins = []
    for number, line in enumerate(logical_lines(Path(path).read_text(encoding="utf-8")), 1):
        if line.startswith("-"):
            if line.startswith(("-e", "--editable", "-r", "--requirement", "-c", "--constraint")):
                die(f"{label}: `{line.split()[0]}` is not supported in a lock: list pinned "
                    "distributions with hashes only")
            continue  # --index-url and other pip options: the repository's index_url decides
        words = line.split()
        hashes = [w.split(":", 1)[1] for w in words if w.startswith("--hash=sha256:")]
        text = " ".join(w for w in words if not w.startswith("--hash="))
        try:
            pin = Pin(Requirement(text), hashes, text)
        except (InvalidRequirement, ValueError) as err:
            die(f"{label}: {err}")
        if pin.requirement.url:
            die(f"{label}: {pin.requirement.name} comes from a URL; only index distributions "
                "with hashes are supported")
        if not hashes:
            die(f"{label}: {text} has no --hash=sha256: generate the lock with hashes "
                "(pip-compile --generate-hashes, uv pip compile --generate-hashes)")
        pins.append(pin)
    if not pins:
        die(f"{label} pins no distribution")
    return pins


# Targets -------------------------------------------------------------------------------------

def parse_libc(text):
    match = re.fullmatch(r"(glibc|musl) (\d+)\.(\d+)", text)
    if not match:
        die(f"libc {text!r} is not `glibc X.Y` or `musl X.Y`, e.g. \"glibc 2.28\"")
    return match.group(1), int(match.group(2)), int(match.group(3))


def platform_tags(cpu, libc):
    """Linux platform tags a base with `libc` runs, most specific first (as pip orders them)."""
    kind, major, minor = libc
    if kind == "musl":
        return [f"musllinux_{major}_{m}_{cpu}" for m in range(minor, -1, -1)]
    oldest = 5 if cpu == "x86_64" else 17
    aliases = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}
    tags = []
    for m in range(minor if major == 2 else 0, oldest - 1, -1):
        tags.append(f"manylinux_2_{m}_{cpu}")
        if m in aliases and (m == 17 or cpu == "x86_64"):
            tags.append(f"{aliases[m]}_{cpu}")
    return tags


def image_target(version, cpu, libc):
    """The tags (best first) and marker environment of CPython `version` on linux/`cpu`."""
    from pip._vendor.packaging import tags

    parts = tuple(int(p) for p in version.split("."))
    major_minor = parts[:2]
    interpreter = f"cp{major_minor[0]}{major_minor[1]}"
    platforms = platform_tags(cpu, libc)
    ordered = list(tags.cpython_tags(major_minor, abis=[interpreter], platforms=platforms))
    ordered += list(tags.compatible_tags(major_minor, interpreter, platforms))
    # A patch level the version does not give: a recent one, so `python_full_version >= X.Y.Z`
    # markers see what current bases run.
    full = version if len(parts) == 3 else f"{version}.99"
    environment = {
        "implementation_name": "cpython",
        "implementation_version": full,
        "os_name": "posix",
        "platform_machine": cpu,
        "platform_python_implementation": "CPython",
        "platform_release": "",
        "platform_system": "Linux",
        "platform_version": "",
        "python_full_version": full,
        "python_version": ".".join(map(str, major_minor)),
        "sys_platform": "linux",
    }
    return ordered, environment


def host_target():
    from pip._vendor.packaging import markers, tags

    return list(tags.sys_tags()), markers.default_environment()


def describe(environment, libc):
    machine = environment["platform_machine"]
    return (f"{environment['implementation_name']} {environment['python_version']} on "
            f"{environment['sys_platform']} {machine}" + (f" ({libc[0]} {libc[1]}.{libc[2]})" if libc else ""))


# Index pages ---------------------------------------------------------------------------------

class _Links(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.links = []
        self._current = None

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self._current = dict(attrs)
            self._current["text"] = ""

    def handle_data(self, data):
        if self._current is not None:
            self._current["text"] += data

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
            href = link.get("href")
            if not href:
                continue
            url, _, fragment = urllib.parse.urljoin(page_url, href).partition("#")
            filename = urllib.parse.unquote(url.rsplit("/", 1)[-1])
            digest = dict(p.split("=", 1) for p in fragment.split("&") if "=" in p).get("sha256")
            entry = files.setdefault(filename, {"urls": [], "sha256": digest,
                                                "requires_python": link.get("data-requires-python")})
            entry["urls"].append(url)
    return files


# Selection -----------------------------------------------------------------------------------

def target_name(version, cpu):
    major, minor = version.split(".")[:2]
    return f"cp{major}{minor}_{cpu}"


def wheel_key(name, version, sha256):
    return f"{name}_{re.sub(r'[^A-Za-z0-9]+', '_', version)}_{sha256[:8]}"


def choose(pin, files, ordered_tags, environment):
    """(filename, entry) of the best wheel for the target, or an error message."""
    from pip._vendor.packaging.specifiers import SpecifierSet
    from pip._vendor.packaging.utils import InvalidWheelFilename, parse_wheel_filename
    from pip._vendor.packaging.version import Version

    rank = {tag: i for i, tag in enumerate(ordered_tags)}
    pinned, best = [], None
    for filename, entry in files.items():
        if not filename.endswith(".whl"):
            continue
        try:
            name, version, _, wheel_tags = parse_wheel_filename(filename)
        except InvalidWheelFilename:
            continue
        if normalize(name) != pin.name or version != Version(pin.version):
            continue
        if entry["sha256"] is not None and entry["sha256"] not in pin.hashes:
            continue
        pinned.append(filename)
        requires = entry.get("requires_python")
        if requires and not SpecifierSet(requires).contains(environment["python_full_version"], prereleases=True):
            continue
        score = min((rank[t] for t in wheel_tags if t in rank), default=None)
        if score is not None and (best is None or score < best[0]):
            best = (score, filename, entry)
    if best:
        return best[1], best[2]
    return None, pinned


def host_lock_of(locks, host_version):
    """The lock for the host target: the one for the host's version, else the highest version
    below it, else the lowest (a universal lock serves them all alike)."""
    if host_version in locks:
        return locks[host_version]
    key = lambda v: tuple(int(p) for p in v.split("."))
    below = [v for v in locks if key(v) < key(host_version)]
    return locks[max(below, key=key)] if below else locks[min(locks, key=key)]


def select(request):
    libc = parse_libc(request["libc"])
    host_ordered, host_environment = host_target()
    host_version = host_environment["python_version"]
    locks = {}
    for version, lock in request["locks"].items():
        version = version or host_version  # unset: the host interpreter's version
        if not re.fullmatch(r"3\.\d+(\.\d+)?", version):
            die(f"python_version {version!r} is not major.minor, e.g. \"3.11\"")
        locks[version] = (read_lock(lock["path"], lock["label"]), lock["label"])
    files_of = {name: index_files(pages) for name, pages in request["index_pages"].items()}

    targets = []
    for version, lock in sorted(locks.items()):
        for cpu in request["cpus"]:
            ordered, environment = image_target(version, cpu, libc)
            targets.append((target_name(version, cpu), version, lock, ordered, environment, libc))
    targets.append(("host", host_version, host_lock_of(locks, host_version), host_ordered, host_environment, None))

    plan = {"wheels": {}, "targets": {}}
    for target, version, (pins, label), ordered, environment, target_libc in targets:
        distributions, missing = {}, {}
        for pin in pins:
            if pin.requirement.marker and not pin.requirement.marker.evaluate(dict(environment, extra="")):
                continue
            if pin.name in distributions or pin.name in missing:
                die(f"{label}: two pins of {pin.name} apply to {describe(environment, target_libc)}: "
                    "their markers must exclude each other")
            files = files_of.get(pin.name, {})
            filename, entry = choose(pin, files, ordered, environment)
            if filename is None:
                missing[pin.name] = no_wheel_message(pin, entry, ordered, environment, target_libc)
                continue
            digest = entry["sha256"]
            key = wheel_key(pin.name, pin.version, digest or "nohash")
            plan["wheels"][key] = {"name": pin.name, "version": pin.version, "filename": filename,
                                   "urls": entry["urls"], "sha256": digest or "",
                                   "hashes": pin.hashes}
            distributions[pin.name] = key
        plan["targets"][target] = {"python_version": ".".join(version.split(".")[:2]),
                                   "distributions": distributions,
                                   "missing": missing, "environment": environment}
    return plan


def no_wheel_message(pin, pinned, ordered, environment, libc):
    from_index = ", ".join(sorted(pinned)[:4]) + (", ..." if len(pinned) > 4 else "") if pinned else "none with a hash the lock pins"
    best = ", ".join(str(t) for t in ordered[:2]) + " ... " + str(ordered[-1])
    fix = ("pin a version of it that publishes such a wheel, or drop this platform"
           + (f"; if the base's glibc is newer than {libc[1]}.{libc[2]}, raise libc "
              f"(e.g. libc = \"glibc {libc[1]}.{libc[2] + 3}\")" if libc and libc[0] == "glibc" else ""))
    return (f"no wheel of {pin.name}=={pin.version} fits {describe(environment, libc)} "
            f"(accepted tags {best}; the index has {from_index}): {fix}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pip-wheel", type=Path, required=True, help="pip wheel (for its packaging)")
    sub = parser.add_subparsers(dest="command", required=True)
    names = sub.add_parser("names")
    names.add_argument("--lock", action="append", required=True)
    names.add_argument("--lock-label", required=True)
    chosen = sub.add_parser("select")
    chosen.add_argument("--request", type=Path, required=True)
    chosen.add_argument("--output", type=Path, required=True)
    args = parser.parse_args()
    sys.path.insert(0, str(args.pip_wheel))
    if args.command == "names":
        found = sorted({pin.name for lock in args.lock for pin in read_lock(lock, args.lock_label)})
        print(json.dumps(found))
    else:
        plan = select(json.loads(args.request.read_text(encoding="utf-8")))
        args.output.write_text(json.dumps(plan, indent=1, sort_keys=True), encoding="utf-8")


if __name__ == "__main__":
    main()
