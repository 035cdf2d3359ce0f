"""wheel_install.py against hostile wheels, each built here: every refusal is one line naming the
wheel and the member, exit 1, and nothing written anywhere (not even inside --repo); a good wheel
installs as the wheel specification says."""

import base64
import hashlib
import json
import os
import stat
import struct
import subprocess
import sys
import tempfile
import unittest
import warnings
import zipfile
from pathlib import Path

from tests.pypi.support import SCRIPTS, wheel_install

DIST = "evil-1.0.dist-info"
DATA = "evil-1.0.data"
WHEEL = "evil-1.0-py3-none-any.whl"
METADATA = b"Metadata-Version: 2.1\nName: evil\nVersion: 1.0\n"


def row(name, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}\n"


def build(path, members, *, record=True, metadata=True, extra_rows="", unlisted=()):
    """Writes a wheel of `members` ([(name or ZipInfo, bytes)]), plus a METADATA and a RECORD
    listing them but `unlisted`, plus `extra_rows` (record=False: no RECORD)."""
    members = list(members) + ([(f"{DIST}/METADATA", METADATA)] if metadata else [])
    if record:
        record = "".join(row(getattr(n, "filename", n), d) for n, d in members if getattr(n, "filename", n) not in unlisted)
        record += extra_rows + f"{DIST}/RECORD,,\n"
    with warnings.catch_warnings(), zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        warnings.simplefilter("ignore")  # duplicate names, on purpose
        for name, data in members:
            archive.writestr(name, data)
        if record:
            archive.writestr(f"{DIST}/RECORD", record)


def central(data, name, **fields):
    """`data` (a zip) with fields of `name`'s central directory entry rewritten, as a crafted
    archive would declare them."""
    data = bytearray(data)
    offsets = {"crc": 16, "compressed": 20, "size": 24, "offset": 42}
    position = data.index(b"PK\x01\x02")
    while position >= 0:
        length, extra, comment = struct.unpack_from("<HHH", data, position + 28)
        if bytes(data[position + 46:position + 46 + length]) == name.encode():
            for field, value in fields.items():
                struct.pack_into("<I", data, position + offsets[field], value)
            return bytes(data)
        position = data.find(b"PK\x01\x02", position + 46 + length + extra + comment)
    raise AssertionError(f"{name} not in the central directory")


