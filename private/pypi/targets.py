"""What the requirements scripts share: lock parsing, and the wheel tags and marker environment
of a target, i.e. the interpreter a set of wheels is for.

A target is `cp311_x86_64` (CPython 3.11 on linux/x86_64, described, never run), `host` (the
interpreter running this script: launch scripts and `_local` run on it) or `any` (no
interpreter: only pure-Python wheels, shared by every target). Markers are evaluated with the
target's values, never the host's (pip's --python-version/--platform do not do that:
pypa/pip#11664). The `packaging` used is pip's vendored copy: put the pip wheel on sys.path
first (`use_pip_wheel`).
"""

import re
import sys
from pathlib import Path


def use_pip_wheel(path):
    sys.path.insert(0, str(path))


def die(message):
    print(f"rules_sematic requirements: error: {message}", file=sys.stderr)
    sys.exit(1)


def normalize(name):
    """PEP 503 normalisation, with `_` so the result is a valid Bazel target name."""
    return re.sub(r"[-_.]+", "_", name).lower()


# Locks ---------------------------------------------------------------------------------------

class Pin:
    def __init__(self, requirement, hashes):
        self.requirement = requirement
        self.name = normalize(requirement.name)
        self.hashes = hashes
        specifiers = list(requirement.specifier)
        if len(specifiers) != 1 or specifiers[0].operator not in ("==", "==="):
            raise ValueError(f"{requirement} is not pinned with ==: the lock must pin every "
                             "distribution (pip-compile, uv pip compile)")
        self.version = specifiers[0].version

    def applies(self, environment):
        marker = self.requirement.marker
        return marker is None or marker.evaluate(dict(environment, extra=""))


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
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        die(f"{label}: {path} cannot be read ({getattr(error, 'strerror', None) or error})")
    for line in logical_lines(text):
        if line.startswith("-"):
            if line.startswith(("-e", "--editable", "-r", "--requirement", "-c", "--constraint")):
                die(f"{label}: `{line.split()[0]}` is not supported in a lock: list pinned "
                    "distributions with hashes only")
            continue  # --index-url and other pip options: the repository's index_url decides
        words = line.split()
        hashes = [w.split(":", 1)[1] for w in words if w.startswith("--hash=sha256:")]
        text = " ".join(w for w in words if not w.startswith("--hash="))
        try:
            requirement = Requirement(text)
        except InvalidRequirement as err:
            # packaging's message draws a caret under the line: keep its first line.
            die(f"{label}: {text!r} is not a requirement: {str(err).splitlines()[0]}")
        if requirement.url:
            die(f"{label}: {requirement.name} comes from a URL; only index distributions "
                "with hashes are supported")
        try:
            pin = Pin(requirement, hashes)
        except ValueError as err:
            die(f"{label}: {err}")
        if not hashes:
            die(f"{label}: {text} has no --hash=sha256: generate the lock with hashes "
                "(pip-compile --generate-hashes, uv pip compile --generate-hashes)")
        pins.append(pin)
    return pins


def applicable_pins(pins, environment, label):
    """{name: Pin} of the pins whose markers hold for the target; one per name."""
    chosen = {}
    for pin in pins:
        if not pin.applies(environment):
            continue
        if pin.name in chosen:
            die(f"{label}: two pins of {pin.name} apply to Python {environment['python_version']} "
                f"on {environment['platform_machine']}: their markers must exclude each other")
        chosen[pin.name] = pin
    return chosen


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


class Target:
    """The wheel tags (best first) and marker environment of one target."""

    def __init__(self, name, tags, environment, libc=None):
        self.name = name
        self.tags = tags
        self.environment = environment
        self.libc = libc

    def describe(self):
        if self.name == "any":
            return "any Python (pure-Python wheels only)"
        env = self.environment
        libc = f" with {self.libc[0]} {self.libc[1]}.{self.libc[2]}" if self.libc else ""
        return f"Python {env['python_version']} on {env['sys_platform']} {env['platform_machine']}{libc}"


def image_target(name, libc_text):
    """`cp311_x86_64`: CPython 3.11 on linux/x86_64, for bases with `libc_text` or newer."""
    from pip._vendor.packaging import tags

    match = re.fullmatch(r"cp(\d)(\d+)_(x86_64|aarch64)", name)
    if not match:
        die(f"unknown target {name!r}")
    major_minor = (int(match.group(1)), int(match.group(2)))
    cpu = match.group(3)
    libc = parse_libc(libc_text)
    interpreter = f"cp{major_minor[0]}{major_minor[1]}"
    platforms = platform_tags(cpu, libc)
    ordered = list(tags.cpython_tags(major_minor, abis=[interpreter], platforms=platforms))
    ordered += list(tags.compatible_tags(major_minor, interpreter, platforms))
    # A patch level the target does not give: a recent one, so `python_full_version >= X.Y.Z`
    # markers and Requires-Python see what current bases run.
    full = "%d.%d.99" % major_minor
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
        "python_version": "%d.%d" % major_minor,
        "sys_platform": "linux",
    }
    return Target(name, ordered, environment, libc)


def host_target():
    from pip._vendor.packaging import markers, tags

    return Target("host", list(tags.sys_tags()), markers.default_environment())


def any_target():
    """Pure-Python wheels for any Python 3 (`py3-none-any`, which `py2.py3` wheels have too):
    what every target can share. Requires-Python is left to the targets that use it."""
    from pip._vendor.packaging.tags import Tag

    return Target("any", [Tag("py3", "none", "any")], {})


def target_of(name, libc_text):
    if name == "host":
        return host_target()
    if name == "any":
        return any_target()
    return image_target(name, libc_text)
