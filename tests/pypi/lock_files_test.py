"""lock_files.py: the files list of a lock, read from a PEP 503 index (a file:// directory here,
as users may point index_url at one): which files it lists, the stale pins it refuses, the
check mode, and bad input."""

import hashlib
import json
import os
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

from tests.pypi.support import SCRIPTS, die_message, lock_files, targets

WHEEL = "six-1.16.0-py2.py3-none-any.whl"
MACOS = "six-1.16.0-cp311-cp311-macosx_11_0_arm64.whl"
SDIST = "six-1.16.0.tar.gz"
OLDER = "six-1.15.0-py2.py3-none-any.whl"


class IndexCase(unittest.TestCase):
    """An index of one project, six, whose files are real files (hashes are of their bytes)."""

    def setUp(self):
        self.root = Path(tempfile.mkdtemp())
        self.addCleanup(subprocess.run, ["rm", "-rf", str(self.root)], check=True)
        files = self.root / "files"
        files.mkdir()
        self.sha = {}
        for name in (WHEEL, MACOS, SDIST, OLDER):
            (files / name).write_bytes(name.encode())
            self.sha[name] = hashlib.sha256(name.encode()).hexdigest()
        self.index = self.root / "index"
        self.page(f'<a href="../../files/{WHEEL}#sha256={self.sha[WHEEL]}" data-requires-python="&gt;=2.7">{WHEEL}</a>\n'
                  f'<a href="../../files/{MACOS}#sha256={self.sha[MACOS]}">{MACOS}</a>\n'
                  # No hash on the page: the file is downloaded and hashed.
                  f'<a href="../../files/{SDIST}">{SDIST}</a>\n'
                  f'<a href="../../files/{OLDER}#sha256={self.sha[OLDER]}">{OLDER}</a>\n')
        self.index_url = self.index.as_uri()

    def page(self, links, project="six"):
        (self.index / project).mkdir(parents=True, exist_ok=True)
        (self.index / project / "index.html").write_text(f"<html><body>\n{links}</body></html>\n", encoding="utf-8")

    def lock(self, *hashes, name="lock.txt"):
        path = self.root / name
        path.write_text("six==1.16.0 " + " ".join(f"--hash=sha256:{h}" for h in hashes) + "\n", encoding="utf-8")
        return path

    def pins(self, *hashes):
        return targets.read_lock(self.lock(*hashes), "//:lock.txt")


class PinFilesTest(IndexCase):
    def test_linux_and_source_files_of_the_pinned_hashes(self):
        [pin] = self.pins(self.sha[WHEEL], self.sha[SDIST], self.sha[MACOS])
        files = lock_files.pin_files([self.index_url], pin, "//:lock.txt")
        # The macOS wheel is pinned but never fetched: it is left out without complaint.
        self.assertEqual(files, [
            {"url": f"{self.root.as_uri()}/files/{WHEEL}", "sha256": self.sha[WHEEL], "requires_python": ">=2.7"},
            {"url": f"{self.root.as_uri()}/files/{SDIST}", "sha256": self.sha[SDIST], "requires_python": None},
        ])

    def test_a_stale_pin_names_the_lock_the_pin_and_the_fix(self):
        [pin] = self.pins(self.sha[WHEEL], "f" * 64)
        message = die_message(lock_files.pin_files, [self.index_url], pin, "//:lock.txt")
        self.assertEqual(message, f"rules_sematic requirements: error: //:lock.txt: six==1.16.0 pins sha256 {'f' * 64}, which no "
                         f"file of it on {self.index_url} has: the lock was edited, or made from another index; regenerate it "
                         "(uv pip compile --generate-hashes)\n")

    def test_the_hash_of_another_version_is_stale(self):
        [pin] = self.pins(self.sha[OLDER])
        self.assertIn(f"pins sha256 {self.sha[OLDER]}", die_message(lock_files.pin_files, [self.index_url], pin, "//:lock.txt"))


class ProjectFilesTest(IndexCase):
    def test_extra_indexes_may_lack_the_project_the_main_one_may_not(self):
        extra = self.root / "extra"
        extra.mkdir()
        files = lock_files.project_files([self.index_url, extra.as_uri()], "six")
        self.assertEqual(sorted(files), sorted([MACOS, OLDER, WHEEL, SDIST]))
        message = die_message(lock_files.project_files, [extra.as_uri(), self.index_url], "six")
        self.assertIn(f"{extra.as_uri()}/six/index.html", message)
        self.assertEqual(message.count("\n"), 1)

    def test_the_first_index_listing_a_file_wins(self):
        other = self.root / "other"
        (other / "six").mkdir(parents=True)
        (other / "six" / "index.html").write_text(f'<a href="https://mirror.example/{WHEEL}#sha256={"0" * 64}">x</a>', encoding="utf-8")
        files = lock_files.project_files([other.as_uri(), self.index_url], "six")
        self.assertEqual(files[WHEEL]["url"], f"https://mirror.example/{WHEEL}")

    def test_normalized_names_and_quoted_file_names(self):
        self.page('<a href="https://files.example/zope.interface-6.0%2Blocal-py3-none-any.whl#md5=x&sha256=abc">z</a>',
                  project="zope-interface")
        files = lock_files.project_files([self.index_url], "zope_interface")
        self.assertEqual(files, {"zope.interface-6.0+local-py3-none-any.whl": {
            "url": "https://files.example/zope.interface-6.0%2Blocal-py3-none-any.whl", "sha256": "abc", "requires_python": None}})

    def test_credentials_are_never_written(self):
        self.assertEqual(lock_files._public("https://user:secret@index.example:8443/simple/six/"), "https://index.example:8443/simple/six/")
        self.assertEqual(lock_files._public("https://index.example/simple/"), "https://index.example/simple/")


