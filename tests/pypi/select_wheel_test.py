"""select_wheel.py: which file of a pin each target gets, and the one line that says why none
fits (a hand-edited hash, only a source distribution, no wheel for the platform)."""

import unittest

from tests.pypi.support import select_wheel, targets

SIX = "8a7c0ac7f5ad5d4c2c8ff7a2e4b1b3c3e3d5f6a7b8c9d0e1f2a3b4c5d6e7f8a9"
EDITED = "9a7c0ac7f5ad5d4c2c8ff7a2e4b1b3c3e3d5f6a7b8c9d0e1f2a3b4c5d6e7f8a9"
SOURCE = "//:lock.files.json"


def entry(sha256, requires_python=None):
    return {"urls": [f"https://files.example/{sha256[:8]}"], "sha256": sha256, "requires_python": requires_python}


def target(name="cp311_x86_64", libc="glibc 2.28"):
    return targets.target_of(name, libc)


def choose(files, name, version, hashes, target_):
    found = select_wheel.release_files(name, version, files)
    chosen = select_wheel.best(select_wheel.pinned(found, set(hashes)), target_)
    if chosen:
        return chosen[0]
    return select_wheel.missing_message(name, version, set(hashes), found, target_, SOURCE, "@pypi//:lock")


NUMPY = {
    "numpy-2.2.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl": entry("1" * 64),
    "numpy-2.2.0-cp311-cp311-manylinux_2_31_x86_64.whl": entry("2" * 64),
    "numpy-2.2.0-cp311-cp311-musllinux_1_2_x86_64.whl": entry("3" * 64),
    "numpy-2.2.0-cp311-cp311-manylinux_2_17_aarch64.manylinux2014_aarch64.whl": entry("4" * 64),
    "numpy-2.2.0-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl": entry("5" * 64),
    "numpy-2.2.0-cp311-cp311-macosx_14_0_arm64.whl": entry("6" * 64),
    "numpy-2.2.0.tar.gz": entry("7" * 64),
    "numpy-2.1.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl": entry("8" * 64),
}
ALL_NUMPY = [e["sha256"] for e in NUMPY.values()]


class ChoiceTest(unittest.TestCase):
    def test_each_target_gets_the_best_wheel_its_libc_and_cpu_run(self):
        for name, libc, expected in [
            ("cp311_x86_64", "glibc 2.28", "numpy-2.2.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"),
            ("cp311_x86_64", "glibc 2.36", "numpy-2.2.0-cp311-cp311-manylinux_2_31_x86_64.whl"),
            ("cp311_x86_64", "musl 1.2", "numpy-2.2.0-cp311-cp311-musllinux_1_2_x86_64.whl"),
            ("cp311_aarch64", "glibc 2.28", "numpy-2.2.0-cp311-cp311-manylinux_2_17_aarch64.manylinux2014_aarch64.whl"),
            ("cp312_x86_64", "glibc 2.28", "numpy-2.2.0-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"),
        ]:
            with self.subTest(target=name, libc=libc):
                self.assertEqual(choose(NUMPY, "numpy", "2.2.0", ALL_NUMPY, target(name, libc)), expected)

    def test_only_files_the_lock_pins_are_candidates(self):
        hashes = ["2" * 64]  # only the manylinux_2_31 wheel
        self.assertIn("no wheel with accepted tags",
                      choose(NUMPY, "numpy", "2.2.0", hashes, target("cp311_x86_64", "glibc 2.28")))

    def test_abi3_and_pure_python_wheels_rank_below_version_specific_ones(self):
        files = {
            "cryptography-44.0.0-cp39-abi3-manylinux_2_28_x86_64.whl": entry("a" * 64),
            "cryptography-44.0.0-cp311-cp311-manylinux_2_28_x86_64.whl": entry("b" * 64),
            "cryptography-44.0.0-py3-none-any.whl": entry("c" * 64),
        }
        hashes = [e["sha256"] for e in files.values()]
        self.assertEqual(choose(files, "cryptography", "44.0.0", hashes, target()),
                         "cryptography-44.0.0-cp311-cp311-manylinux_2_28_x86_64.whl")
        self.assertEqual(choose(files, "cryptography", "44.0.0", hashes, target("cp313_x86_64")),
                         "cryptography-44.0.0-cp39-abi3-manylinux_2_28_x86_64.whl")
        self.assertEqual(choose(files, "cryptography", "44.0.0", hashes, targets.any_target()),
                         "cryptography-44.0.0-py3-none-any.whl")

    def test_requires_python_excludes_a_wheel(self):
        files = {"tool-1.0-py3-none-any.whl": entry("a" * 64, requires_python=">=3.10")}
        self.assertEqual(choose(files, "tool", "1.0", ["a" * 64], target("cp311_x86_64")), "tool-1.0-py3-none-any.whl")
        self.assertIn("no file of tool==1.0 fits Python 3.9",
                      choose(files, "tool", "1.0", ["a" * 64], target("cp39_x86_64")))

    def test_names_and_versions_are_compared_normalised(self):
        files = {"Flask_Cors-4.0.1-py2.py3-none-any.whl": entry("a" * 64),
                 "flask_cors-4.0.10-py2.py3-none-any.whl": entry("b" * 64)}
        self.assertEqual(choose(files, "flask_cors", "4.0.1", ["a" * 64, "b" * 64], target()),
                         "Flask_Cors-4.0.1-py2.py3-none-any.whl")


