"""Installs one wheel into a Bazel repository by unpacking it, as the wheel specification says
an installer does, without running any interpreter of the target (the wheel may be for another
CPU or Python than the host's):

- `purelib`/`platlib` content, and `<dist>-<version>.data/{purelib,platlib,data}`, go to `site/`
  (the directory put on sys.path, like `pip install --target`); `.data/headers` to `include/`;
- `.data/scripts` and the `console_scripts`/`gui_scripts` entry points become executables in
  `bin/` whose `#!python` shebang is the image's interpreter, /sematic/python3.

The wheel comes from the internet, so it is treated as hostile: every member must be a regular
file with a UTF-8 name inside the wheel's directory, listed once in RECORD with its sha256 and
size (and RECORD must list nothing else), within the size caps below; script names and entry
point references must be plain names. Anything else stops the install with one line naming the
wheel and the member, and nothing is left behind: members are streamed into a staging directory
inside --repo that is renamed into place only when every member checked out.

    wheel_install.py --wheel X.whl --repo DIR    (prints {"dirs": [...], "size": N, "largest": N})
"""

import argparse
import base64
import configparser
import csv
import io
import hashlib
import json
import keyword
import re
import shutil
import stat
import sys
import zipfile
import zlib
from pathlib import Path, PurePosixPath

# The Python every rules_sematic image has (a link to the base's or the toolchain's interpreter).
IMAGE_PYTHON = "/sematic/python3"

# Caps against zip bombs, checked on the sizes the archive declares before anything is written
# (what is inflated cannot exceed them: see extract). The largest wheels on PyPI (CUDA builds
# of torch, jaxlib, nvidia-*) unpack to under 5 GiB; 8 GiB leaves room for them while stopping a
# bomb before it fills a build machine's disk. RECORD, METADATA and entry_points.txt are read
# into memory: the largest real ones are a few MiB.
MAX_TOTAL_SIZE = 8 << 30
MAX_METADATA_SIZE = 64 << 20
CHUNK = 1 << 20

SCHEMES = {"purelib": "site", "platlib": "site", "data": "site", "scripts": "bin", "headers": "include"}
OUTPUTS = ("bin", "include", "site", "METADATA")
STAGING = ".wheel_install.partial"

SCRIPT = """\
#!{python}
import sys
from {module} import {head}
if __name__ == "__main__":
    sys.exit({call}())
"""
# A script is a file in bin/: no separator, no shell metacharacter, no leading dot or dash.
SCRIPT_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]*\Z")
# The entry point syntax of importlib.metadata: module[:attribute] [extras].
ENTRY_POINT = re.compile(r"(?P<module>[\w.]+)\s*(:\s*(?P<attr>[\w.]+)\s*)?(\[.*\]\s*)?\Z")
UTF8_FLAG = 0x800
# Errors of reading a damaged or crafted archive.
ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError, ValueError)


class WheelError(Exception):
    """A wheel refused: the message names the wheel, the member and what is wrong."""


def safe_path(name, wheel):
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise WheelError(f"{wheel}: {name!r} would be written outside the wheel's directory")
    return path


