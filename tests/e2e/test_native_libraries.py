"""A wheel whose native library finds another wheel's library by a path written for one
site-packages (torch's `$ORIGIN/../../nvidia/<x>/lib`) loads in the image, where each
distribution has its own site: the image's LD_LIBRARY_PATH gets that library's directory.

Two tiny wheels with real shared objects compiled here (no libc, so any glibc base loads them):
`liba` ships `liba/lib/liba.so`, which needs `libb.so.1` through `DT_RPATH`
`$ORIGIN/../../libb_libs/lib`; `libb` ships `libb_libs/lib/libb.so.1`. The image loads
liba.so with ctypes and calls into libb: 43. With the image's LD_LIBRARY_PATH emptied the same
load fails as `import torch` did (`libb.so.1: cannot open shared object file`)."""

import json
import subprocess
from pathlib import Path

import pytest

from harness.bazel import Bazel
from harness.containers import configure, container_id, entrypoint, unpack
from harness.fixtures import require
from harness.wheels import index_workspace, lock_line, make_wheel, write_index

TAG = "cp311-cp311-manylinux_2_17_x86_64"

MAIN = """\
import ctypes, os, liba
library = ctypes.CDLL(os.path.join(liba.__path__[0], "lib", "liba.so"))
print("a_value", library.a_value())
"""

BUILD = """\
load("@native//:requirements.bzl", "requirement")
load("@rules_python//python:defs.bzl", "py_binary")
load("@rules_sematic//:pipeline.bzl", "sematic_image")

py_binary(name = "bin", srcs = ["main.py"], main = "main.py", deps = [requirement("liba")], legacy_create_init = False)

sematic_image(name = "image", base = "@rules_sematic//images:python3", binary = ":bin")
"""


def compile_library(directory: Path, name: str, source: str, flags=()) -> bytes:
    """A shared object from C `source`, without libc, for the host's CPU (x86_64 here)."""
    require("gcc")
    (directory / f"{name}.c").write_text(source)
    subprocess.run(["gcc", "-shared", "-fPIC", "-nostdlib", "-O1", "-o", name, f"{name}.c", *flags],
                   cwd=directory, check=True)
    return (directory / name).read_bytes()


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("native-libraries")
    objects = root / "objects"
    objects.mkdir()
    libb = compile_library(objects, "libb.so.1", "int b_value(void) { return 42; }\n", ["-Wl,-soname,libb.so.1"])
    # DT_RPATH, not DT_RUNPATH, as torch's libraries have (--disable-new-dtags).
    liba = compile_library(objects, "liba.so", "int b_value(void);\nint a_value(void) { return b_value() + 1; }\n",
                           ["-L.", "-l:libb.so.1", "-Wl,--disable-new-dtags,-rpath,$ORIGIN/../../libb_libs/lib"])
    wheels = {
        "libb": make_wheel(root / "wheels", "libb", "1.0", TAG, {"libb_libs/lib/libb.so.1": libb}),
        "liba": make_wheel(root / "wheels", "liba", "1.0", TAG, {"liba/__init__.py": "", "liba/lib/liba.so": liba},
                           requires=["libb"]),
    }
    index = write_index(root / "index", wheels.values())
    lock = "".join(lock_line(name, "1.0", [wheel]) for name, wheel in wheels.items())
    index_workspace(root, "native_libraries", "native", index, BUILD, {"lock.txt": lock, "main.py": MAIN})
    bazel = Bazel(root)
    try:
        bazel.run("run", "@native//:lock")
        layout, _ = bazel.image("//:image")
        yield unpack(layout, "latest", root / "bundle")
    finally:
        bazel.shutdown()


def run(bundle: Path, env=None) -> subprocess.CompletedProcess:
    """Runs the image's entrypoint (the py_binary) with `env` over the image's variables."""
    configure(bundle, entrypoint(bundle), env)
    return subprocess.run(["runc", "run", "--bundle", str(bundle), container_id()],
                          capture_output=True, text=True, timeout=300)


def image_env(bundle: Path) -> dict:
    process = json.loads((bundle / "config.json").read_text())["process"]
    return dict(entry.split("=", 1) for entry in process["env"])


def test_a_library_another_wheel_holds_where_an_rpath_expects_it_loads(built):
    library_path = image_env(built).get("LD_LIBRARY_PATH", "")
    # The base sets none: the one directory added is libb's, in libb's own site.
    assert library_path.startswith("/app/_ext/libb-1.0-") and library_path.endswith("/site/libb_libs/lib"), library_path
    result = run(built)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "a_value 43"


def test_without_the_added_directory_the_load_fails_as_torch_did(built):
    result = run(built, {"LD_LIBRARY_PATH": ""})
    assert result.returncode != 0
    assert "libb.so.1: cannot open shared object file" in result.stderr, result.stderr[-3000:]
