"""targets.py: the lock parser every requirements repository uses, libc tags, marker
environments."""

import tempfile
import unittest
from pathlib import Path

from tests.pypi.support import dependencies, die_message, fill_test_caches, targets, tricky_lock

HASH_A = "a" * 64
HASH_B = "b" * 64


def read(text):
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "lock.txt"
        path.write_text(text, encoding="utf-8")
        return targets.read_lock(path, "//:lock.txt")


class LockTest(unittest.TestCase):
    def test_continuations_comments_markers_and_hashes(self):
        pins = read(
            "# generated\n"
            "--index-url https://example.com/simple\n"
            f"Foo.Bar==1.0 ; python_version >= '3.10' \\\n    --hash=sha256:{HASH_A} \\\n"
            f"    --hash=sha256:{HASH_B}\n    # via baz\n"
            f"six==1.16.0\t--hash=sha256:{HASH_A}  # inline comment\n"
        )
        self.assertEqual([(p.name, p.version, p.hashes) for p in pins],
                         [("foo_bar", "1.0", [HASH_A, HASH_B]), ("six", "1.16.0", [HASH_A])])
        self.assertEqual(str(pins[0].requirement.marker), 'python_version >= "3.10"')

    def test_every_lock_parser_reads_the_tricky_lock_alike(self):
        # lock.bzl's parse_lock reads the same lock in tests/starlark/rules_test.bzl.
        text, expected = tricky_lock()
        merged = {}
        for pin in read(text):
            merged.setdefault(f"{pin.name}=={pin.version}", set()).update(pin.hashes)
        self.assertEqual({key: sorted(hashes) for key, hashes in merged.items()}, expected)
        with tempfile.TemporaryDirectory() as directory:
            path = Path(directory) / "lock.txt"
            path.write_text(text, encoding="utf-8")
            filled = fill_test_caches().lock_pins(path)
        self.assertEqual({f"{targets.normalize(name)}=={version}": sorted(hashes) for (name, version), hashes in filled.items()}, expected)

    def test_bad_locks_name_the_line_and_the_fix(self):
        for text, needle in [
            ("-e ./local\n", "`-e` is not supported"),
            ("-r other.txt\n", "`-r` is not supported"),
            (f"foo>=1.0 --hash=sha256:{HASH_A}\n", "is not pinned with =="),
            ("foo==1.0\n", "has no --hash=sha256"),
            (f"foo @ https://x/foo.whl --hash=sha256:{HASH_A}\n", "comes from a URL"),
            (f"foo==1.0 ; python_version >== '3' --hash=sha256:{HASH_A}\n", "//:lock.txt"),
        ]:
            with self.subTest(text=text):
                message = die_message(read, text)
                self.assertIn(needle, message)
                self.assertEqual(message.count("\n"), 1, message)

    def test_applicable_pins_follow_the_targets_markers(self):
        pins = read(
            f"numpy==2.0.2 ; python_version < '3.10' --hash=sha256:{HASH_A}\n"
            f"numpy==2.2.0 ; python_version >= '3.10' --hash=sha256:{HASH_B}\n"
            f"uvloop==0.21 ; sys_platform != 'win32' and platform_machine == 'aarch64' --hash=sha256:{HASH_A}\n"
        )
        for name, expected in [("cp39_x86_64", {"numpy": "2.0.2"}),
                               ("cp313_aarch64", {"numpy": "2.2.0", "uvloop": "0.21"})]:
            environment = targets.target_of(name, "glibc 2.28").environment
            chosen = targets.applicable_pins(pins, environment, "//:lock.txt")
            self.assertEqual({n: p.version for n, p in chosen.items()}, expected)

    def test_two_pins_of_one_name_for_one_target_is_an_error(self):
        pins = read(f"six==1.16.0 --hash=sha256:{HASH_A}\nsix==1.17.0 --hash=sha256:{HASH_B}\n")
        environment = targets.target_of("cp311_x86_64", "glibc 2.28").environment
        message = die_message(targets.applicable_pins, pins, environment, "//:lock.txt")
        self.assertIn("two pins of six apply to Python 3.11 on x86_64", message)

    def test_lock_for_takes_its_own_else_the_closest_below_else_the_lowest(self):
        locks = {"3.9": "a", "3.11": "b"}
        self.assertEqual([dependencies.lock_for(locks, v) for v in ("3.11", "3.12", "3.8")], ["b", "b", "a"])


class TargetTest(unittest.TestCase):
    def test_glibc_tags_run_from_the_libc_down_to_the_oldest_manylinux(self):
        tags = targets.platform_tags("x86_64", targets.parse_libc("glibc 2.28"))
        self.assertEqual(tags[0], "manylinux_2_28_x86_64")
        self.assertIn("manylinux2014_x86_64", tags)
        self.assertEqual(tags[-2:], ["manylinux_2_5_x86_64", "manylinux1_x86_64"])
        arm = targets.platform_tags("aarch64", targets.parse_libc("glibc 2.17"))
        self.assertEqual(arm, ["manylinux_2_17_aarch64", "manylinux2014_aarch64"])

    def test_musl_tags(self):
        self.assertEqual(targets.platform_tags("aarch64", targets.parse_libc("musl 1.2")),
                         ["musllinux_1_2_aarch64", "musllinux_1_1_aarch64", "musllinux_1_0_aarch64"])

    def test_bad_libc_is_one_line(self):
        self.assertIn("is not `glibc X.Y` or `musl X.Y`", die_message(targets.parse_libc, "glibc-2.28"))

    def test_image_target_ranks_its_own_abi_first_and_pure_python_last(self):
        target = targets.target_of("cp311_aarch64", "glibc 2.28")
        tags = [str(t) for t in target.tags]
        self.assertEqual(tags[0], "cp311-cp311-manylinux_2_28_aarch64")
        self.assertIn("cp311-abi3-manylinux_2_17_aarch64", tags)
        self.assertLess(tags.index("cp311-abi3-manylinux_2_17_aarch64"), tags.index("py3-none-any"))
        self.assertNotIn("cp312-cp312-manylinux_2_28_aarch64", tags)
        self.assertEqual(target.environment["platform_machine"], "aarch64")
        self.assertEqual(target.describe(), "Python 3.11 on linux aarch64 with glibc 2.28")


if __name__ == "__main__":
    unittest.main()