def read_record(text, dist_info, names, wheel):
    """{member: (sha256 digest, size or None)} of RECORD, which must list every member but
    itself and its signatures with a sha256, once, and nothing else."""
    unsigned = {f"{dist_info}/RECORD", f"{dist_info}/RECORD.jws", f"{dist_info}/RECORD.p7s"}
    record = {}
    try:
        rows = list(csv.reader(io.StringIO(text)))
    except csv.Error as error:
        raise WheelError(f"{wheel}: {dist_info}/RECORD is not CSV: {error}") from None
    for row in rows:
        if not row:
            continue
        if len(row) != 3:
            raise WheelError(f"{wheel}: {dist_info}/RECORD: malformed row {row!r} (path,sha256=digest,size)")
        name, hash_, size = row
        safe_path(name, wheel)
        if name in record:
            raise WheelError(f"{wheel}: {dist_info}/RECORD lists {name} twice")
        if name not in names:
            raise WheelError(f"{wheel}: {dist_info}/RECORD lists {name}, which the wheel does not contain")
        if name in unsigned:
            record[name] = None
            continue
        algorithm, _, digest = hash_.partition("=")
        if algorithm != "sha256" or not digest:
            raise WheelError(f"{wheel}: {dist_info}/RECORD gives {name} no sha256 ({hash_!r}): it cannot be verified")
        if size and not size.isdigit():
            raise WheelError(f"{wheel}: {dist_info}/RECORD gives {name} the size {size!r}, not a number")
        try:
            decoded = base64.urlsafe_b64decode(digest + "=" * (-len(digest) % 4))
        except ValueError:
            decoded = b""
        record[name] = (decoded, int(size) if size else None)
    unlisted = sorted(names - record.keys() - unsigned)
    if unlisted:
        raise WheelError(f"{wheel}: {unlisted[0]} is not listed in RECORD with a hash")
    return record


def raw_name(info):
    """The name's bytes in the archive (zipfile decodes names without the UTF-8 flag as cp437)."""
    return info.orig_filename.encode("utf-8" if info.flag_bits & UTF8_FLAG else "cp437")


def member_name(info, wheel):
    """The member's name, which must be UTF-8 whether or not the archive flags it so."""
    if info.flag_bits & UTF8_FLAG:
        return info.filename
    raw = raw_name(info)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise WheelError(f"{wheel}: member {raw!r} has a name that is not UTF-8, as wheel names must be") from None


def members(archive, wheel):
    """[(info, name, path)] of the archive's files, each a regular file inside the wheel, listed
    once, not overlapping another's bytes, within the total size cap."""
    result, seen, total = [], set(), 0
    for info in archive.infolist():
        name = member_name(info, wheel)
        if name in seen:
            raise WheelError(f"{wheel}: {name} appears twice in the archive: an installer could unpack either")
        seen.add(name)
        file_type = stat.S_IFMT(info.external_attr >> 16)
        if info.is_dir():
            continue
        if file_type not in (0, stat.S_IFREG):
            kind = "a symbolic link" if file_type == stat.S_IFLNK else f"a special file (mode {file_type:o})"
            raise WheelError(f"{wheel}: {name} is {kind}: a wheel holds only regular files")
        total += info.file_size
        if total > MAX_TOTAL_SIZE:
            cap = f"{MAX_TOTAL_SIZE / (1 << 30):g} GiB"
            raise WheelError(f"{wheel}: {name} brings the unpacked size past {cap}: refused as a zip bomb")
        result.append((info, name, safe_path(name, wheel)))
    check_overlaps(archive.infolist(), wheel)
    return result


def check_overlaps(infos, wheel):
    """Members whose compressed bytes overlap (several entries inflating the same data) are
    how small zips declare huge contents; a real archive stores each member once."""
    # A local header is 30 bytes and the name, then the compressed bytes.
    spans = sorted((i.header_offset, i.header_offset + 30 + len(raw_name(i)) + i.compress_size, i.orig_filename) for i in infos)
    for (_, end, name), (start, _, following) in zip(spans, spans[1:]):
        if end > start:
            raise WheelError(f"{wheel}: {name} overlaps {following} in the archive: refused as a zip bomb")


def destination(path, data_dir, name, wheel):
    """(top directory, relative path) of a member."""
    parts = path.parts
    if parts[0] != data_dir:
        return "site", path
    if len(parts) < 3 or parts[1] not in SCHEMES:
        raise WheelError(f"{wheel}: {name}: {data_dir}/ may hold only files under {', '.join(SCHEMES)}")
    return SCHEMES[parts[1]], PurePosixPath(*parts[2:])


def check_destinations(planned, wheel):
    """planned: {"top/relative/path": member}. No two members land on one file, no file where
    another member needs a directory."""
    directories = {}
    for target, name in planned.items():
        for parent in PurePosixPath(target).parents:
            directories.setdefault(str(parent), name)
    for target, name in planned.items():
        if target in directories:
            other = directories[target]
            raise WheelError(f"{wheel}: {name} would be the file {target}, which {other} needs as a directory")


