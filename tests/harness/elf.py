"""Minimal ELF shared objects for end-to-end tests of the native code checks
(sematic-layer --native-report, sematic-image --libc).

`shared_object()` returns a 64-bit little-endian ELF shared object (ET_DYN) without code: one
PT_LOAD segment mapping the file, a PT_DYNAMIC with DT_NEEDED, DT_STRTAB/DT_STRSZ and
DT_VERNEED/DT_VERNEEDNUM, and a version-needs entry asking libc.so.6 for GLIBC_2.2.5 and
GLIBC_<glibc>. Section headers (.dynstr, .gnu.version_r, .dynamic, .shstrtab) make it readable
by `readelf -d -V` as well. Valid enough to be read, not to be loaded.
"""

import struct

MACHINES = {"x86_64": 62, "aarch64": 183}
BASE = 0x400000  # virtual address of the file's first byte: addresses differ from offsets
DT_NULL, DT_NEEDED, DT_STRTAB, DT_STRSZ = 0, 1, 5, 10
DT_VERNEED, DT_VERNEEDNUM = 0x6FFFFFFE, 0x6FFFFFFF
SHT_STRTAB, SHT_DYNAMIC, SHT_GNU_VERNEED = 3, 6, 0x6FFFFFFE
SHF_WRITE, SHF_ALLOC = 1, 2


def _elf_hash(name: str) -> int:
    """The System V ELF hash, which vna_hash holds."""
    value = 0
    for byte in name.encode():
        value = ((value << 4) + byte) & 0xFFFFFFFF
        high = value & 0xF0000000
        value = (value ^ (high >> 24)) & ~high
    return value


def _align(offset: int, alignment: int) -> int:
    return -(-offset // alignment) * alignment


def shared_object(
    machine: str = "x86_64",
    glibc: str | None = "2.17",
    musl: bool = False,
    needed=("libc.so.6",),
) -> bytes:
    """A shared object for `machine` ("x86_64" or "aarch64") needing `needed` and, unless
    `glibc` is None, the symbol versions GLIBC_2.2.5 and GLIBC_<glibc> of libc.so.6. With
    `musl`, libc.so.6 is replaced by libc.musl-<machine>.so.1 and no version is needed."""
    if machine not in MACHINES:
        raise ValueError(f"machine {machine!r}: expected one of {sorted(MACHINES)}")
    needed = list(needed)
    versions = []
    if musl:
        needed = [n for n in needed if n != "libc.so.6"] + [f"libc.musl-{machine}.so.1"]
    elif glibc is not None:
        versions = list(dict.fromkeys(["GLIBC_2.2.5", f"GLIBC_{glibc}"]))

    dynstr = bytearray(b"\0")

    def string(text: str) -> int:
        dynstr.extend(text.encode() + b"\0")
        return len(dynstr) - len(text) - 1

    needed_at = [string(name) for name in needed]
    verneed = b""
    if versions:
        verneed = struct.pack("<HHIII", 1, len(versions), string("libc.so.6"), 16, 0)
        for index, name in enumerate(versions):
            following = 0 if index == len(versions) - 1 else 16
            aux = (_elf_hash(name), 0, 2 + index, string(name), following)  # hash, flags, index, name, next
            verneed += struct.pack("<IHHII", *aux)

    dynstr_at = 64 + 2 * 56  # after the ELF header and two program headers
    verneed_at = _align(dynstr_at + len(dynstr), 4)
    dynamic_at = _align(verneed_at + len(verneed), 8)
    tags = [(DT_NEEDED, at) for at in needed_at]
    tags += [(DT_STRTAB, BASE + dynstr_at), (DT_STRSZ, len(dynstr))]
    if versions:
        tags += [(DT_VERNEED, BASE + verneed_at), (DT_VERNEEDNUM, 1)]
    dynamic = b"".join(struct.pack("<qQ", tag, value) for tag, value in tags + [(DT_NULL, 0)])
    loaded = dynamic_at + len(dynamic)

    names = b"\0.dynstr\0.gnu.version_r\0.dynamic\0.shstrtab\0"

    def section(name, kind, flags, at, size, link=0, info=0, alignment=1, entry_size=0):
        address = BASE + at if flags & SHF_ALLOC else 0
        name_at = names.index(f"\0{name}\0".encode()) + 1
        return (name_at, kind, flags, address, at, size, link, info, alignment, entry_size)

    sections = [(0,) * 10, section(".dynstr", SHT_STRTAB, SHF_ALLOC, dynstr_at, len(dynstr))]
    if versions:  # one entry (libc.so.6), its strings in section 1
        verneed_section = (SHT_GNU_VERNEED, SHF_ALLOC, verneed_at, len(verneed), 1, 1, 4)
        sections.append(section(".gnu.version_r", *verneed_section))
    dynamic_section = (SHT_DYNAMIC, SHF_ALLOC | SHF_WRITE, dynamic_at, len(dynamic), 1, 0, 8, 16)
    sections.append(section(".dynamic", *dynamic_section))
    sections.append(section(".shstrtab", SHT_STRTAB, 0, loaded, len(names)))
    section_headers = _align(loaded + len(names), 8)

    ident = b"\x7fELF" + bytes([2, 1, 1]) + bytes(9)  # ELF64, little-endian, version 1
    header = struct.pack(
        "<16sHHIQQQIHHHHHH", ident, 3, MACHINES[machine], 1, 0, 64, section_headers, 0,
        64, 56, 2, 64, len(sections), len(sections) - 1,
    )
    program_header = "<IIQQQQQQ"  # type, flags, offset, address, physical address, sizes, alignment
    load = struct.pack(program_header, 1, 6, 0, BASE, BASE, loaded, loaded, 0x1000)
    dynamic_address = BASE + dynamic_at
    dynamic_segment = struct.pack(
        program_header, 2, 6, dynamic_at, dynamic_address, dynamic_address, len(dynamic), len(dynamic), 8
    )
    out = bytearray(section_headers)
    parts = [(0, header), (64, load), (120, dynamic_segment), (dynstr_at, dynstr), (verneed_at, verneed),
             (dynamic_at, dynamic), (loaded, names)]
    for at, data in parts:
        out[at : at + len(data)] = data
    return bytes(out) + b"".join(struct.pack("<IIQQQQIIQQ", *section) for section in sections)
