"""Native files that cannot run on an image fail its build: tiny crafted wheels (a few hundred
bytes of ELF from tests/harness/elf.py) whose tags claim linux x86_64 and manylinux_2_17, but
whose shared object is for aarch64, needs a newer glibc than Debian bookworm's 2.36, or is
linked against musl; an honest one builds. The base's glibc is read from its packages."""

import pytest

from harness.bazel import Bazel
from harness.elf import shared_object
from harness.fixtures import assert_one_line_error
from harness.wheels import index_workspace, lock_line, make_wheel, write_index

TAG = "cp311-cp311-manylinux_2_17_x86_64"

# distribution -> (its shared object, the message its image fails with, or None)
WHEELS = {
    "honest": (shared_object("x86_64", glibc="2.17"), None),
    "armcode": (shared_object("aarch64", glibc="2.17"),
                "native code for another CPU: /app/_ext/armcode-1.0-{sha}/site/armcode/_impl.so (armcode 1.0) is an "
                "aarch64 ELF but the image is linux/amd64: the wheel was built for another platform; pin a version with "
                "a wheel for linux/amd64"),
    "newglibc": (shared_object("x86_64", glibc="2.39"),
                 "native code needs a newer glibc than the base: /app/_ext/newglibc-1.0-{sha}/site/newglibc/_impl.so "
                 "(newglibc 1.0) needs GLIBC_2.39 but the base has glibc 2.36: use a base with glibc 2.39 or newer, or "
                 "pin a version of newglibc built for manylinux_2_36 or older"),
    "muslcode": (shared_object("x86_64", musl=True),
                 "native code for another C library: /app/_ext/muslcode-1.0-{sha}/site/muslcode/_impl.so (muslcode 1.0) "
                 "is linked against musl but the base has glibc 2.36"),
}

BUILD = """\
load("@native//:requirements.bzl", "requirement")
load("@rules_python//python:defs.bzl", "py_binary")
load("@rules_sematic//:pipeline.bzl", "sematic_image")
""" + "".join(f"""
py_binary(name = "{name}_bin", srcs = ["main.py"], main = "main.py", deps = [requirement("{name}")], legacy_create_init = False)

sematic_image(name = "{name}", base = "@rules_sematic//images:python3", binary = ":{name}_bin")
""" for name in WHEELS)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("native-checks")
    wheels = {name: make_wheel(root / "wheels", name, "1.0", TAG, {f"{name}/__init__.py": "", f"{name}/_impl.so": elf})
              for name, (elf, _) in WHEELS.items()}
    index = write_index(root / "index", wheels.values())
    lock = "".join(lock_line(name, "1.0", [wheel]) for name, wheel in wheels.items())
    index_workspace(root, "native_checks", "native", index, BUILD, {"lock.txt": lock, "main.py": ""})
    bazel = Bazel(root)
    bazel.run("run", "@native//:lock")
    yield bazel
    bazel.shutdown()


@pytest.mark.parametrize("name", sorted(WHEELS))
def test_native_files_must_fit_the_images_cpu_and_c_library(workspace, name):
    _, expected = WHEELS[name]
    result = workspace.run("build", f"//:{name}", check=False)
    if expected is None:
        assert result.returncode == 0, result.stderr[-3000:]
        return
    assert_one_line_error(result, "sematic-image", *expected.split("{sha}"))
    # Nothing half-written: no layout and no digest of the refused image.
    assert not list((workspace.workspace / "bazel-out").glob(f"*/bin/{name}.digest"))
