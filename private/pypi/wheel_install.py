"""Installs one wheel into a Bazel repository by unpacking it, as the wheel specification says
an installer does, without running any interpreter of the target (the wheel may be for another
CPU or Python than the host's):

- `purelib`/`platlib` content, and `<dist>-<version>.data/{purelib,platlib,data}`, go to `site/`
  (the directory put on sys.path, like `pip install --target`); `.data/headers` to `include/`;
- `.data/scripts` and the `console_scripts`/`gui_scripts` entry points become executables in
  `bin/` whose `#!python` shebang is the image's interpreter, /sematic/python3;
- every member is checked against RECORD (sha256 and size) and must stay inside the wheel.

    wheel_install.py --wheel X.whl --repo DIR    (prints {"dirs": [...], "size": N})
"""

import argparse
import base64
import configparser
import csv
import hashlib
import io
import json
import re
import stat
import sys
import zipfile
from pathlib import Path, PurePosixPath

# The Python every rules_sematic image has (a link to the base's or the toolchain's interpreter).
IMAGE_PYTHON = "/sematic/python3"

SCRIPT = """\
#!{python}
import sys
from {module} import {head}
if __name__ == "__main__":
    sys.exit({call}())
"""


def die(message):
    print(f"rules_sematic wheel: error: {message}", file=sys.stderr)
    sys.exit(1)


def safe_path(name, wheel):
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        die(f"{wheel}: member {name!r} would be written outside the wheel's directory")
    return path


def read_record(archive, dist_info, wheel):
    """{member: (algorithm, urlsafe-b64 digest, size)} of RECORD (members without a hash omitted)."""
    text = archive.read(f"{dist_info}/RECORD").decode("utf-8")
    record = {}
    for row in csv.reader(io.StringIO(text)):
        if not row:
            continue
        if len(row) != 3:
            die(f"{wheel}: malformed RECORD row {row!r}")
        name, hash_, size = row
        if hash_:
            algorithm, _, digest = hash_.partition("=")
            record[name] = (algorithm, digest, int(size) if size else None)
    return record


def check_member(name, data, record, wheel):
    if name not in record:
        if not name.endswith("/RECORD") and not name.endswith(("/RECORD.jws", "/RECORD.p7s")):
            die(f"{wheel}: {name} is not listed in RECORD with a hash")
        return
    algorithm, digest, size = record[name]
    if algorithm != "sha256":
        die(f"{wheel}: RECORD hashes {name} with {algorithm}, not sha256")
    actual = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    if actual != digest or (size is not None and size != len(data)):
        die(f"{wheel}: {name} does not match its RECORD entry: the wheel is corrupt")


def script_shebang(data):
    """A `.data/scripts` file with its `#!python` shebang pointed at the image's Python."""
    if re.match(rb"#!pythonw?(\s|$)", data):
        return b"#!" + IMAGE_PYTHON.encode() + data[data.index(b"\n"):] if b"\n" in data else b"#!" + IMAGE_PYTHON.encode() + b"\n"
    return data


def entry_point_scripts(archive, dist_info):
    """{name: content} of the console and GUI scripts the wheel declares."""
    try:
        text = archive.read(f"{dist_info}/entry_points.txt").decode("utf-8")
    except KeyError:
        return {}
    parser = configparser.ConfigParser(delimiters=("=",), interpolation=None)
    parser.optionxform = str
    parser.read_string(text)
    scripts = {}
    for section in ("console_scripts", "gui_scripts"):
        if not parser.has_section(section):
            continue
        for name, value in parser.items(section):
            target = value.split("[", 1)[0].strip()
            module, _, attribute = target.partition(":")
            if not attribute:
                attribute = module.rsplit(".", 1)[-1]
            head = attribute.split(".", 1)[0]
            scripts[name] = SCRIPT.format(python=IMAGE_PYTHON, module=module, head=head, call=attribute)
    return scripts


def destination(path, data_dir):
    """(directory kind, relative path) for a member path."""
    parts = path.parts
    if parts[0] == data_dir and len(parts) >= 3:
        scheme, rest = parts[1], PurePosixPath(*parts[2:])
        if scheme in ("purelib", "platlib", "data"):
            return "site", rest
        if scheme == "scripts":
            return "bin", rest
        if scheme == "headers":
            return "include", rest
        return None, None
    return "site", path


def install(wheel, repo):
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        dist_infos = {n.split("/", 1)[0] for n in names if n.split("/", 1)[0].endswith(".dist-info")}
        if len(dist_infos) != 1:
            die(f"{wheel}: expected one .dist-info directory, found {sorted(dist_infos) or 'none'}")
        dist_info = dist_infos.pop()
        data_dir = dist_info[: -len(".dist-info")] + ".data"
        record = read_record(archive, dist_info, wheel)
        for info in archive.infolist():
            if info.is_dir():
                continue
            path = safe_path(info.filename, wheel)
            data = archive.read(info)
            check_member(info.filename, data, record, wheel)
            kind, relative = destination(path, data_dir)
            if kind is None:
                continue
            if kind == "bin":
                data = script_shebang(data)
            target = repo / kind / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            executable = kind == "bin" or (info.external_attr >> 16) & stat.S_IXUSR
            target.chmod(0o755 if executable else 0o644)
        for name, content in entry_point_scripts(archive, dist_info).items():
            script = repo / "bin" / name
            script.parent.mkdir(parents=True, exist_ok=True)
            script.write_text(content, encoding="utf-8")
            script.chmod(0o755)
        (repo / "site" / dist_info / "INSTALLER").write_text("rules_sematic\n", encoding="utf-8")
        # The dependency edges are computed from METADATA by the target repositories.
        (repo / "METADATA").write_bytes(archive.read(f"{dist_info}/METADATA"))
    return summary(repo)


def summary(repo):
    """{"dirs": [...], "size": bytes}: the installed top directories and their total size,
    which decide how the distribution is layered (a large one gets a layer of its own)."""
    dirs = sorted(d for d in ("bin", "include", "site") if (repo / d).is_dir())
    size = sum(f.stat().st_size for d in dirs for f in (repo / d).rglob("*") if f.is_file())
    return {"dirs": dirs, "size": size}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel", type=Path, required=True)
    parser.add_argument("--repo", type=Path, required=True)
    args = parser.parse_args()
    print(json.dumps(install(args.wheel, args.repo)))


if __name__ == "__main__":
    main()
