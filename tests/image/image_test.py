"""Inspects images built by sematic_pipeline, byte by byte, without running them.

Arguments: `<key>=<paths of the image target>` for each image; the paths are the runfiles
paths of the layout directory and the `.digest` file.
"""

import gzip
import hashlib
import json
import os
import sys
import tarfile
import unittest
from pathlib import Path

RUNFILES = Path(os.environ["RUNFILES_DIR"]) if "RUNFILES_DIR" in os.environ else Path.cwd().parent
WORKSPACE = os.environ["TEST_WORKSPACE"]
IMAGES = {}


def blob(layout, digest):
    return layout / "blobs" / "sha256" / digest.split(":", 1)[1]


def load_json(layout, digest):
    data = blob(layout, digest).read_bytes()
    assert "sha256:" + hashlib.sha256(data).hexdigest() == digest, f"{digest} does not match its content"
    return json.loads(data)


class Image:
    def __init__(self, layout, digest_file):
        self.layout = layout
        self.digest = digest_file.read_text()
        index = json.loads((layout / "index.json").read_text())
        (entry,) = index["manifests"]
        assert entry["digest"] == self.digest, (entry, self.digest)
        self.manifest = load_json(layout, self.digest)
        self.config = load_json(layout, self.manifest["config"]["digest"])
        self.env = dict(item.split("=", 1) for item in self.config["config"]["Env"])

    def layer_members(self, index):
        descriptor = self.manifest["layers"][index]
        with tarfile.open(blob(self.layout, descriptor["digest"]), "r:gz") as tar:
            return tar.getmembers()


