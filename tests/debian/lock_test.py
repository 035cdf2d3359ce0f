"""lock.py: the lock's canonical text and the Release file it trusts."""

import json
import unittest

from tests.debian.support import lock

ENTRY = {"architecture": "all", "name": "media-types", "path": "pool/main/m/media-types/media-types_10.0.0_all.deb",
         "sha256": "a" * 64, "size": 28808, "version": "10.0.0"}


class RenderTest(unittest.TestCase):
    def test_canonical_one_package_per_line(self):
        inputs = {"architectures": ["amd64", "arm64"], "format": 1, "mirror": "http://deb.debian.org/debian",
                  "packages": ["media-types"], "suite": "bookworm"}
        text = lock.render(inputs, {"arm64": [ENTRY], "amd64": [ENTRY, dict(ENTRY, name="zz")]})
        self.assertEqual(json.loads(text), dict(inputs, resolved={"amd64": [ENTRY, dict(ENTRY, name="zz")],
                                                                   "arm64": [ENTRY]}))
        lines = text.splitlines()
        self.assertEqual(lines[:7], [
            "{", '  "architectures": ["amd64", "arm64"],', '  "format": 1,',
            '  "mirror": "http://deb.debian.org/debian",', '  "packages": ["media-types"],', '  "resolved": {',
            '    "amd64": ['])
        self.assertEqual(lines[7], '      {"architecture": "all", "name": "media-types", "path": '
                                   '"pool/main/m/media-types/media-types_10.0.0_all.deb", "sha256": "' + "a" * 64
                         + '", "size": 28808, "version": "10.0.0"},')
        self.assertTrue(text.endswith('"suite": "bookworm"\n}\n'))
        self.assertTrue(text.isascii())


class ReleaseTest(unittest.TestCase):
    def test_sha256_list(self):
        fields, hashes = lock.release_fields(
            "Codename: bookworm\nMD5Sum:\n 0123 10 main/binary-amd64/Packages.xz\nSHA256:\n"
            f" {'b' * 64}  8790396 main/binary-amd64/Packages.xz\n {'c' * 64} 12 main/binary-arm64/Packages\n")
        self.assertEqual(fields["Codename"], "bookworm")
        self.assertEqual(hashes, {"main/binary-amd64/Packages.xz": ("b" * 64, 8790396),
                                  "main/binary-arm64/Packages": ("c" * 64, 12)})


if __name__ == "__main__":
    unittest.main()
