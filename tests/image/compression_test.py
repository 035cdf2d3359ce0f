"""zstd layers hold the same tar bytes as gzip ones: equal diff_ids, zstd media types and magic."""

import json
import os
import sys
import unittest
from pathlib import Path

RUNFILES = Path(os.environ["RUNFILES_DIR"])
WORKSPACE = os.environ["TEST_WORKSPACE"]
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def image(paths):
    layout = next(RUNFILES / WORKSPACE / p for p in paths.split() if (RUNFILES / WORKSPACE / p).is_dir())
    entry = json.loads((layout / "index.json").read_text())["manifests"][0]

    def blob(digest):
        return layout / "blobs" / "sha256" / digest.split(":")[1]

    manifest = json.loads(blob(entry["digest"]).read_text())
    config = json.loads(blob(manifest["config"]["digest"]).read_text())
    return manifest, config, blob


GZIP = image(sys.argv[1])
ZSTD = image(sys.argv[2])


class CompressionTest(unittest.TestCase):
    def test_same_tars_different_compression(self):
        (gzip_manifest, gzip_config, _), (zstd_manifest, zstd_config, zstd_blob) = GZIP, ZSTD
        self.assertEqual(gzip_config["rootfs"]["diff_ids"], zstd_config["rootfs"]["diff_ids"])
        # The base's two layers and the shared /sematic/bin layer stay gzip; ours are zstd.
        types = [layer["mediaType"] for layer in zstd_manifest["layers"]]
        self.assertTrue(all(t.endswith("+gzip") for t in types[:3]), types)
        self.assertTrue(all(t == "application/vnd.oci.image.layer.v1.tar+zstd" for t in types[3:]), types)
        for layer in zstd_manifest["layers"][3:]:
            with open(zstd_blob(layer["digest"]), "rb") as data:
                self.assertEqual(data.read(4), ZSTD_MAGIC)
        self.assertNotEqual(gzip_manifest["layers"][-1]["digest"], zstd_manifest["layers"][-1]["digest"])


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1])
