"""Locked fetch: a requirements lock's files list is written by `bazel run @<hub>//:lock` from the
index, reproduces byte for byte, and is all fetching reads: a pin it lacks fails with the
command to run, and a fresh output base with a warm repository cache builds with no network."""

import json

import pytest

from harness.bazel import REPO, Bazel, consumer_module
from harness.wheels import lock_line, make_wheel, write_index

PIPELINE = """\
load("@local//:requirements.bzl", "requirement")
load("@rules_python//python:defs.bzl", "py_binary")

py_binary(name = "app", srcs = ["app.py"], deps = [requirement("alpha")], legacy_create_init = False)
"""


def test_the_examples_files_list_is_what_the_lock_and_the_index_give():
    """`--check` against the tests' PyPI mirror: the checked-in list is reproduced byte for byte."""
    result = Bazel(REPO).run("run", "@pypi//:lock", "--", "--check", check=False)
    assert result.returncode == 0, result.stderr[-3000:]


@pytest.fixture(scope="module")
def local(tmp_path_factory):
    """A workspace whose hub reads a local index of two tiny wheels."""
    root = tmp_path_factory.mktemp("locked-fetch")
    wheels = {name: make_wheel(root / "wheels", name, "1.0", "py3-none-any", {f"{name}/__init__.py": ""})
              for name in ("alpha", "beta")}
    index = write_index(root / "index", wheels.values())
    workspace = root / "workspace"
    workspace.mkdir()
    extension = (f'sematic.requirements(name = "local", python = "/usr/bin/python3.13", python_version = "3.11", '
                 f'requirements_lock = "//:lock.txt", index_url = "{index}")')
    (workspace / "MODULE.bazel").write_text(consumer_module("locked_fetch", extension, ["local"]))
    (workspace / "WORKSPACE.bzlmod").write_text("")
    (workspace / "BUILD.bazel").write_text(PIPELINE)
    (workspace / "app.py").write_text("import alpha\n")
    (workspace / "lock.txt").write_text(lock_line("alpha", "1.0", [wheels["alpha"]]))
    bazel = Bazel(workspace)
    bazel.workspace_wheels = wheels
    yield bazel
    bazel.shutdown()


def test_the_list_names_each_file_by_url_and_sha256_and_check_finds_an_edit(local):
    local.run("run", "@local//:lock")
    files = local.workspace / "lock.files.json"
    (entry,) = json.loads(files.read_text())["files"]["alpha==1.0"]
    assert entry["url"].endswith("/alpha-1.0-py3-none-any.whl") and len(entry["sha256"]) == 64
    assert local.run("run", "@local//:lock", "--", "--check", check=False).returncode == 0
    files.write_text(files.read_text().replace(entry["sha256"], "0" * 64))
    result = local.run("run", "@local//:lock", "--", "--check", check=False)
    assert result.returncode == 1
    assert ("rules_sematic requirements: error: lock.files.json is not what the lock and the index give: run "
            "`bazel run @local//:lock` and commit the result") in result.stderr, result.stderr[-2000:]
    local.run("run", "@local//:lock")
    local.run("build", "//:app")


def test_a_pin_the_list_lacks_fails_with_the_command_to_run(local):
    lock = local.workspace / "lock.txt"
    try:
        local.run("run", "@local//:lock")
        lock.write_text(lock.read_text() + lock_line("beta", "1.0", [local.workspace_wheels["beta"]]))
        (local.workspace / "BUILD.bazel").write_text(PIPELINE.replace('requirement("alpha")', 'requirement("alpha"), requirement("beta")'))
        result = local.run("build", "//:app", check=False)
        assert result.returncode != 0
        assert "beta==1.0 is not in //:lock.files.json (made from another lock): run `bazel run @local//:lock`" \
            in result.stderr, result.stderr[-3000:]
        local.run("run", "@local//:lock")
        local.run("build", "//:app")
    finally:
        (local.workspace / "BUILD.bazel").write_text(PIPELINE)
        lock.write_text(lock_line("alpha", "1.0", [local.workspace_wheels["alpha"]]))


@pytest.mark.parametrize("lock, message", [
    ("ghost==1.0 --hash=sha256:{zero}\n", "/ghost/index.html: "),
    ("alpha==1.0 --hash=sha256:{zero}\n", "lock.txt: alpha==1.0 pins sha256 {zero}, which no file of it on file://"),
])
def test_the_command_fails_with_one_line(local, lock, message):
    path = local.workspace / "lock.txt"
    saved = path.read_text()
    try:
        path.write_text(lock.format(zero="0" * 64))
        result = local.run("run", "@local//:lock", check=False)
        assert result.returncode == 1
        errors = [line for line in result.stderr.splitlines() if line.startswith("rules_sematic requirements: error:")]
        assert len(errors) == 1 and message.format(zero="0" * 64) in errors[0], result.stderr[-2000:]
    finally:
        path.write_text(saved)
