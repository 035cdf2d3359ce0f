"""resolve.py: the package closure of a debian_image, as mmdebstrap's extract variant takes it."""

import unittest

from tests.debian.support import resolve


def index(text):
    return resolve.Index(resolve.parse_packages(text), "test main for amd64")


def stanza(name, version="1.0", **fields):
    lines = [f"Package: {name}", f"Version: {version}", "Architecture: amd64"]
    lines += [f"{key.replace('_', '-')}: {value}" for key, value in fields.items()]
    lines += [f"Filename: pool/main/{name[0]}/{name}/{name}_{version}_amd64.deb", "Size: 1", "SHA256: " + "0" * 64]
    return "\n".join(lines) + "\n"


class VersionTest(unittest.TestCase):
    def test_dpkg_order(self):
        ordered = ["0.9", "1.0~rc1", "1.0", "1.0-1", "1.0-1+deb12u1", "1.0-2", "1.0a", "1.0+b1", "1.1", "1.10",
                   "1:0.1"]
        for lower, higher in zip(ordered, ordered[1:]):
            self.assertLess(resolve.compare_versions(lower, higher), 0, (lower, higher))
            self.assertGreater(resolve.compare_versions(higher, lower), 0, (higher, lower))
        self.assertEqual(resolve.compare_versions("1.0", "1.0-0"), 0)
        self.assertEqual(resolve.compare_versions("0:2.36-9", "2.36-9"), 0)
        self.assertLess(resolve.compare_versions("2.36-9", "2.36-9+deb12u13"), 0)
        self.assertLess(resolve.compare_versions("1.0~~", "1.0~"), 0)


class ParseTest(unittest.TestCase):
    def test_relations_qualifiers_and_restrictions(self):
        self.assertEqual(resolve.parse_relations("a (>= 1.2), b:any | c (<< 2) [amd64] <!nocheck>, d:native"), [
            [("a", None, ">=", "1.2")],
            [("b", "any", None, None), ("c", None, "<<", "2")],
            [("d", "native", None, None)],
        ])

    def test_folded_fields_and_highest_version(self):
        packages = resolve.parse_packages(
            stanza("a", "1.0", Depends="b,\n c") + "\n" + stanza("a", "2.0", Depends="b,\n d") + "\n"
            + stanza("a", "1.5"))
        self.assertEqual(packages["a"]["Version"], "2.0")
        self.assertEqual(packages["a"]["Depends"], "b, d")


class ClosureTest(unittest.TestCase):
    def test_depends_and_pre_depends_not_recommends(self):
        packages = index("\n".join([
            stanza("app", Depends="libfoo", Pre_Depends="libc6", Recommends="extra", Suggests="more"),
            stanza("libfoo", Depends="libc6 (>= 1.0)"), stanza("libc6"), stanza("extra"), stanza("more")]))
        self.assertEqual(packages.closure(["app"]), ["app", "libc6", "libfoo"])

    def test_first_satisfiable_alternative(self):
        packages = index("\n".join([
            stanza("app", Depends="missing | old (>= 2) | new | other"),
            stanza("old", "1.5"), stanza("new"), stanza("other")]))
        self.assertEqual(packages.closure(["app"]), ["app", "new"])

    def test_virtual_packages(self):
        packages = index("\n".join([
            stanza("app", Depends="mail-transport-agent, awk, foo (>= 2), libbar:any"),
            stanza("postfix", Provides="mail-transport-agent"), stanza("exim4", Provides="mail-transport-agent"),
            stanza("awk"), stanza("mawk", Provides="awk"),
            stanza("unversioned", Provides="foo"), stanza("versioned", Provides="foo (= 3)"),
            stanza("libbar")]))
        # The provider sorting first; a real package over a provider; only a versioned
        # Provides satisfies a versioned dependency; `:any` is stripped.
        self.assertEqual(packages.closure(["app"]), ["app", "awk", "exim4", "libbar", "versioned"])

    def test_requested_virtual_package(self):
        packages = index(stanza("mawk", Provides="awk"))
        self.assertEqual(packages.closure(["awk"]), ["mawk"])

    def test_cycles(self):
        packages = index("\n".join([
            stanza("a", Depends="b"), stanza("b", Pre_Depends="c"), stanza("c", Depends="a, b")]))
        self.assertEqual(packages.closure(["a", "c"]), ["a", "b", "c"])

    def test_missing_dependency_names_it_and_its_dependent(self):
        packages = index("\n".join([stanza("app", "2.0-1", Depends="libfoo"), stanza("libfoo", "1.0", Depends="libgone (>= 3) | libold")]))
        with self.assertRaises(resolve.ResolveError) as caught:
            packages.closure(["app"])
        self.assertEqual(str(caught.exception),
                         "nothing in test main for amd64 satisfies libgone (>= 3) | libold, which libfoo 1.0 depends "
                         "on: add a package providing it to packages")

    def test_unknown_requested_package(self):
        with self.assertRaises(resolve.ResolveError) as caught:
            index(stanza("python3")).closure(["pyhton3"])
        self.assertEqual(str(caught.exception),
                         "pyhton3 is not a package of test main for amd64: check its name in packages")


if __name__ == "__main__":
    unittest.main()