class MissingTest(unittest.TestCase):
    def test_a_hand_edited_hash_names_both_hashes(self):
        files = {"six-1.16.0-py2.py3-none-any.whl": entry(SIX), "six-1.16.0.tar.gz": entry("f" * 64)}
        message = choose(files, "six", "1.16.0", [EDITED, "f" * 64], target())
        self.assertIn("no file of six==1.16.0 fits Python 3.11 on linux x86_64", message)
        self.assertIn(EDITED, message)
        self.assertIn(f"in {SOURCE} six-1.16.0-py2.py3-none-any.whl has sha256 {SIX}", message)
        self.assertIn("the lock was edited, or the files list is stale", message)
        self.assertIn("then run `bazel run @pypi//:lock`", message)
        self.assertNotIn("\n", message)

    def test_only_a_source_distribution_says_sdists_are_never_built(self):
        files = {"docopt-0.6.2.tar.gz": entry("d" * 64)}
        message = choose(files, "docopt", "0.6.2", ["d" * 64], target())
        self.assertIn("only a source distribution of it exists (docopt-0.6.2.tar.gz)", message)
        self.assertIn("never builds one", message)
        self.assertIn("extra_index_urls", message)
        self.assertNotIn("pin a version", message)

    def test_no_wheel_for_the_platform_names_the_tags_the_files_and_libc(self):
        files = {"onlyx86-1.0-cp311-cp311-manylinux_2_17_x86_64.whl": entry("e" * 64)}
        message = choose(files, "onlyx86", "1.0", ["e" * 64], target("cp311_aarch64"))
        self.assertIn("fits Python 3.11 on linux aarch64 with glibc 2.28", message)
        self.assertIn("accepted tags (cp311-cp311-manylinux_2_28_aarch64 down to py3-none-any)", message)
        self.assertIn("onlyx86-1.0-cp311-cp311-manylinux_2_17_x86_64.whl", message)
        self.assertIn('raise libc (e.g. libc = "glibc 2.31")', message)

    def test_nothing_listed(self):
        message = choose({}, "ghost", "1.0", ["e" * 64], target())
        self.assertIn(f"{SOURCE} lists no file of it that the lock pins: run `bazel run @pypi//:lock`", message)

    def test_hashes_the_list_lacks_suggest_the_lock_command(self):
        files = {"onlyx86-1.0-cp311-cp311-manylinux_2_17_x86_64.whl": entry("e" * 64)}
        message = choose(files, "onlyx86", "1.0", ["e" * 64, "f" * 64], target("cp311_aarch64"))
        self.assertIn(f"the lock pins 1 hashes {SOURCE} does not list: if the lock changed, run `bazel run @pypi//:lock`", message)


class FilesListTest(unittest.TestCase):
    def test_entries_become_files_by_name(self):
        files = select_wheel.listed_files([
            {"url": "https://files.example/ab/six-1.16.0-py2.py3-none-any.whl", "sha256": SIX, "requires_python": ">=2.7"},
            {"url": "https://files.example/cd/six-1.16.0.tar.gz", "sha256": "f" * 64}])
        self.assertEqual(files["six-1.16.0-py2.py3-none-any.whl"],
                         {"urls": ["https://files.example/ab/six-1.16.0-py2.py3-none-any.whl"], "sha256": SIX,
                          "requires_python": ">=2.7"})
        self.assertEqual(files["six-1.16.0.tar.gz"]["requires_python"], None)


if __name__ == "__main__":
    unittest.main()