class RenderTest(unittest.TestCase):
    def test_sorted_one_file_per_line_without_nulls(self):
        files = {
            "six==1.16.0": [{"url": "u2", "sha256": "b", "requires_python": None}],
            "attrs==23.1.0": [{"url": "u1", "sha256": "a", "requires_python": ">=3.7"}, {"url": "u0", "sha256": "c", "requires_python": None}],
        }
        text = lock_files.render(files, "//:lock.txt", "@pypi//:lock")
        self.assertEqual(text, (
            '{\n  "comment": "Written by `bazel run @pypi//:lock` from //:lock.txt: the files of each pin by URL and sha256. Do not edit.",\n'
            '  "files": {\n'
            '    "attrs==23.1.0": [\n      {"requires_python": ">=3.7", "sha256": "a", "url": "u1"},\n      {"sha256": "c", "url": "u0"}\n    ],\n'
            '    "six==1.16.0": [\n      {"sha256": "b", "url": "u2"}\n    ]\n'
            '  }\n}\n'))
        self.assertEqual(json.loads(text)["files"]["six==1.16.0"], [{"sha256": "b", "url": "u2"}])


class MainTest(IndexCase):
    def run_main(self, *args):
        command = [sys.executable, str(SCRIPTS / "lock_files.py"), "--pip-wheel", os.path.abspath(os.environ["RULES_SEMATIC_PIP_WHEEL"]),
                   "--index-url", self.index_url, *args]
        return subprocess.run(command, cwd=self.root, capture_output=True, text=True, check=False,
                              env=dict(os.environ, BUILD_WORKSPACE_DIRECTORY=str(self.root), HOME=str(self.root)))

    def test_write_then_check_then_stale(self):
        self.lock(self.sha[WHEEL])
        written = self.run_main("--lock", "//:lock.txt=lock.txt=lock.files.json")
        self.assertEqual(written.returncode, 0, written.stderr)
        self.assertEqual(written.stdout, "wrote lock.files.json: 1 pins, 1 files\n")
        self.assertEqual(sorted(p.name for p in self.root.iterdir()), ["files", "index", "lock.files.json", "lock.txt"])
        self.assertEqual(self.run_main("--check", "--lock", "//:lock.txt=lock.txt=lock.files.json").returncode, 0)

        self.lock(self.sha[WHEEL], self.sha[SDIST])  # the lock changed, the list did not
        stale = self.run_main("--check", "--lock", "//:lock.txt=lock.txt=lock.files.json")
        self.assertEqual((stale.returncode, stale.stdout), (1, ""))
        self.assertEqual(stale.stderr, "rules_sematic requirements: error: lock.files.json is not what the lock and the index give: "
                         "run `bazel run @pypi//:lock` and commit the result\n")

    def test_a_stale_pin_writes_nothing(self):
        self.lock("f" * 64)
        result = self.run_main("--lock", "//:lock.txt=lock.txt=lock.files.json")
        self.assertEqual(result.returncode, 1)
        self.assertIn("//:lock.txt: six==1.16.0 pins sha256 ffff", result.stderr)
        self.assertFalse((self.root / "lock.files.json").exists())

    def test_bad_lock_arguments_and_locks(self):
        self.lock(self.sha[WHEEL])
        for lock, needle in [("lock.txt", "--lock 'lock.txt' is not LABEL=LOCK.txt=FILES.json"),
                             ("//:missing.txt=missing.txt=x.json", "//:missing.txt: missing.txt cannot be read")]:
            with self.subTest(lock=lock):
                result = self.run_main("--lock", lock)
                self.assertEqual(result.returncode, 1)
                self.assertEqual(result.stderr.count("\n"), 1, result.stderr)
                self.assertIn(needle, result.stderr)
        (self.root / "lock.txt").write_text("six>=1.0 --hash=sha256:" + self.sha[WHEEL] + "\n", encoding="utf-8")
        result = self.run_main("--lock", "//:lock.txt=lock.txt=lock.files.json")
        self.assertIn("//:lock.txt: six>=1.0 is not pinned with ==", result.stderr)


if __name__ == "__main__":
    unittest.main()
