"""Every distribution of the examples' lock imports in the images built from it: one image per
cell (Python 3.9 on bullseye, 3.11 on bookworm, 3.13 on trixie; linux/amd64 natively and
linux/arm64 through qemu), each holding `requirement("sematic")` and all it requires. In each
image, every top-level module each distribution declares (top_level.txt, else its RECORD) is
imported in one process; and the distributions in the image are exactly the closure of sematic's
requirements, evaluated with the image's own markers (computed here from the image's METADATA
with `packaging`, independently of the rules' resolver).

Emulated cells are slow (qemu), so by default the arm64 column runs one cell, Python 3.11, as a
smoke test; RULES_SEMATIC_FULL_IMPORT_MATRIX=1 runs all six (README: "What the build guarantees")."""

import json
import os
import re
import subprocess
import sys
import time

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement

from harness.bazel import Bazel, consumer_module, copy_examples_lock
from harness.containers import require_arm64_emulation, run_image_python, unpack
from harness.fixtures import require

# Python version -> the rules_sematic base with that Python.
BASES = {"3.9": "python3_bullseye", "3.11": "python3", "3.13": "python3_trixie"}
ARCHES = {"amd64": "x86_64", "arm64": "aarch64"}
FULL = os.environ.get("RULES_SEMATIC_FULL_IMPORT_MATRIX") == "1"
# The cells that run: every Python natively; under emulation, all of them only when asked.
CELLS = [(version, arch) for version in BASES for arch in ARCHES if FULL or arch == "amd64" or version == "3.11"]

EXTENSION = "\n".join(
    f'sematic.requirements(name = "pypi", python = "/usr/bin/python3.13", python_version = "{version}", '
    'requirements_lock = "//:requirements_lock.txt")' for version in BASES)

BUILD = """\
load("@pypi//:requirements.bzl", "requirement")
load("@rules_python//python:defs.bzl", "py_binary")
load("@rules_sematic//:pipeline.bzl", "sematic_image")

py_binary(name = "worker", srcs = ["worker.py"], deps = [requirement("sematic")], legacy_create_init = False)
""" + "".join(f"""
sematic_image(
    name = "py{version.replace('.', '')}_{arch}",
    base = "@rules_sematic//images:{base}",
    binary = ":worker",
    platform = "linux/{arch}",
    python_version = "{version}",
)
""" for version, base in BASES.items() for arch in ARCHES)

# Modules that cannot import whatever the image, and why: (cells, reason). The test fails if
# one of them starts importing (the entry is then stale) or any other module fails.
KNOWN = {
    "matplotlib_inline": (BASES.keys(), "IPython's inline backend for matplotlib, which nothing in the lock "
                                        "requires (ipython requires the backend, not matplotlib)"),
    "setuptools": (["3.13"], "setuptools 58.1, which sematic 0.41 pins, needs the distutils Python 3.12 removed"),
    "pkg_resources": (["3.13"], "setuptools 58.1's pkg_resources needs pkgutil.ImpImporter, removed in Python 3.12"),
    "main": (BASES.keys(), "git-python 1.0.3 (which sematic requires) ships a top-level main.py script that opens the "
                           "current directory's git repository when imported"),
}

