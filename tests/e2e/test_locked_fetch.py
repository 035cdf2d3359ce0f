"""Locked fetch: a requirements lock's files list is written by `bazel run @<hub>//:lock` from the
index, reproduces byte for byte, and is all fetching reads: a pin it lacks fails with the
command to run. With the Debian package locks, a fresh output base with a warm repository cache
builds the hello example and the Debian base inside `unshare -n` (loopback only) with the same
digests, and a downloader config pointing PyPI's and Debian's hosts at a local mirror serves a
fetch from an empty repository cache."""

import json
import os
import shutil
import subprocess
import sys

import pytest

from harness.bazel import REPO, Bazel, clean_env
from harness.fileserver import FileServer
from harness.offline import caches
from harness.tools import ALL_TOOLS, tools_bin_dir
from harness.wheels import index_workspace, lock_line, make_wheel, write_index

sys.path.insert(0, str(REPO / "tools"))
from fill_test_caches import pip_wheel  # noqa: E402

# Uses 127.0.0.1:5000 or this checkout's Bazel server (tests/harness/pipeline_fixtures.py).
pytestmark = pytest.mark.checkout

HELLO = "//examples/hello:main_default_image"
BASE = "//images:python3"

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
    index_workspace(workspace, "locked_fetch", "local", index, PIPELINE,
                    {"app.py": "import alpha\n", "lock.txt": lock_line("alpha", "1.0", [wheels["alpha"]])})
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


def _digest(bazel_output_files) -> str:
    return next(f for f in bazel_output_files if f.name.endswith(".digest")).read_text()


def test_a_fresh_output_base_builds_with_no_network(tmp_path):
    """The repository cache holds every wheel and .deb (tools/bootstrap.sh fetched them once);
    no PIP_INDEX_URL, no mirror: `unshare -n` leaves only a loopback that is down."""
    repo = Bazel(REPO)
    expected = {target: repo.image(target)[1] for target in (HELLO, BASE)}
    env = {k: v for k, v in clean_env(cached=False).items() if k != "PIP_INDEX_URL"}
    env["RULES_SEMATIC_PREBUILT_TOOLS"] = str(tools_bin_dir(ALL_TOOLS))
    output_base = tmp_path / "output_base"
    # --batch: a server started in the namespace could not be reached from outside it.
    command = ["unshare", "-n", "--", "bazel", f"--output_base={output_base}", "--batch",
               f"--bazelrc={caches() / 'offline.bazelrc'}", "build", HELLO, BASE]
    try:
        result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=1800)
        assert result.returncode == 0, result.stderr[-4000:]
        for target, digest in expected.items():
            query = subprocess.run(["bazel", f"--output_base={output_base}", "--batch", "cquery", "--output=files",
                                    target], cwd=REPO, env=env, capture_output=True, text=True, check=True)
            files = [REPO / line for line in query.stdout.split()]
            assert _digest(files) == digest, target
    finally:
        subprocess.run(["chmod", "-R", "u+w", str(output_base)], capture_output=True)
        shutil.rmtree(output_base, ignore_errors=True)


def _mirror(root):
    """A directory laid out like files.pythonhosted.org (under pypi/) and deb.debian.org (under
    debian/), linked from the tests' repository cache: every file the locks name that it holds."""
    cache = caches() / "repository" / "content_addressable" / "sha256"
    wanted = {}
    for pin_files in json.loads((REPO / "examples" / "requirements_lock.files.json").read_text())["files"].values():
        for entry in pin_files:
            wanted[entry["url"]] = entry["sha256"]
    url, sha256 = pip_wheel()
    wanted[url] = sha256
    for lock in (REPO / "images").glob("*.lock.json"):
        text = json.loads(lock.read_text())
        for packages in text["resolved"].values():
            for package in packages:
                wanted[f"{text['mirror'].rstrip('/')}/{package['path']}"] = package["sha256"]
    linked = 0
    for url, sha256 in wanted.items():
        source = cache / sha256 / "file"
        if not source.exists():
            continue
        host_path = url.split("://", 1)[1]
        prefix = "pypi" if host_path.startswith("files.pythonhosted.org/") else "debian"
        destination = root / prefix / host_path.split("/", 1 if prefix == "pypi" else 2)[-1]
        destination.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(source, destination)
        except OSError:
            shutil.copyfile(source, destination)
        linked += 1
    return linked


def test_a_downloader_config_mirror_serves_a_fetch_from_an_empty_repository_cache(tmp_path):
    assert _mirror(tmp_path / "mirror") > 100
    server = FileServer(tmp_path / "mirror").start()
    config = tmp_path / "downloader.cfg"
    host = server.url.split("://", 1)[1]
    config.write_text(
        f"rewrite ^files\\.pythonhosted\\.org/(.*)$ http://{host}/pypi/$1\n"
        f"rewrite ^deb\\.debian\\.org/debian/(.*)$ http://{host}/debian/$1\n"
        "block files.pythonhosted.org\nblock deb.debian.org\nblock pypi.org\n")
    output_base = tmp_path / "output_base"
    bazel = Bazel(REPO, output_base=output_base)
    try:
        result = bazel.run("build", "--nobuild", f"--repository_cache={tmp_path / 'empty-cache'}",
                           f"--experimental_downloader_config={config}", HELLO, BASE, check=False)
        assert result.returncode == 0, result.stderr[-4000:]
    finally:
        server.stop()
        bazel.run("shutdown", check=False)
        subprocess.run(["chmod", "-R", "u+w", str(output_base)], capture_output=True)
        shutil.rmtree(output_base, ignore_errors=True)
    assert any(r.startswith("/pypi/packages/") and r.endswith(".whl") for r in server.requests), server.requests
    assert any(r.startswith("/debian/pool/") and r.endswith(".deb") for r in server.requests), server.requests