def read_small(archive, info, name, wheel):
    if info.file_size > MAX_METADATA_SIZE:
        cap = f"{MAX_METADATA_SIZE >> 20} MiB"
        raise WheelError(f"{wheel}: {name} declares {info.file_size} bytes, more than the {cap} a metadata file may have")
    try:
        return archive.read(info)
    except ZIP_ERRORS as error:
        raise WheelError(f"{wheel}: {name} cannot be read from the archive ({error}): the wheel is corrupt") from None


def text(data, name, wheel):
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise WheelError(f"{wheel}: {name} is not UTF-8 text") from None


def entry_point_scripts(text, name, wheel):
    """{script name: content} of the console and GUI scripts entry_points.txt declares."""
    # No DEFAULT section: its entries would otherwise join every section.
    parser = configparser.ConfigParser(delimiters=("=",), interpolation=None, default_section="\0")
    parser.optionxform = str
    try:
        parser.read_string(text, source=name)
    except configparser.Error as error:
        raise WheelError(f"{wheel}: {' '.join(str(error).split())}") from None
    scripts = {}
    for section in ("console_scripts", "gui_scripts"):
        if not parser.has_section(section):
            continue
        for script, value in parser.items(section):
            where = f"{wheel}: {name}: [{section}] {script!r}"
            if not SCRIPT_NAME.match(script):
                raise WheelError(f"{where} is not a script name (letters, digits, and _ . + - after the first)")
            if script in scripts:
                raise WheelError(f"{where} is declared twice")
            match = ENTRY_POINT.match(value)
            module, attribute = (match["module"], match["attr"]) if match else (None, None)
            if not attribute or not all(dotted(part) for part in (module, attribute)):
                raise WheelError(f"{where} = {value!r} is not a module:function reference")
            scripts[script] = SCRIPT.format(python=IMAGE_PYTHON, module=module, head=attribute.split(".", 1)[0], call=attribute)
    return scripts


def dotted(reference):
    return all(part.isidentifier() and not keyword.iskeyword(part) for part in reference.split("."))


def extract(archive, info, name, entry, target, script, wheel):
    """Streams one member to `target`, checking it against its RECORD entry (None: RECORD itself,
    or a signature of it); a `#!python`
    shebang of a script is pointed at the image's Python."""
    hasher, count = hashlib.sha256(), 0
    target.parent.mkdir(parents=True, exist_ok=True)
    with archive.open(info) as source, open(target, "xb") as out:
        if script:
            line = source.readline(CHUNK)
            hasher.update(line)
            count += len(line)
            if re.match(rb"#!pythonw?(\s|$)", line):
                out.write(b"#!" + IMAGE_PYTHON.encode() + b"\n")
                while line and not line.endswith(b"\n"):
                    line = source.readline(CHUNK)
                    hasher.update(line)
                    count += len(line)
            else:
                out.write(line)
        # zipfile inflates no more than the size the archive declares (then fails the CRC), so
        # the declared sizes checked against MAX_TOTAL_SIZE bound what is written.
        for chunk in iter(lambda: source.read(CHUNK), b""):
            count += len(chunk)
            hasher.update(chunk)
            out.write(chunk)
    if entry is not None and (hasher.digest() != entry[0] or entry[1] not in (None, count)):
        raise WheelError(f"{wheel}: {name} does not match its RECORD entry (sha256 or size): the wheel is corrupt or was altered")
    executable = script or (info.external_attr >> 16) & stat.S_IXUSR
    target.chmod(0o755 if executable else 0o644)


