"""Images for the image's Python and CPU, whatever the host runs: Bazel's host Python here is
3.13, the images run Debian bookworm's 3.11, on linux/amd64 and (through qemu) linux/arm64.
One scratch consumer workspace (bzlmod) pushes a two-platform Debian base to a local registry,
pulls it back by digest with a declared Python, and builds a two-platform pipeline on it; the
arm64 run is a small smoke check. Whether every distribution imports on each Python and CPU is
tests/e2e/test_import_matrix.py's."""

import json
import re
import subprocess
from pathlib import Path

import pytest

from harness.bazel import Bazel, consumer_module, copy_examples_lock
from harness.containers import require_arm64_emulation, run_image_python, unpack
from harness.fixtures import require
from harness.wheels import lock_line, make_wheel, write_index

PLATFORMS = '["linux/amd64", "linux/arm64"]'

# six's wheel in the examples' lock, and the same hash with its first digit changed.
SIX_WHEEL = "4721f391ed90541fddacab5acf947aa0d3dc7d27b2e1e8eda2be8970586c3274"
EDITED_SIX = "5" + SIX_WHEEL[1:]

EXTENSION = """
sematic.requirements(name = "pypi", python = "/usr/bin/python3.13", python_version = "3.11", requirements_lock = "//:requirements_lock.txt")
sematic.requirements(name = "pypi", python = "/usr/bin/python3.13", python_version = "3.9", requirements_lock = "//:requirements_lock.txt")
sematic.requirements(name = "local", python = "/usr/bin/python3.13", python_version = "3.11", requirements_lock = "//:local_lock.txt", index_url = "{index}")
sematic.requirements(name = "edited", python = "/usr/bin/python3.13", python_version = "3.11", requirements_lock = "//:edited_lock.txt")
{pulls}
"""

PULLS = """
sematic.pull(name = "pulled", image = "{image}", python_version = "3.11", platforms = {platforms})
sematic.pull(name = "pulled_amd64", image = "{image}", python_version = "3.11")
sematic.pull(name = "pyenv_detected", image = "{pyenv}")
sematic.pull(name = "pyenv_contradicted", image = "{pyenv}", python_version = "3.12")
"""

BASE_BUILD = """\
load("@rules_sematic//:pipeline.bzl", "sematic_base_image", "sematic_image_index", "sematic_push")

# Debian bookworm's python3 base for both platforms, as one index: the base the pipelines pull.
[
    sematic_base_image(name = "base_" + arch, base = "@rules_sematic//images:python3", platform = "linux/" + arch)
    for arch in ["amd64", "arm64"]
]

sematic_image_index(name = "base", images = [":base_amd64", ":base_arm64"])

sematic_push(name = "base_push", image = ":base", registry = "{registry}", repository = "base/python3")

# A base whose config names its Python, as the official python images do.
sematic_base_image(name = "base_pyenv", base = "@rules_sematic//images:python3", env = {{"PYTHON_VERSION": "3.11.2"}}, platform = "linux/amd64")

sematic_push(name = "base_pyenv_push", image = ":base_pyenv", registry = "{registry}", repository = "base/pyenv")
"""

