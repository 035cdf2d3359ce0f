"""extract.py: Debian packages unpacked into one root filesystem tar, without apt or dpkg."""

import contextlib
import io
import json
import stat
import tarfile
import tempfile
import unittest
from pathlib import Path

from tests.debian.support import deb, extract

TOOL = b"\x7fELF pretend binary\n"


class ExtractTest(unittest.TestCase):
    def setUp(self):
        directory = tempfile.TemporaryDirectory()
        self.addCleanup(directory.cleanup)
        self.root = Path(directory.name)
        self.tool = deb(self.root / "tool.deb", [
            ("./", "dir", 0o755, None),
            ("./usr/", "dir", 0o755, None),
            ("./usr/bin/", "dir", 0o755, None),
            ("./usr/bin/tool", "file", 0o4755, TOOL),
            # Sorts before its target: the output must carry the data under this name.
            ("./usr/bin/a-tool", "hardlink", 0o4755, "./usr/bin/tool"),
            ("./usr/bin/t", "symlink", 0o777, "tool"),
            ("./usr/share/", "dir", 0o755, None),
            ("./usr/share/doc/", "dir", 0o755, None),
            ("./usr/share/doc/tool/", "dir", 0o755, None),
            ("./usr/share/doc/tool/copyright", "file", 0o644, b"free\n"),
        ])
        self.lib = deb(self.root / "lib.deb", [
            ("./usr/", "dir", 0o700, None),  # a shared directory keeps the first package's mode
            ("./usr/lib/", "dir", 0o755, None),
            ("./usr/lib/libx.so.1", "file", 0o644, b"library"),
            ("./usr/share/doc/tool/copyright", "file", 0o644, b"free\n"),  # identical: once
        ], compression="gz")

    def run_extract(self, *debs, name="rootfs.tar"):
        output, listing = self.root / name, self.root / (name + ".json")
        stderr = io.StringIO()
        with contextlib.redirect_stderr(stderr):
            code = extract.main(["--output", str(output), "--listing", str(listing), "--name", "test", *debs])
        return code, output, listing, stderr.getvalue()

    def test_one_tar_with_every_package(self):
        code, output, listing, stderr = self.run_extract(self.tool, self.lib)
        self.assertEqual(code, 0, stderr)
        with tarfile.open(output) as archive:
            members = archive.getmembers()
            names = [m.name for m in members]
            self.assertEqual(names, sorted(names))
            self.assertEqual(names, [
                "usr", "usr/bin", "usr/bin/a-tool", "usr/bin/t", "usr/bin/tool", "usr/lib", "usr/lib/libx.so.1",
                "usr/share", "usr/share/doc", "usr/share/doc/tool", "usr/share/doc/tool/copyright"])
            by_name = {m.name: m for m in members}
            self.assertEqual(by_name["usr"].mode, 0o755)
            carrier, link = by_name["usr/bin/a-tool"], by_name["usr/bin/tool"]
            self.assertTrue(carrier.isreg())
            self.assertEqual(archive.extractfile(carrier).read(), TOOL)
            self.assertEqual(stat.S_IMODE(carrier.mode), 0o4755)
            self.assertTrue(link.islnk())
            self.assertEqual(link.linkname, "usr/bin/a-tool")
            self.assertTrue(by_name["usr/bin/t"].issym())
            self.assertEqual(by_name["usr/bin/t"].linkname, "tool")
            self.assertEqual({m.mtime for m in members}, {0})
            self.assertEqual(archive.extractfile("usr/lib/libx.so.1").read(), b"library")
        entries = json.loads(listing.read_text())
        self.assertEqual(entries["usr/bin/t"], "tool")
        self.assertIsNone(entries["usr/bin/tool"])
        self.assertEqual(sorted(entries), names)

    def test_same_bytes_every_time(self):
        first = self.run_extract(self.tool, self.lib, name="a.tar")[1].read_bytes()
        second = self.run_extract(self.tool, self.lib, name="b.tar")[1].read_bytes()
        self.assertEqual(first, second)

    def test_a_path_shipped_differently_by_two_packages(self):
        other = deb(self.root / "other.deb", [("./usr/bin/tool", "file", 0o755, b"another tool")])
        code, output, _, stderr = self.run_extract(self.tool, other)
        self.assertEqual(code, 1)
        self.assertEqual(stderr, "debian_image(test): usr/bin/tool is shipped differently by tool.deb and other.deb: "
                                 "remove one of them from packages\n")
        self.assertFalse(output.exists())
        self.assertEqual([p.name for p in self.root.iterdir() if p.name.startswith(".partial")], [])

    def test_not_a_package(self):
        (self.root / "broken.deb").write_bytes(b"<html>not found</html>")
        code, _, _, stderr = self.run_extract(str(self.root / "broken.deb"))
        self.assertEqual(code, 1)
        self.assertEqual(stderr, f"debian_image(test): {self.root / 'broken.deb'} is not a Debian package (no ar header)\n")


if __name__ == "__main__":
    unittest.main()