def unpack(archive, wheel, out):
    files = members(archive, wheel)
    by_name = {name: info for info, name, _ in files}
    dist_infos = {name.split("/", 1)[0] for name in by_name if name.split("/", 1)[0].endswith(".dist-info")}
    if len(dist_infos) != 1:
        raise WheelError(f"{wheel}: expected one .dist-info directory, found {sorted(dist_infos) or 'none'}")
    dist_info = dist_infos.pop()
    data_dir = dist_info[: -len(".dist-info")] + ".data"

    def small(name):
        if name not in by_name:
            raise WheelError(f"{wheel}: {name} is missing: the wheel is incomplete")
        return read_small(archive, by_name[name], name, wheel)

    record_name, entry_points = f"{dist_info}/RECORD", f"{dist_info}/entry_points.txt"
    record = read_record(text(small(record_name), record_name, wheel), dist_info, set(by_name), wheel)
    scripts = {}
    if entry_points in by_name:
        scripts = entry_point_scripts(text(small(entry_points), entry_points, wheel), entry_points, wheel)
    metadata = small(f"{dist_info}/METADATA")
    planned, targets = {}, []
    for info, name, path in files:
        top, relative = destination(path, data_dir, name, wheel)
        target = f"{top}/{relative}"
        if target in planned:
            raise WheelError(f"{wheel}: {name} and {planned[target]} would both be {target}")
        planned[target] = name
        targets.append((info, name, top, relative))
    for script in scripts:
        if f"bin/{script}" in planned:
            raise WheelError(f"{wheel}: {entry_points}: the script {script} would overwrite {planned[f'bin/{script}']}")
        planned[f"bin/{script}"] = entry_points
    check_destinations(planned, wheel)

    for info, name, top, relative in targets:
        try:
            extract(archive, info, name, record.get(name), out / top / relative, top == "bin", wheel)
        except ZIP_ERRORS as error:
            raise WheelError(f"{wheel}: {name} cannot be read from the archive ({error}): the wheel is corrupt") from None
    for script, content in scripts.items():
        (out / "bin").mkdir(exist_ok=True)
        (out / "bin" / script).write_text(content, encoding="utf-8")
        (out / "bin" / script).chmod(0o755)
    (out / "site" / dist_info / "INSTALLER").write_text("rules_sematic\n", encoding="utf-8")
    # The dependency edges are computed from METADATA by the target repositories.
    (out / "METADATA").write_bytes(metadata)


def install(wheel, repo):
    """Unpacks `wheel` into `repo` (all of it or, on an error, nothing) and returns its summary."""
    for name in OUTPUTS + (STAGING,):
        if (repo / name).exists():
            raise WheelError(f"{repo / name} already exists: install into a directory without it")
    try:
        archive = zipfile.ZipFile(wheel)
    except UnicodeDecodeError as error:
        raise WheelError(f"{wheel.name}: member {error.object!r} has a name that is not UTF-8, as wheel names must be") from None
    except (OSError, *ZIP_ERRORS) as error:
        raise WheelError(f"{wheel.name}: not a readable zip archive ({error}): fetch it again") from None
    staging = repo / STAGING
    staging.mkdir(parents=True)
    try:
        with archive:
            unpack(archive, wheel.name, staging)
        for name in OUTPUTS:
            if (staging / name).exists():
                (staging / name).rename(repo / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return summary(repo)


def summary(repo):
    """{"dirs": [...], "size": bytes, "largest": bytes}: the installed top directories, their
    total size and their largest file's, which decide how the distribution is layered (a large
    one gets a layer of its own, split by file when it is far larger than its largest file)."""
    dirs = sorted(d for d in ("bin", "include", "site") if (repo / d).is_dir())
    sizes = [f.stat().st_size for d in dirs for f in (repo / d).rglob("*") if f.is_file()]
    return {"dirs": dirs, "size": sum(sizes), "largest": max(sizes, default=0)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel", type=Path, required=True)
    parser.add_argument("--repo", type=Path, required=True)
    args = parser.parse_args()
    try:
        print(json.dumps(install(args.wheel, args.repo)))
    except WheelError as error:
        sys.exit(f"rules_sematic wheel: error: {error}")
    except OSError as error:
        sys.exit(f"rules_sematic wheel: error: {args.wheel.name}: cannot unpack into {args.repo}: {error}")


if __name__ == "__main__":
    main()