PIPELINES_BUILD = """\
load("@edited//:requirements.bzl", edited_requirement = "requirement")
load("@local//:requirements.bzl", local_requirement = "requirement")
load("@pypi//:requirements.bzl", "requirement")
load("@rules_python//python:defs.bzl", "py_binary", "py_library")
load("@rules_sematic//:pipeline.bzl", "sematic_image", "sematic_image_index", "sematic_pipeline")

py_library(name = "yaml_steps", deps = [requirement("pyyaml")])

py_library(name = "sematic_steps", deps = [requirement("sematic")])

sematic_pipeline(name = "multi", base = "@pulled//image", deps = [":sematic_steps", ":yaml_steps"], platforms = {platforms}, python_version = "3.11", repository = "multi", registry = "{registry}")

sematic_pipeline(name = "wrong_platform", base = "@pulled_amd64//image", deps = [":sematic_steps", ":yaml_steps"], platforms = {platforms}, python_version = "3.11", repository = "bad", registry = "{registry}")

sematic_pipeline(name = "ambiguous", base = "@pulled//image", deps = [":yaml_steps"], repository = "bad", registry = "{registry}")

sematic_pipeline(name = "no_wheel", base = "@pulled//image", deps = [":sematic_steps", local_requirement("onlyx86")], platforms = {platforms}, python_version = "3.11", repository = "bad", registry = "{registry}")

sematic_pipeline(name = "pyenv_detected", base = "@pyenv_detected//image", deps = [":sematic_steps"], python_version = "3.11", repository = "bad", registry = "{registry}")

sematic_pipeline(name = "pyenv_contradicted", base = "@pyenv_contradicted//image", deps = [":sematic_steps"], python_version = "3.11", repository = "bad", registry = "{registry}")

sematic_pipeline(name = "wrong_python", base = "@rules_sematic//images:python3_bullseye", deps = [":sematic_steps"], python_version = "3.11", repository = "bad", registry = "{registry}")

sematic_pipeline(name = "transitive_no_wheel", base = "@pulled//image", deps = [":sematic_steps", local_requirement("needsx86")], platforms = {platforms}, python_version = "3.11", repository = "bad", registry = "{registry}")

sematic_pipeline(name = "sdist_only", base = "@pulled//image", deps = [":sematic_steps", local_requirement("sdistonly")], python_version = "3.11", repository = "bad", registry = "{registry}")

sematic_pipeline(name = "edited_six", base = "@pulled//image", deps = [edited_requirement("sematic")], python_version = "3.11", repository = "bad", registry = "{registry}")

py_binary(name = "tool_user", srcs = ["tool_user.py"], deps = [local_requirement("tool")], legacy_create_init = False)

sematic_image(name = "scripts_image", base = "@rules_sematic//images:python3", binary = ":tool_user")

# A small two-platform image (no Sematic: only its layers' reproducibility is checked).
py_binary(name = "yaml_user", srcs = ["yaml_user.py"], deps = [":yaml_steps"], legacy_create_init = False)

[
    sematic_image(name = "yaml_" + arch, base = "@pulled//image", binary = ":yaml_user", platform = "linux/" + arch, python_version = "3.11")
    for arch in ["amd64", "arm64"]
]

sematic_image_index(name = "yaml_index", images = [":yaml_amd64", ":yaml_arm64"])
"""

LAUNCH = 'import os\nprint("URIS=" + os.environ.get("SEMATIC_CONTAINER_IMAGE_URIS", ""))\n'


class Consumer:
    def __init__(self, workspace: Path, registry):
        self.workspace = workspace
        self.registry = registry
        self.bazel = Bazel(workspace)