class PipelineImageTest(unittest.TestCase):
    def test_manifest_blobs_and_diff_ids_match(self):
        for key, image in IMAGES.items():
            layers = image.manifest["layers"]
            self.assertEqual(len(layers), len(image.config["rootfs"]["diff_ids"]), key)
            self.assertEqual(len(layers), len(image.config["history"]), key)
            self.assertLess(len(layers), 60, "layer count must stay far below OCI's 127")
            for descriptor, diff_id in zip(layers, image.config["rootfs"]["diff_ids"]):
                data = blob(image.layout, descriptor["digest"]).read_bytes()
                self.assertEqual(len(data), descriptor["size"])
                self.assertEqual("sha256:" + hashlib.sha256(data).hexdigest(), descriptor["digest"])
                self.assertEqual("sha256:" + hashlib.sha256(gzip.decompress(data)).hexdigest(), diff_id)

    def test_sematic_worker_contract(self):
        for key, image in IMAGES.items():
            config = image.config["config"]
            worker = "/app/examples/%s/main_worker" % PACKAGE
            # The worker runs on the base's Python through /sematic/python3 (see the layers).
            self.assertEqual(config["Entrypoint"], ["/sematic/python3", worker], key)
            self.assertIsNone(config.get("Cmd"), key)
            self.assertEqual(config["WorkingDir"], f"{worker}.runfiles/{WORKSPACE}", key)
            self.assertTrue(image.env["PATH"].startswith("/sematic/bin:/usr/local/sbin:"), image.env["PATH"])
            self.assertEqual(image.env["BAZEL_BUILT_IMAGE"], "1")
            self.assertEqual(image.env["RULES_SEMATIC_WORKER"], worker)
            self.assertEqual(image.env["RULES_SEMATIC_PYTHON"], "/sematic/python3")
            self.assertEqual(image.env["RULES_SEMATIC_PYTHON_VERSION"], "3.11", "Debian bookworm's Python")
            self.assertEqual(image.env["HOME"], "/root", "the base's environment is kept")
            self.assertEqual(image.config["created"], "1970-01-01T00:00:00Z")

    def test_layers_are_normalised_and_split_by_origin(self):
        image = IMAGES["default"]
        history = [h["created_by"] for h in image.config["history"]]
        runfiles = f"app/examples/{PACKAGE}/main_worker.runfiles/"
        found_tools = found_first_party = found_links = buckets = own_layers = 0
        for index, created_by in enumerate(history):
            if "root filesystem" in created_by or "debian_image" in created_by:
                continue  # the base's own layers
            members = image.layer_members(index)
            names = [m.name for m in members]
            self.assertEqual(names, sorted(names), f"layer {index} entries are not sorted")
            directories = {m.name for m in members if m.isdir()}  # tarfile drops the trailing '/'
            for member in members:
                self.assertEqual((member.mtime, member.uid, member.gid, member.uname, member.gname), (0, 0, 0, "", ""), member.name)
                parent = member.name.rpartition("/")[0]
                if parent:
                    self.assertIn(parent, directories, f"{member.name} has no explicit parent directory")
            files = {m.name: m for m in members if m.isfile()}
            if "sematic/bin/bazel_python" in files:
                found_tools += 1
                self.assertEqual(files["sematic/bin/bazel_python"].mode, 0o755)
                self.assertEqual(next(m for m in members if m.name == "sematic/bin").mode, 0o777)
            elif "first-party" in created_by:
                found_first_party += 1
                self.assertIn(f"app/examples/{PACKAGE}/main_worker", files)
                self.assertIn(f"{runfiles}{WORKSPACE}/examples/{PACKAGE}/pipeline.py", files)
                self.assertIn(f"{runfiles}_repo_mapping", files)
                shim = next(m for m in members if m.name == "sematic/python3")
                self.assertEqual((shim.issym(), shim.linkname), (True, "../usr/bin/python3"))
                for name in files:
                    self.assertFalse(name.startswith(runfiles) and "/site/" in name, f"third-party file {name} in the first-party layer")
            elif "third-party code, bucket" in created_by:
                buckets += 1
                # Assembled from the distributions' pieces: all under /app/_ext.
                self.assertEqual(names[:2], ["app", "app/_ext"], created_by)
                for name in names[2:]:
                    self.assertTrue(name.startswith("app/_ext/"), name)
            elif "runfiles links to third-party code" in created_by:
                found_links += 1
                links = [m for m in members if m.issym()]
                self.assertGreater(len(links), 50, "one link per distribution")
                for link in links:
                    self.assertTrue(link.name.startswith(runfiles) and link.linkname.startswith("../../../_ext/"), (link.name, link.linkname))
            elif created_by.startswith("rules_sematic: ") and not created_by.startswith("rules_sematic: Python"):
                # A large distribution's own layer, e.g. "rules_sematic: kubernetes 37.0.1".
                own_layers += 1
                self.assertTrue(all(n.startswith("app/_ext/") or n in ("app", "app/_ext") for n in names), created_by)
        self.assertEqual((found_tools, found_first_party, found_links), (1, 1, 1), history)
        self.assertGreater(buckets, 10, "sematic's dependencies are spread over buckets")
        self.assertIn("rules_sematic: kubernetes 37.0.1", history, "kubernetes (76 MB) gets a layer of its own")
        self.assertEqual(own_layers, 1, history)

    def test_keys_share_every_layer_but_the_base(self):
        if len(IMAGES) < 2:
            self.skipTest("single-base pipeline")
        default, cuda = IMAGES["default"], IMAGES["cuda"]
        self.assertNotEqual(default.digest, cuda.digest)
        ours = [l["digest"] for l in default.manifest["layers"][2:]]
        # The cuda stand-in base has one more layer; everything on top is the same bytes.
        self.assertEqual(ours, [l["digest"] for l in cuda.manifest["layers"][3:]])
        self.assertEqual(cuda.env["CUDA_STAND_IN"], "1")


def main():
    global PACKAGE
    PACKAGE = sys.argv[1]
    for argument in sys.argv[2:]:
        key, paths = argument.split("=", 1)
        found = [RUNFILES / WORKSPACE / p if not p.startswith("../") else RUNFILES / p[3:] for p in paths.split()]
        layout = next(p for p in found if p.is_dir())
        digest = next(p for p in found if p.name.endswith(".digest"))
        IMAGES[key] = Image(layout, digest)
    unittest.main(argv=sys.argv[:1])


if __name__ == "__main__":
    main()