# Runs in the image: imports each distribution's top-level modules, one process for all.
# GitPython refuses to import without a git executable (these bases have none; Sematic imports it
# lazily and does without): GIT_PYTHON_REFRESH=quiet is GitPython's switch for that.
PROBE = r"""
import importlib, json, os, sys, time
from email.parser import Parser
os.environ["GIT_PYTHON_REFRESH"] = "quiet"

def top_level(site, info):
    path = os.path.join(site, info, "top_level.txt")
    if os.path.exists(path):
        with open(path) as f:
            return sorted({l.strip().replace("/", ".") for l in f if l.strip()})
    names = set()
    with open(os.path.join(site, info, "RECORD")) as f:
        for line in f:
            first = line.split(",", 1)[0].split("/", 1)
            if first[0].endswith((".dist-info", ".data")) or first[0] in ("..", "__pycache__"):
                continue
            if len(first) == 1:
                if first[0].endswith((".py", ".so")):
                    names.add(first[0].split(".", 1)[0])
            elif first[1].endswith((".py", ".so")):
                names.add(first[0])
    return sorted(names)

report, started = {}, time.monotonic()
for site in [p for p in sys.path if p.endswith("/site")]:
    for info in sorted(n for n in os.listdir(site) if n.endswith(".dist-info")):
        with open(os.path.join(site, info, "METADATA"), encoding="utf-8") as f:
            metadata = Parser().parse(f)
        failed, seconds = {}, {}
        for module in top_level(site, info):
            begin = time.monotonic()
            try:
                importlib.import_module(module)
            except BaseException as error:
                failed[module] = "%s: %s" % (type(error).__name__, str(error).splitlines()[0] if str(error) else "")
            seconds[module] = time.monotonic() - begin
        report[metadata["Name"]] = {
            "version": metadata["Version"],
            "requires": metadata.get_all("Requires-Dist") or [],
            "modules": top_level(site, info),
            "failed": failed,
            "seconds": seconds,
        }
print(json.dumps({"python": "%d.%d" % sys.version_info[:2], "seconds": time.monotonic() - started,
                  "distributions": report}))
"""


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def closure(distributions: dict, root: str, python: str, machine: str) -> tuple:
    """(reachable names, requirements naming an absent distribution) from `root`, through the
    image's METADATA, markers and extras evaluated for the image."""
    environment = dict(default_environment(), python_version=python, python_full_version=python + ".99",
                       platform_machine=machine, sys_platform="linux", platform_system="Linux",
                       implementation_name="cpython", platform_python_implementation="CPython")
    by_name = {normalize(name): info for name, info in distributions.items()}
    reached, missing, pending = set(), [], [(normalize(root), frozenset())]
    while pending:
        name, extras = pending.pop()
        if (name, extras) in reached:
            continue
        reached.add((name, extras))
        if name not in by_name:
            missing.append(name)
            continue
        for text in by_name[name]["requires"]:
            requirement = Requirement(text)
            wanted = {""} | set(extras)
            if requirement.marker and not any(requirement.marker.evaluate(dict(environment, extra=e)) for e in wanted):
                continue
            pending.append((normalize(requirement.name), frozenset(requirement.extras)))
    return {name for name, _ in reached}, sorted(set(missing))


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    require("umoci", "runc")
    workspace = tmp_path_factory.mktemp("import-matrix")
    (workspace / "MODULE.bazel").write_text(consumer_module("import_matrix", EXTENSION, ["pypi"]))
    (workspace / "WORKSPACE.bzlmod").write_text("")
    copy_examples_lock(workspace)
    (workspace / "BUILD.bazel").write_text(BUILD)
    (workspace / "worker.py").write_text("")
    bazel = Bazel(workspace)
    try:
        targets = [f"//:py{v.replace('.', '')}_{a}" for v, a in CELLS]
        bazel.run("build", *targets)
        yield {target[3:]: next(f for f in bazel.output_files(target) if f.is_dir()) for target in targets}
    finally:
        bazel.shutdown()


MATRIX = {}


def test_the_probe_names_a_module_that_does_not_import_and_the_closure_a_missing_distribution(tmp_path):
    """What makes a cell fail, shown without an image: the probe on a site directory holding a
    distribution whose module raises, and a closure over METADATA lacking a requirement."""
    site = tmp_path / "site"
    info = site / "broken-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken\nVersion: 1.0\nRequires-Dist: absent>=1\n")
    (info / "top_level.txt").write_text("broken\n")
    (site / "broken.py").write_text("raise ImportError('libfoo.so.1: cannot open shared object file')\n")
    result = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True,
                            env=dict(os.environ, PYTHONPATH=str(site)))
    report = json.loads(result.stdout.splitlines()[-1])["distributions"]
    assert report["broken"]["failed"] == {"broken": "ImportError: libfoo.so.1: cannot open shared object file"}
    assert closure(report, "broken", "3.11", "x86_64") == ({"broken", "absent"}, ["absent"])