@pytest.fixture(scope="module")
def consumer(tmp_path_factory):
    require("skopeo", "umoci", "runc")
    from harness.registry import LocalRegistry

    work = tmp_path_factory.mktemp("platforms")
    registry = LocalRegistry(work / "registry").start()
    workspace = work / "workspace"
    workspace.mkdir()
    wheels = work / "wheels"
    only_x86 = make_wheel(wheels, "onlyx86", "1.0", "cp311-cp311-manylinux_2_17_x86_64",
                          {"onlyx86/__init__.py": "NATIVE = False\n"})
    tool = make_wheel(wheels, "tool", "2.0", "py3-none-any", {"tool/__init__.py": "def main():\n    print('tool ran')\n"},
                      entry_points="[console_scripts]\ntool = tool:main\n")
    # Pure Python, but needs the x86-only distribution: its arm64 image must fail too.
    needs_x86 = make_wheel(wheels, "needsx86", "1.0", "py3-none-any", {"needsx86/__init__.py": ""}, requires=["onlyx86"])
    sdist_only = wheels / "sdistonly-1.0.tar.gz"
    sdist_only.write_bytes(b"not built")
    index = write_index(work / "index", [only_x86, tool, needs_x86, sdist_only])
    (workspace / "local_lock.txt").write_text("".join(lock_line(name, version, [path]) for name, version, path in [
        ("onlyx86", "1.0", only_x86), ("tool", "2.0", tool), ("needsx86", "1.0", needs_x86), ("sdistonly", "1.0", sdist_only)]))
    copy_examples_lock(workspace)
    # The same files list (what the index has), and a lock whose six hash was edited by hand.
    copy_examples_lock(workspace, "edited_lock.txt")
    lock = workspace / "edited_lock.txt"
    lock.write_text(lock.read_text().replace(f"--hash=sha256:{SIX_WHEEL}", f"--hash=sha256:{EDITED_SIX}"))
    (workspace / "WORKSPACE.bzlmod").write_text("")

    def module(pulls: str) -> None:
        extension = EXTENSION.format(index=index, pulls=pulls)
        (workspace / "MODULE.bazel").write_text(consumer_module("platforms_consumer", extension, ["edited", "local", "pypi"] + (
            ["pulled", "pulled_amd64", "pyenv_contradicted", "pyenv_detected"] if pulls else [])))

    module("")
    (workspace / "BUILD.bazel").write_text(BASE_BUILD.format(registry=registry.host))
    consumer = Consumer(workspace, registry)
    try:
        consumer.bazel.run("run", "@local//:lock")  # the local index's files list
        pushed = consumer.bazel.run("run", "//:base_push").stdout.strip().splitlines()[-1]
        assert re.fullmatch(rf"{re.escape(registry.host)}/base/python3@sha256:[0-9a-f]{{64}}", pushed), pushed
        pyenv = consumer.bazel.run("run", "//:base_pyenv_push").stdout.strip().splitlines()[-1]
        module(PULLS.format(image=pushed, pyenv=pyenv, platforms=PLATFORMS))
        pipelines = workspace / "pipelines"
        pipelines.mkdir()
        (pipelines / "BUILD.bazel").write_text(PIPELINES_BUILD.format(registry=registry.host, platforms=PLATFORMS))
        for name in ("multi", "wrong_platform", "ambiguous", "no_wheel", "transitive_no_wheel", "sdist_only",
                     "edited_six", "pyenv_detected", "pyenv_contradicted", "wrong_python"):
            (pipelines / f"{name}.py").write_text(LAUNCH)
        (pipelines / "tool_user.py").write_text("import tool\ntool.main()\n")
        (pipelines / "yaml_user.py").write_text("import yaml\n")
        yield consumer
    finally:
        consumer.bazel.shutdown()
        registry.stop()


def test_two_platform_index_is_pushed_pulled_per_arch_and_runs_on_arm64(consumer, tmp_path):
    bazel, registry = consumer.bazel, consumer.registry
    _, digest = bazel.image("//pipelines:multi_default_image")
    launched = bazel.run("run", "//pipelines:multi", "--", "--no-server-check", "--").stdout
    assert f"URIS=::default##{registry.host}/multi@{digest}" in launched, launched

    raw = subprocess.run(["skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{registry.host}/multi@{digest}"],
                         check=True, capture_output=True, text=True).stdout
    index = json.loads(raw)
    assert index["mediaType"] == "application/vnd.oci.image.index.v1+json"
    assert [m["platform"]["architecture"] for m in index["manifests"]] == ["amd64", "arm64"]

    require_arm64_emulation()
    arm64 = tmp_path / "arm64"
    subprocess.run(["skopeo", "copy", "--quiet", "--src-tls-verify=false", "--override-arch", "arm64",
                    f"docker://{registry.host}/multi:multi_default", f"oci:{arm64}:arm64"], check=True, capture_output=True)
    bundle = unpack(arm64, "arm64", tmp_path / "bundle")
    out = run_image_python(bundle, "import platform, sys, yaml; print(platform.machine(), '%d.%d' % sys.version_info[:2], yaml.__with_libyaml__)")
    assert out.split() == ["aarch64", "3.11", "True"], out


def test_index_digest_is_the_same_in_another_output_base(consumer, tmp_path):
    _, digest = consumer.bazel.image("//pipelines:yaml_index")
    elsewhere = Bazel(consumer.workspace, output_base=tmp_path / "output_base")
    try:
        _, again = elsewhere.image("//pipelines:yaml_index")
    finally:
        elsewhere.shutdown()
    assert again == digest


