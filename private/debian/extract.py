"""Unpacks Debian packages into one root filesystem tar, as mmdebstrap's extract variant does:
no apt, no dpkg, no maintainer scripts (stdlib only; `zstd` for zstd-compressed members).

    extract.py --output rootfs.tar --listing listing.json --name IMAGE PACKAGE.deb...

Every package's data.tar goes into one tar: each path once (a directory several packages ship
keeps the first package's metadata; the same file shipped twice must be identical), in sorted
order, with symlinks, hard links, devices, modes (setuid included) and numeric owners kept and
every time set to 0. Within a group of hard links the first name in sorted order carries the
data, so every link follows its target. `listing.json` maps each path to its symlink target (or
null) for the repository rule. Outputs appear whole or not at all.
"""

import argparse
import bz2
import gzip
import io
import json
import lzma
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile

_COPY_BUFFER = 1 << 20


class ExtractError(Exception):
    """A package that cannot be unpacked; the message is one line."""


def ar_members(path):
    """{member name: (offset, size)} of an `ar` archive (a .deb)."""
    members = {}
    with open(path, "rb") as deb:
        if deb.read(8) != b"!<arch>\n":
            raise ExtractError(f"{path} is not a Debian package (no ar header)")
        while True:
            header = deb.read(60)
            if not header:
                return members
            if len(header) != 60 or header[58:60] != b"`\n":
                raise ExtractError(f"{path} is truncated or corrupt (bad ar member header)")
            name = header[:16].decode("ascii", "replace").strip().rstrip("/")
            size = int(header[48:58].decode("ascii").strip())
            members[name] = (deb.tell(), size)
            deb.seek(size + size % 2, os.SEEK_CUR)