@pytest.mark.parametrize("python,arch", sorted(CELLS, key=lambda c: (tuple(map(int, c[0].split("."))), c[1])))
def test_every_distribution_imports_and_the_image_holds_exactly_the_closure(images, python, arch, tmp_path):
    if arch == "arm64":
        require_arm64_emulation()
    started = time.monotonic()
    bundle = unpack(images[f"py{python.replace('.', '')}_{arch}"], "latest", tmp_path / "bundle")
    report = json.loads(run_image_python(bundle, PROBE, timeout=900).splitlines()[-1])
    distributions = report["distributions"]
    assert report["python"] == python
    failures = {module: f"{name} {info['version']}: {error}" for name, info in distributions.items()
                for module, error in info["failed"].items()}
    expected = {module for module, (cells, _) in KNOWN.items() if python in cells}
    reached, missing = closure(distributions, "sematic", python, ARCHES[arch])
    extra = {normalize(name) for name in distributions} - reached
    MATRIX[(python, arch)] = (distributions, failures, expected, time.monotonic() - started, report["seconds"])
    problems = []
    if set(failures) - expected:
        problems.append(f"modules that do not import: {dict((m, failures[m]) for m in sorted(set(failures) - expected))}")
    if expected - set(failures):
        problems.append(f"modules KNOWN not to import that now do (remove them from KNOWN): {sorted(expected - set(failures))}")
    if missing:
        problems.append(f"required but not in the image: {missing}")
    if extra:
        problems.append(f"in the image but not required by sematic: {sorted(extra)}")
    if not all(info["modules"] for info in distributions.values()):
        problems.append("a distribution declares no module")
    assert not problems, f"Python {python} linux/{arch}: " + "; ".join(problems)


def test_report_the_matrix(capsys):
    """Prints distributions x images (pass/fail, time) after the cells above."""
    if not MATRIX:
        pytest.fail("no cell ran")
    cells = sorted(MATRIX, key=lambda c: (tuple(map(int, c[0].split("."))), c[1]))
    rows = {}
    for cell in cells:
        distributions, failures, expected, _, _ = MATRIX[cell]
        for name, info in distributions.items():
            failed = set(info["failed"])
            rows.setdefault(normalize(name), {})[cell] = (
                "FAIL" if failed - expected else "known" if failed else "ok")
    lines = ["distribution".ljust(28) + "".join(f"{p}/{a}".rjust(12) for p, a in cells)]
    lines += [name.ljust(28) + "".join(rows[name].get(c, "-").rjust(12) for c in cells) for name in sorted(rows)]
    lines.append("distributions".ljust(28) + "".join(str(len(MATRIX[c][0])).rjust(12) for c in cells))
    lines.append("imports (s)".ljust(28) + "".join(f"{MATRIX[c][4]:.1f}".rjust(12) for c in cells))
    lines.append("cell total (s)".ljust(28) + "".join(f"{MATRIX[c][3]:.1f}".rjust(12) for c in cells))
    for cell in cells:
        timed = sorted(((t, m) for info in MATRIX[cell][0].values() for m, t in info["seconds"].items()), reverse=True)
        lines.append(f"slowest on {cell[0]}/{cell[1]}: " + ", ".join(f"{m} {t:.1f} s" for t, m in timed[:5]))
    known = "".join(f"\n  known: {module} on {', '.join(sorted(c))}: {reason}" for module, (c, reason) in KNOWN.items())
    with capsys.disabled():
        print("\nimport matrix (ok: every top-level module imports; known: see below; -: not required on that cell)\n"
              + "\n".join(lines) + known)
    assert set(MATRIX) == set(CELLS), f"cells that did not run: {set(CELLS) - set(MATRIX)}"