NO_ARM64_WHEEL = ("no file of onlyx86==1.0 fits Python 3.11 on linux aarch64 with glibc 2.28: no wheel with accepted tags "
                  "(cp311-cp311-manylinux_2_28_aarch64 down to py3-none-any); ")


@pytest.mark.parametrize("pipeline, messages", [
    ("wrong_platform", ["//pipelines:wrong_platform_default_image_linux_arm64: base @pulled_amd64//image has no "
                        "linux/arm64 image (it has linux/amd64): use a base that has one, or pull it with that "
                        "platform (sematic.pull(platforms = [...]))"]),
    ("ambiguous", ["@pypi serves Python 3.11, 3.9: say which one an image is for with python_version "
                   "(sematic_pipeline(python_version = ...) or sematic_image(python_version = ...))"]),
    ("no_wheel", [NO_ARM64_WHEEL, "lists onlyx86-1.0-cp311-cp311-manylinux_2_17_x86_64.whl with a sha256 the lock pins: "
                                  "pin a version of it that publishes such a wheel"]),
    # The requirements serve the base's Python: the fix is the pipeline's python_version.
    ("wrong_python", ["//pipelines:wrong_python_default_image: the image's Python is 3.9 but its requirement() "
                      "wheels were chosen for Python 3.11 (e.g. ", 'build the image for it: python_version = "3.9" '
                      "on the pipeline (or image)"]),
    # A transitive native distribution without an arm64 wheel fails the arm64 image, naming who needs it.
    ("transitive_no_wheel", [NO_ARM64_WHEEL, "(required by needsx86)"]),
    ("sdist_only", ["no file of sdistonly==1.0 fits Python 3.11 on linux x86_64 with glibc 2.28: only a source "
                    "distribution of it exists (sdistonly-1.0.tar.gz) and rules_sematic never builds one"]),
    # One hex digit of six's wheel hash changed by hand: the build fails naming six and both hashes.
    ("edited_six", ["no file of six==1.17.0 fits Python 3.11 on linux x86_64 with glibc 2.28: the lock pins sha256 ",
                    EDITED_SIX, f"six-1.17.0-py2.py3-none-any.whl has sha256 {SIX_WHEEL}",
                    "(required by python_dateutil)"]),
])
def test_build_time_errors_name_the_problem_and_the_fix(consumer, pipeline, messages):
    result = consumer.bazel.run("build", f"//pipelines:{pipeline}_default_image", check=False)
    assert result.returncode != 0
    for message in messages:
        assert message in result.stderr, result.stderr[-3000:]


def test_a_pulled_base_whose_config_names_its_python_needs_no_python_version(consumer):
    consumer.bazel.run("build", "--nobuild", "//pipelines:pyenv_detected_default_image")
    external = Path(consumer.bazel.run("info", "output_base").stdout.strip()) / "external"
    (build,) = external.glob("*~pyenv_detected/image/BUILD.bazel")
    text = build.read_text()
    assert 'python_version = "3.11"' in text and 'python_interpreter = "/usr/local/bin/python3.11"' in text, text
    result = consumer.bazel.run("build", "--nobuild", "//pipelines:pyenv_contradicted_default_image", check=False)
    assert result.returncode != 0
    assert ('sematic_pull(pyenv_contradicted): python_version = "3.12" but the image\'s config says PYTHON_VERSION=3.11.2: '
            'write python_version = "3.11" (or leave it out: it is read from the config)') in result.stderr, result.stderr[-3000:]


def test_console_scripts_run_on_the_images_python(consumer, tmp_path):
    layout, _ = consumer.bazel.image("//pipelines:scripts_image")
    bundle = unpack(layout, "latest", tmp_path / "bundle")
    (script,) = (bundle / "rootfs" / "app").glob("*/*.runfiles/*tool_2_0__any/bin/tool")
    assert script.read_text().startswith("#!/sematic/python3\n")
    path = "/" + str(script.relative_to(bundle / "rootfs"))
    out = run_image_python(bundle, f"import subprocess; subprocess.run([{path!r}], check=True)")
    assert out == "tool ran"
