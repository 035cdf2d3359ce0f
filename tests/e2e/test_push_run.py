"""A runnable image (Debian python3-minimal rootfs plus an app layer) pushed with
sematic-push, pulled back with skopeo, and run with runc and podman."""

import os
import subprocess

from harness.containers import runc_run, unpack
from harness.fixtures import parse_summary, require, skopeo_copy_back


def test_pushed_image_runs_with_runc(tools, registry, runnable_layout, tmp_path):
    require("runc", "umoci", "skopeo")
    result = tools.push(runnable_layout, f"{registry.host}/sematic/hello", "--tag", "main_default")
    assert result.returncode == 0, result.stderr
    pushed = result.stdout.strip()
    digest = pushed.split("@", 1)[1]
    assert parse_summary(result.stderr)["uploaded"] >= 3

    copy = tmp_path / "copy"
    assert skopeo_copy_back(registry.host, f"sematic/hello@{digest}", copy) == digest
    bundle = unpack(copy, "copied", tmp_path / "bundle")
    run = runc_run(bundle, ["/usr/bin/python3", "/app/hello.py", "from-runc"], timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "hello from the image from-runc"


def test_pushed_image_runs_with_podman(tools, registry, runnable_layout, tmp_path):
    require("podman", "runc")
    result = tools.push(runnable_layout, f"{registry.host}/sematic/podman", "--tag", "t")
    assert result.returncode == 0, result.stderr
    pushed = result.stdout.strip()

    conf = tmp_path / "podman"
    (conf / "run").mkdir(parents=True)
    (conf / "root").mkdir()
    (conf / "containers.conf").write_text(
        '[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]\nnetns = "none"\n'
        '[engine]\nruntime = "runc"\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n')
    (conf / "storage.conf").write_text(
        f'[storage]\ndriver = "vfs"\nrunroot = "{conf / "run"}"\ngraphroot = "{conf / "root"}"\n')
    env = {**os.environ, "CONTAINERS_CONF": str(conf / "containers.conf"),
           "CONTAINERS_STORAGE_CONF": str(conf / "storage.conf")}
    try:
        pull = subprocess.run(["podman", "pull", "--quiet", "--tls-verify=false", pushed],
                              capture_output=True, text=True, env=env, timeout=300)
        assert pull.returncode == 0, pull.stderr
        run = subprocess.run(["podman", "run", "--rm", pushed, "/app/hello.py", "from-podman"],
                             capture_output=True, text=True, env=env, timeout=300)
        assert run.returncode == 0, run.stderr
        assert run.stdout.strip() == "hello from the image from-podman"
    finally:
        subprocess.run(["podman", "rmi", "--all", "--force"], capture_output=True, env=env)
        # vfs layers are owned by root and may hold read-only dirs; podman knows best.
        subprocess.run(["podman", "system", "reset", "--force"], capture_output=True, env=env)