def _member_stream(path, offset, size, name):
    """A readable file of the uncompressed member `name` of the .deb at `path`."""
    with open(path, "rb") as deb:
        deb.seek(offset)
        data = deb.read(size)
    if name.endswith(".xz"):
        return io.BytesIO(lzma.decompress(data))
    if name.endswith(".gz"):
        return io.BytesIO(gzip.decompress(data))
    if name.endswith(".bz2"):
        return io.BytesIO(bz2.decompress(data))
    if name.endswith(".zst"):
        zstd = shutil.which("zstd")
        if not zstd:
            raise ExtractError(f"{os.path.basename(path)} has a zstd-compressed {name}: install zstd (apt-get install zstd)")
        result = subprocess.run([zstd, "-dc"], input=data, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if result.returncode != 0:
            raise ExtractError(f"{path}: zstd cannot decompress {name}: {result.stderr.decode(errors='replace').strip()}")
        return io.BytesIO(result.stdout)
    if name.endswith(".tar"):
        return io.BytesIO(data)
    raise ExtractError(f"{path}: unknown compression of {name}")


def data_tar(path):
    """The uncompressed data.tar of the .deb at `path`, as a readable file."""
    members = ar_members(path)
    names = [name for name in members if name.startswith("data.tar")]
    if len(names) != 1:
        raise ExtractError(f"{path} has {len(names)} data.tar members, not 1: it is not a Debian binary package")
    return _member_stream(path, *members[names[0]], names[0])


def _normalise(name):
    """`./usr//bin/` -> `usr/bin`; the root -> ``."""
    return "/".join(part for part in name.split("/") if part not in ("", "."))


class Rootfs:
    """The entries of every package, their file data spooled to a scratch file."""

    def __init__(self, spool):
        self.spool = spool
        self.entries = {}  # path -> (TarInfo, package, spool offset or None)

    def add_package(self, deb):
        package = os.path.basename(deb)
        with tarfile.open(fileobj=data_tar(deb), mode="r:") as archive:
            for member in archive:
                name = _normalise(member.name)
                if not name:
                    continue
                offset = None
                if member.isreg():
                    offset = self.spool.tell()
                    shutil.copyfileobj(archive.extractfile(member), self.spool, _COPY_BUFFER)
                elif member.islnk():
                    member.linkname = _normalise(member.linkname)
                self._add(name, member, package, offset)

    def _add(self, name, member, package, offset):
        previous = self.entries.get(name)
        if previous is None:
            self.entries[name] = (member, package, offset)
            return
        first, first_package, first_offset = previous
        if first.isdir() and member.isdir():
            return  # shared directories keep the first package's metadata
        same = all(getattr(first, key) == getattr(member, key) for key in ("type", "mode", "uid", "gid", "linkname", "size"))
        if same and member.isreg():
            same = self._read(first_offset, first.size) == self._read(offset, member.size)
        if not same:
            raise ExtractError(f"{name} is shipped differently by {first_package} and {package}: "
                               "remove one of them from packages")

    def _read(self, offset, size):
        self.spool.seek(offset)
        data = self.spool.read(size)
        self.spool.seek(0, os.SEEK_END)
        return data

    def _carriers(self):
        """Hard-link target -> the first name of its group in sorted order, which carries the data."""
        groups = {}
        for name, (member, _, _) in self.entries.items():
            if member.islnk():
                groups.setdefault(member.linkname, []).append(name)
        return {target: min(names + [target]) for target, names in groups.items()}

    def write(self, output):
        carriers = self._carriers()
        with tarfile.open(fileobj=output, mode="w:", format=tarfile.GNU_FORMAT) as archive:
            for name in sorted(self.entries):
                member, package, offset = self.entries[name]
                if member.islnk() and member.linkname not in self.entries:
                    raise ExtractError(f"{package}: {name} is a hard link to {member.linkname}, which no package ships")
                # A hard link's metadata is its target's: they are one inode.
                source, _, offset = self.entries[member.linkname] if member.islnk() else (member, package, offset)
                info = tarfile.TarInfo(name)
                info.mode, info.uid, info.gid, info.mtime = source.mode, source.uid, source.gid, 0
                carrier = carriers.get(member.linkname if member.islnk() else name)
                if carrier is not None and carrier != name:
                    info.type, info.linkname = tarfile.LNKTYPE, carrier
                elif source.isreg():
                    info.type, info.size = tarfile.REGTYPE, source.size
                else:
                    info.type, info.linkname = member.type, member.linkname
                    info.devmajor, info.devminor = member.devmajor, member.devminor
                if info.type == tarfile.REGTYPE:
                    self.spool.seek(offset)
                    archive.addfile(info, self.spool)
                else:
                    archive.addfile(info)

    def listing(self):
        return {name: member.linkname if member.issym() else None
                for name, (member, _, _) in sorted(self.entries.items())}


def _write_atomically(path, write):
    directory = os.path.dirname(os.path.abspath(path))
    fd, partial = tempfile.mkstemp(dir=directory, prefix=".partial-")
    try:
        with os.fdopen(fd, "wb") as output:
            write(output)
        os.chmod(partial, 0o644)
        os.replace(partial, path)
    except BaseException:
        os.unlink(partial)
        raise


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", required=True, help="root filesystem tar to write")
    parser.add_argument("--listing", required=True, help="JSON {path: symlink target or null} to write")
    parser.add_argument("--name", required=True, help="the debian_image, for messages")
    parser.add_argument("debs", nargs="+", help="the packages, in the lock's order")
    args = parser.parse_args(argv)
    try:
        with tempfile.TemporaryFile(dir=os.path.dirname(os.path.abspath(args.output))) as spool:
            rootfs = Rootfs(spool)
            for deb in args.debs:
                rootfs.add_package(deb)
            _write_atomically(args.output, rootfs.write)
        listing = json.dumps(rootfs.listing(), indent=0, sort_keys=True).encode()
        _write_atomically(args.listing, lambda output: output.write(listing))
    except (ExtractError, tarfile.TarError, lzma.LZMAError, OSError, EOFError) as error:
        print(f"debian_image({args.name}): {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
