"""Makes the debian_image scripts (private/debian) importable, as the repository rules and the
lock command run them, and builds the small packages their tests need."""

import io
import sys
import tarfile
from pathlib import Path

# This file is <runfiles>/<main repository>/tests/debian/support.py; the scripts are data.
sys.path.insert(0, str(Path(__file__).parents[2] / "private" / "debian"))

import extract  # noqa: E402,F401
import lock  # noqa: E402,F401
import resolve  # noqa: E402,F401


def tar_bytes(entries, compression=""):
    """A tar (`w:<compression>`) of `entries`: (name, kind, mode, content or link target)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:" + compression, format=tarfile.GNU_FORMAT) as archive:
        for name, kind, mode, value in entries:
            info = tarfile.TarInfo(name)
            info.mode, info.mtime = mode, 1700000000
            if kind == "file":
                info.size = len(value)
                archive.addfile(info, io.BytesIO(value))
                continue
            info.type = {"dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE, "hardlink": tarfile.LNKTYPE}[kind]
            info.linkname = value or ""
            archive.addfile(info)
    return buffer.getvalue()


def deb(path, entries, compression="xz"):
    """Writes a Debian package (ar: debian-binary, control.tar.xz, data.tar.<compression>)."""
    suffix = {"xz": ".xz", "gz": ".gz", "": ""}[compression]
    members = [
        ("debian-binary", b"2.0\n"),
        ("control.tar.xz", tar_bytes([("./control", "file", 0o644, b"Package: test\n")], "xz")),
        ("data.tar" + suffix, tar_bytes(entries, compression)),
    ]
    with open(path, "wb") as output:
        output.write(b"!<arch>\n")
        for name, data in members:
            header = f"{name + '/':<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(data):<10}`\n".encode()
            output.write(header + data + (b"\n" if len(data) % 2 else b""))
    return str(path)