def tree(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


class Case(unittest.TestCase):
    def setUp(self):
        self.root = Path(tempfile.mkdtemp())
        self.addCleanup(lambda: subprocess.run(["rm", "-rf", str(self.root)], check=True))
        # Deep enough that `../..` escapes from repo/site/ still land inside root, where the
        # test can see them.
        self.repo = self.root / "a" / "b" / "repo"
        self.repo.mkdir(parents=True)
        self.wheel = self.root / WHEEL

    def run_install(self):
        return subprocess.run([sys.executable, str(SCRIPTS / "wheel_install.py"), "--wheel", str(self.wheel), "--repo", str(self.repo)],
                              capture_output=True, text=True, check=False)

    def refused(self, *needles):
        """Installs self.wheel, expecting a refusal whose line holds `needles`; nothing may be
        left under root but the wheel and the empty repo."""
        result = self.run_install()
        self.assertEqual(result.returncode, 1, result.stdout + result.stderr)
        self.assertEqual(result.stdout, "")
        line = result.stderr
        self.assertEqual(line.count("\n"), 1, line)
        self.assertTrue(line.startswith(f"rules_sematic wheel: error: {WHEEL}: "), line)
        for needle in needles:
            self.assertIn(needle, line)
        self.assertEqual(tree(self.root), ["a", "a/b", "a/b/repo", WHEEL])
        return line

    def hostile(self, members, *needles, **options):
        build(self.wheel, [("evil/__init__.py", b"")] + members, **options)
        return self.refused(*needles)


class PathsTest(Case):
    def test_parent_directory_members(self):
        for name in ["../../evil.py", "evil/../../../../evil.py", f"{DATA}/../../evil.py", f"{DATA}/purelib/../../../x.py"]:
            with self.subTest(name=name):
                self.hostile([(name, b"x")], repr(name), "outside the wheel's directory")

    def test_absolute_member(self):
        name = str(self.root / "absolute-evil.py")
        self.hostile([(name, b"x")], repr(name), "outside the wheel's directory")

    def test_record_entry_outside(self):
        self.hostile([], "'../../evil.py'", "outside", extra_rows=row("../../evil.py", b"x"))

    def test_symlink_and_special_files(self):
        for mode, needle in [(stat.S_IFLNK | 0o777, "is a symbolic link"), (stat.S_IFIFO | 0o644, "is a special file"),
                             (stat.S_IFCHR | 0o644, "is a special file")]:
            with self.subTest(mode=oct(mode)):
                info = zipfile.ZipInfo("evil/link.py")
                info.external_attr = mode << 16
                self.hostile([(info, str(self.root / "target").encode())], "evil/link.py", needle)

    def test_data_directory_schemes(self):
        for name in [f"{DATA}/root/etc/passwd", f"{DATA}/scripts", f"{DATA}/purelib"]:
            with self.subTest(name=name):
                self.hostile([(name, b"x")], name, "may hold only files under purelib, platlib, data, scripts, headers")

    def test_duplicate_members(self):
        self.hostile([("evil/__init__.py", b"other")], "evil/__init__.py appears twice")

    def test_two_members_one_destination(self):
        self.hostile([(f"{DATA}/purelib/evil/__init__.py", b"")], "would both be site/evil/__init__.py")
        self.setUp()
        self.hostile([(f"{DATA}/scripts/tool", b"#!python\n"), (f"{DATA}/scripts/./tool", b"")], "would both be bin/tool")

    def test_file_where_a_directory_is_needed(self):
        self.hostile([("evil/x", b""), ("evil/x/y.py", b"")], "evil/x would be the file site/evil/x, which evil/x/y.py needs as a directory")

    def test_names_that_are_not_utf8(self):
        # Without the UTF-8 flag (zipfile would read it as cp437) and with it.
        for placeholder, raw in [("evil/AB.py", b"evil/\xff\xfe.py"), ("evil/\u00e9.py", b"evil/\xff\xfe.py")]:
            with self.subTest(placeholder=placeholder):
                build(self.wheel, [("evil/__init__.py", b""), (placeholder, b"x")], unlisted={placeholder})
                data = self.wheel.read_bytes()
                self.wheel.write_bytes(data.replace(placeholder.encode(), raw))
                self.refused(repr(raw), "not UTF-8")

    def test_utf8_names_without_the_flag_are_accepted(self):
        # Some tools write UTF-8 names without setting the flag: they are read as UTF-8.
        build(self.wheel, [("evil/AB.py", b"x")], unlisted={"evil/AB.py"}, extra_rows=row("evil/\u00e9.py", b"x"))
        self.wheel.write_bytes(self.wheel.read_bytes().replace(b"evil/AB.py", "evil/\u00e9.py".encode()))
        result = self.run_install()
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual((self.repo / "site" / "evil" / "\u00e9.py").read_bytes(), b"x")


class RecordTest(Case):
    def test_hash_and_size_mismatches(self):
        good = row("evil/a.py", b"print(1)\n")
        for record_row in [good.replace(good.split(",")[1], "sha256=" + "A" * 43), good.replace(",9\n", ",10\n"),
                           good.replace(",9\n", ",8\n"), "evil/a.py,sha256=!!,9\n"]:
            with self.subTest(row=record_row):
                self.hostile([("evil/a.py", b"print(1)\n")], "evil/a.py does not match its RECORD entry", unlisted={"evil/a.py"},
                             extra_rows=record_row)
                self.setUp()

    def test_missing_and_absent_entries(self):
        self.hostile([("evil/a.py", b"")], "evil/a.py is not listed in RECORD with a hash", unlisted={"evil/a.py"})
        self.setUp()
        self.hostile([], "RECORD lists evil/gone.py, which the wheel does not contain", extra_rows=row("evil/gone.py", b""))
        self.setUp()
        self.hostile([("evil/a.py", b"")], "RECORD lists evil/a.py twice", extra_rows=row("evil/a.py", b""))
        self.setUp()
        self.hostile([], f"{DIST}/RECORD is missing", record=False)

    def test_unverifiable_and_malformed_rows(self):
        for record_row, needle in [("evil/a.py,,\n", "gives evil/a.py no sha256"),
                                   ("evil/a.py,md5=1B2M2Y8AsgTpgAmY7PhCfg,0\n", "gives evil/a.py no sha256"),
                                   ("evil/a.py,sha256=x\n", "malformed row"),
                                   (row("evil/a.py", b"").replace(",0\n", ",-1\n"), "the size '-1', not a number")]:
            with self.subTest(row=record_row):
                self.hostile([("evil/a.py", b"")], needle, unlisted={"evil/a.py"}, extra_rows=record_row)
                self.setUp()

    def test_a_file_named_record_elsewhere_is_still_checked(self):
        self.hostile([("evil/RECORD", b"")], "evil/RECORD is not listed in RECORD", unlisted={"evil/RECORD"})

    def test_metadata_missing_or_two_dist_infos(self):
        self.hostile([], f"{DIST}/METADATA is missing", metadata=False)
        self.setUp()
        self.hostile([("other-1.0.dist-info/METADATA", METADATA)], "expected one .dist-info directory")


class BombTest(Case):
    def test_declared_sizes_past_the_cap(self):
        members = [(f"evil/{i}.bin", b"\0" * 10) for i in range(3)]
        build(self.wheel, members)
        data = self.wheel.read_bytes()
        for name, _ in members:  # three members declaring 4 GiB each: 12 GiB > 8 GiB
            data = central(data, name, size=0xFFFFFFF0)
        self.wheel.write_bytes(data)
        self.refused("evil/2.bin brings the unpacked size past 8 GiB", "zip bomb")

    def test_a_real_bomb_against_a_lowered_cap(self):
        # 64 MiB of zeros deflate to 64 KiB; the cap is lowered so that the test stays small.
        build(self.wheel, [("evil/zeros.bin", bytes(64 << 20))])
        self.assertLess(self.wheel.stat().st_size, 1 << 20)
        cap = wheel_install.MAX_TOTAL_SIZE
        wheel_install.MAX_TOTAL_SIZE = 32 << 20
        self.addCleanup(setattr, wheel_install, "MAX_TOTAL_SIZE", cap)
        with self.assertRaisesRegex(wheel_install.WheelError, "evil/zeros.bin brings the unpacked size past 0.03125 GiB"):
            wheel_install.install(self.wheel, self.repo)
        self.assertEqual(tree(self.root), ["a", "a/b", "a/b/repo", WHEEL])

    def test_inflating_past_the_declared_size(self):
        build(self.wheel, [("evil/zeros.bin", bytes(1 << 20))])
        self.wheel.write_bytes(central(self.wheel.read_bytes(), "evil/zeros.bin", size=100))
        self.refused("evil/zeros.bin cannot be read from the archive", "corrupt")

    def test_overlapping_members(self):
        build(self.wheel, [("evil/a.bin", b"a" * 100), ("evil/b.bin", b"b" * 100)])
        data = self.wheel.read_bytes()
        self.wheel.write_bytes(central(data, "evil/b.bin", offset=data.index(b"PK\x03\x04")))
        self.refused("overlaps", "zip bomb")

    def test_huge_metadata_file(self):
        build(self.wheel, [("evil/__init__.py", b"")])
        self.wheel.write_bytes(central(self.wheel.read_bytes(), f"{DIST}/METADATA", size=100 << 20))
        self.refused(f"{DIST}/METADATA declares 104857600 bytes")

    def test_not_a_zip(self):
        self.wheel.write_bytes(b"<html>rate limited</html>")
        self.refused("not a readable zip archive", "fetch it again")


def entry_points(text):
    return [(f"{DIST}/entry_points.txt", text.encode())]


class EntryPointsTest(Case):
    def test_script_names_with_separators_or_metacharacters(self):
        for name in ["../../evil", "a/b", "$(reboot)", "x;rm -rf ~", "`id`", "-rf", ".hidden", "a b", "x|y"]:
            with self.subTest(name=name):
                self.hostile(entry_points(f"[console_scripts]\n{name} = evil:main\n"), repr(name), "is not a script name")
                self.setUp()

    def test_references_that_are_not_module_function(self):
        for value in ["os:system; import evil", "evil", "evil:main()", "1evil:main", "evil:class", "evil:main # comment",
                      "evil:main\n  more"]:
            with self.subTest(value=value):
                self.hostile(entry_points(f"[gui_scripts]\ntool = {value}\n"), "[gui_scripts] 'tool'", "is not a module:function reference")
                self.setUp()

    def test_file_oddities(self):
        for text, needle in [("tool = evil:main\n", "File contains no section headers"),
                             ("[console_scripts]\ntool = evil:main\ntool = evil:other\n", "option 'tool' in section 'console_scripts' already exists"),
                             ("[console_scripts]\ntool = evil:main\n[gui_scripts]\ntool = evil:gui\n", "'tool' is declared twice"),
                             ("[console_scripts]\n[console_scripts]\n", "section 'console_scripts' already exists")]:
            with self.subTest(text=text):
                self.hostile(entry_points(text), f"{DIST}/entry_points.txt", needle)
                self.setUp()
        self.hostile([(f"{DIST}/entry_points.txt", b"[console_scripts]\n\xff = evil:main\n")], f"{DIST}/entry_points.txt is not UTF-8")

    def test_script_over_a_data_script(self):
        self.hostile(entry_points("[console_scripts]\ntool = evil:main\n") + [(f"{DATA}/scripts/tool", b"#!python\n")],
                     "the script tool would overwrite evil-1.0.data/scripts/tool")


class GoodWheelTest(Case):
    def test_layout_modes_scripts_and_summary(self):
        executable = zipfile.ZipInfo("evil/run.sh")
        executable.external_attr = (stat.S_IFREG | 0o755) << 16
        long_line = b"#!python -u " + b"x" * (3 << 20) + b"\nprint('long')\n"
        build(self.wheel, [
            ("evil/__init__.py", b"x = 1\n"),
            (executable, b"#!/bin/sh\n"),
            (f"{DATA}/purelib/evil_extra.py", b""),
            (f"{DATA}/data/share/evil.txt", b"data"),
            (f"{DATA}/headers/evil.h", b"int evil;\n"),
            (f"{DATA}/scripts/plain", b"#!pythonw\nprint(1)\n"),
            (f"{DATA}/scripts/long", long_line),
            (f"{DATA}/scripts/shell", b"#!/bin/sh\necho\n"),
            (f"{DIST}/entry_points.txt", b"[DEFAULT]\nsneaky = os:system\n[console_scripts]\nevil-cli = evil.cli:main.run [extra]\n"
                                         b"[gui_scripts]\nevil_gui=evil:gui\n[other]\nx = y:z\n"),
        ])
        result = self.run_install()
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(tree(self.repo), sorted([
            "METADATA", "bin", "bin/evil-cli", "bin/evil_gui", "bin/long", "bin/plain", "bin/shell", "include", "include/evil.h",
            "site", "site/evil", "site/evil/__init__.py", "site/evil/run.sh", "site/evil_extra.py", "site/share", "site/share/evil.txt",
            f"site/{DIST}", f"site/{DIST}/INSTALLER", f"site/{DIST}/METADATA", f"site/{DIST}/RECORD", f"site/{DIST}/entry_points.txt",
        ]))
        bin_ = self.repo / "bin"
        self.assertEqual((bin_ / "plain").read_bytes(), b"#!/sematic/python3\nprint(1)\n")
        self.assertEqual((bin_ / "long").read_bytes(), b"#!/sematic/python3\nprint('long')\n")
        self.assertEqual((bin_ / "shell").read_bytes(), b"#!/bin/sh\necho\n")
        self.assertEqual((bin_ / "evil-cli").read_text(), "#!/sematic/python3\nimport sys\nfrom evil.cli import main\n"
                         "if __name__ == \"__main__\":\n    sys.exit(main.run())\n")
        modes = {str(p.relative_to(self.repo)): stat.S_IMODE(p.stat().st_mode) for p in self.repo.rglob("*") if p.is_file()}
        self.assertEqual({p for p, m in modes.items() if m == 0o755}, {"bin/evil-cli", "bin/evil_gui", "bin/long", "bin/plain", "bin/shell", "site/evil/run.sh"})
        self.assertTrue(all(m in (0o644, 0o755) for m in modes.values()))
        self.assertEqual((self.repo / "METADATA").read_bytes(), METADATA)
        self.assertEqual((self.repo / "site" / DIST / "INSTALLER").read_text(), "rules_sematic\n")
        sizes = [(self.repo / p).stat().st_size for p in modes if not p == "METADATA"]
        self.assertEqual(json.loads(result.stdout), {"dirs": ["bin", "include", "site"], "size": sum(sizes), "largest": max(sizes)})

    def test_an_installed_repository_is_not_installed_over(self):
        build(self.wheel, [("evil/__init__.py", b"")])
        (self.repo / "site").mkdir()
        result = self.run_install()
        self.assertEqual(result.returncode, 1)
        self.assertIn("site already exists", result.stderr)
        self.assertEqual(os.listdir(self.repo), ["site"])


if __name__ == "__main__":
    unittest.main()
