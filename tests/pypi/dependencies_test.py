"""dependencies.py: the dependency edges of a target's libraries. Every requirement that
applies to the target is an edge, including to a pin without a usable wheel (whose library
then fails the build), never silently dropped."""

import tempfile
import unittest
from pathlib import Path

from tests.pypi.support import dependencies, die_message, metadata, targets

ENVIRONMENT = targets.target_of("cp311_x86_64", "glibc 2.28").environment


class EdgesTest(unittest.TestCase):
    def setUp(self):
        self.directory = tempfile.TemporaryDirectory()
        self.addCleanup(self.directory.cleanup)

    def meta(self, name, *requires):
        return metadata(Path(self.directory.name), name, *requires)

    def test_markers_are_evaluated_for_the_target(self):
        installed = {
            "app": self.meta("app", "colorama; sys_platform == 'win32'", "uvloop; platform_machine == 'x86_64'",
                             "tomli; python_version < '3.11'", "typing-extensions>=4"),
            "uvloop": self.meta("uvloop"), "typing_extensions": self.meta("typing_extensions"),
        }
        graph, unmet = dependencies.edges(installed, ENVIRONMENT, set(installed))
        self.assertEqual(graph["app"], ["typing_extensions", "uvloop"])
        self.assertEqual(unmet["app"], [])

    def test_extras_requested_by_a_dependent_pull_in_their_requirements_transitively(self):
        installed = {
            "app": self.meta("app", "requests[socks]"),
            "requests": self.meta("requests", "urllib3", "PySocks; extra == 'socks'",
                                  "chardet; extra == 'all'"),
            "urllib3": self.meta("urllib3", "brotli; extra == 'brotli'"),
            "pysocks": self.meta("pysocks", "urllib3[brotli]"),
            "brotli": self.meta("brotli"),
        }
        graph, _ = dependencies.edges(installed, ENVIRONMENT, set(installed))
        self.assertEqual(graph["requests"], ["pysocks", "urllib3"])
        self.assertEqual(graph["urllib3"], ["brotli"])  # extra requested by pysocks

    def test_cycles_and_self_references_are_fine(self):
        installed = {"a": self.meta("a", "b", "a[x]"), "b": self.meta("b", "a")}
        graph, _ = dependencies.edges(installed, ENVIRONMENT, set(installed))
        self.assertEqual(graph, {"a": ["b"], "b": ["a"]})

    def test_an_edge_to_a_pin_without_a_wheel_is_kept(self):
        installed = {"dateutil": self.meta("dateutil", "six>=1.5")}
        graph, unmet = dependencies.edges(installed, ENVIRONMENT, {"dateutil", "six"})
        self.assertEqual(graph["dateutil"], ["six"])
        self.assertEqual(unmet["dateutil"], [])


class BuildFileTest(unittest.TestCase):
    def setUp(self):
        self.directory = tempfile.TemporaryDirectory()
        self.addCleanup(self.directory.cleanup)

    def request(self, wheels, all_names=()):
        root = Path(self.directory.name)
        result = {}
        for name, (requires, missing) in wheels.items():
            result[name] = {"repository": f"@@hub__{name}", "version": "1.0", "missing": missing,
                            "metadata": None if missing else metadata(root, name, *requires)}
        return {"target": "cp311_aarch64", "libc": "glibc 2.28", "lock_label": "//:lock.txt",
                "all_names": sorted(set(all_names) | set(wheels)), "wheels": result}

    def test_a_transitive_pin_without_a_wheel_fails_whoever_needs_it(self):
        text = dependencies.build_file(self.request({
            "sematic": (["python-dateutil"], None),
            "python_dateutil": (["six>=1.5"], None),
            "six": ([], "no file of six==1.0 fits Python 3.11 on linux aarch64: ..."),
        }))
        self.assertIn('name = "python_dateutil"', text)
        library = text[text.index('name = "python_dateutil"'):]
        self.assertIn('":six"', library[:library.index(")\n")])
        error = text[text.index("sematic_requirement_error(\n    name = \"six\""):]
        self.assertIn("(required by python_dateutil)", error)

    def test_pins_whose_markers_exclude_the_target_are_empty_libraries(self):
        text = dependencies.build_file(self.request({"app": ([], None)}, all_names=["pywin32"]))
        self.assertIn('py_library(name = "pywin32")', text)

    def test_a_requirement_the_lock_does_not_pin_fails_with_the_fix(self):
        message = die_message(dependencies.build_file, self.request({"app": (["requests", "idna"], None),
                                                                     "idna": ([], None)}))
        self.assertIn("//:lock.txt is incomplete for Python 3.11 on linux aarch64 with glibc 2.28 "
                      "(app requires requests)", message)
        self.assertIn("uv pip compile --universal --generate-hashes", message)


if __name__ == "__main__":
    unittest.main()
