#!/usr/bin/env python3
"""Benchmark (l): a one-line code edit, then `bazel run //:small_default_load` into a private
containerd whose store already holds the previous version (issue #24: edit -> load in seconds,
close to edit -> push), side by side with its peers on the same edits:

* the full load: `ctr image import` of the image's `tarball` output group (what `docker load`
  or `podman load` of a tarball does: the whole archive every time), into another namespace of
  the same containerd;
* edit -> `bazel run //:small_default_push` to a local registry (benchmark (a)'s measure);
* with --podman, `-- --runtime podman` on a private vfs storage, and `podman load` of the
  tarball into a second one.

The image is the `small` pipeline of benchmark (a): the ~20 MB Debian python3 base plus
sematic's wheels and a one-file code layer (examples-sized); with --torch, the `one` pipeline of
benchmark (h) (sematic + torch 2.5 with its CUDA wheels, ~3.1 GB compressed; PyPI's wheels, in
the work directory --torch names, which benchmark (k)'s --work leaves ready).

    benchmarks/local_load.py [--edits N] [--podman] [--torch WORK]
"""

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import incremental_push
import torch_scale
from incremental_push import edit, timed_push, write_workspace
from timing import timed

from harness.bazel import Bazel  # noqa: E402 (incremental_push put tests/ on sys.path)
from harness.containerd import Containerd, missing_commands  # noqa: E402
from harness.registry import LocalRegistry  # noqa: E402

EXTENSION = """
sematic.requirements(name = "pypi", python = "/usr/bin/python3.13", python_version = "3.11", requirements_lock = "//:requirements_lock.txt")
"""
PIPELINES = {"small": incremental_push.PIPELINES["small"]}
TORCH_STEPS = "import sematic, six, torch\n\nVALUE = {value}\n"
SUMMARY = re.compile(r"^sematic-load: summary: runtime=(?P<runtime>\w+) sent=(?P<sent>\d+) "
                     r"\((?P<bytes>\d+) bytes\) present=(?P<present>\d+) image=(?P<image>\S+)$", re.M)
FULL_NAMESPACE = "full"  # the tarball peer's namespace in the same containerd


def load_summary(stderr: str) -> dict:
    found = list(SUMMARY.finditer(stderr))
    assert len(found) == 1, stderr
    return {k: v if k in ("runtime", "image") else int(v) for k, v in found[0].groupdict().items()}


def host_ctr_shim(work: Path) -> Path:
    """A --run_under prefix putting a copy of the host's `ctr` first on PATH. This machine's
    `bazel` (tools/bootstrap.sh) runs Bazel in a mount namespace whose /usr is Debian sid's, with
    a fixed PATH: `bazel run` there sees no host /usr/bin/ctr, so the copy lives outside /usr."""
    bin_dir = work / "host-bin"
    bin_dir.mkdir()
    shutil.copy2(shutil.which("ctr"), bin_dir / "ctr")
    shim = work / "run-under.sh"
    shim.write_text(f'#!/bin/sh\nPATH="{bin_dir}:$PATH" exec "$@"\n')
    shim.chmod(0o755)
    return shim


def timed_load(bazel: Bazel, target: str, *args, env=None):
    """(seconds, load summary) of `bazel run target -- args`."""
    seconds, result = timed(bazel.run, "run", target, "--", *args, env=env)
    return seconds, load_summary(result.stderr)


def small_workspace(work: Path, registry: LocalRegistry):
    """Benchmark (a)'s examples-sized workspace: (its Bazel, pipeline name, edit(value))."""
    workspace = work / "workspace"
    workspace.mkdir()
    steps = write_workspace(workspace, "bench_load", EXTENSION, ["pypi"], registry.host, PIPELINES)
    return Bazel(workspace), "small", lambda value: edit(steps, value)


def torch_workspace(work: Path, torch_work: Path, registry: LocalRegistry):
    """Benchmark (h)'s torch-scale workspace, fresh under `work`, with the lock compiled in
    `torch_work` (benchmark (k)'s --work: its uv and lock.txt), sharing the repository cache."""
    bazel = torch_scale.scratch_workspace(work, registry)
    torch_scale.use_lock(bazel, (torch_work / "lock.txt").read_text())
    steps = bazel.workspace / "steps.py"
    return bazel, "one", lambda value: steps.write_text(TORCH_STEPS.format(value=value))


def keep_previous_images(containerd: Containerd, round_: int) -> None:
    """Tags the full namespace's images under a name of their own before the next import
    replaces them: the peer keeps the previous rounds' images, as a developer's store does. At
    torch scale, an import replacing the image failed with `failed to prepare extraction
    snapshot ... parent snapshot ... does not exist` (presumably containerd 1.6 collecting the
    replaced image's snapshots while the import unpacked onto them; not investigated)."""
    names = containerd.ctr("--namespace", FULL_NAMESPACE, "image", "ls", "-q").stdout.split()
    for name in names:
        if "-round-" not in name:
            containerd.ctr("--namespace", FULL_NAMESPACE, "image", "tag", name, f"{name}-round-{round_}")


def podman_storage(root: Path) -> dict:
    """The environment of a podman on a storage of its own under `root` (vfs: no mounts)."""
    root.mkdir(parents=True)
    conf = root / "storage.conf"
    conf.write_text(f'[storage]\ndriver = "vfs"\ngraphroot = "{root}/graph"\nrunroot = "{root}/run"\n')
    return dict(os.environ, CONTAINERS_STORAGE_CONF=str(conf))


def podman(env: dict, *args) -> subprocess.CompletedProcess:
    return subprocess.run(["podman", *args], env=env, check=True, capture_output=True, text=True, timeout=900)


def median(values) -> float:
    return statistics.median(values)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--edits", type=int, default=3, help="measured edit rounds")
    parser.add_argument("--podman", action="store_true",
                        help="podman too (needs a podman that runs inside Bazel's namespace: see host_ctr_shim)")
    parser.add_argument("--torch", type=Path, metavar="WORK",
                        help="the torch-scale image, its lock from benchmark (k)'s work directory")
    args = parser.parse_args()
    if missing_commands():
        sys.exit(f"local_load.py: missing {', '.join(missing_commands())} (tools/bootstrap.sh installs them)")
    use_podman = args.podman
    load_start = os.getloadavg()[0]

    with tempfile.TemporaryDirectory(prefix="bench-load-", dir=os.environ.get("BENCH_TMP", "/var/tmp")) as tmp:
        work = Path(tmp)
        registry = LocalRegistry(work / "registry").start()
        containerd = Containerd(work / "containerd")
        if args.torch:
            bazel, pipeline, edit_code = torch_workspace(work, args.torch.resolve(), registry)
        else:
            bazel, pipeline, edit_code = small_workspace(work, registry)
        workspace = bazel.workspace
        IMAGE, LOAD, PUSH = (f"//:{pipeline}_default_{what}" for what in ("image", "load", "push"))
        podman_envs = {}
        try:
            containerd.start()
            flags = ("--runtime", "containerd", "--address", str(containerd.address))
            # In the workspace's rc for every command: a --run_under on `run` alone would change
            # the configuration and discard the analysis cache between a build and a run.
            (workspace / ".bazelrc").write_text(f"build --run_under={host_ctr_shim(work)}\n")

            cold_build, _ = timed(bazel.run, "build", IMAGE)  # pip, the base, the tools: not the load's
            first = timed_load(bazel, LOAD, *flags)
            tarball = workspace / "bazel-bin" / f"{pipeline}_default_image.tar"
            first_tarball, _ = timed(bazel.run, "build", "--output_groups=tarball", IMAGE)
            first_full, _ = timed(containerd.ctr, "--namespace", FULL_NAMESPACE, "image", "import", str(tarball))
            if use_podman:
                podman_envs = {name: podman_storage(work / f"podman-{name}") for name in ("load", "full")}
                first_podman = timed_load(bazel, LOAD, "--runtime", "podman", env=podman_envs["load"])
                first_podman_full, _ = timed(podman, podman_envs["full"], "load", "--quiet", "--input", str(tarball))
            first_push = timed_push(bazel, PUSH)  # cold: the registry is empty
            layout = next(p for p in bazel.output_files(IMAGE) if p.is_dir())
            blobs = list((layout / "blobs" / "sha256").iterdir())
            image_bytes = sum(b.stat().st_size for b in blobs)

            rounds = []
            # Each round: one edit loaded (then its full-load peers), another edit pushed; the
            # build is timed on its own first, so the load and the push are runs of a built image.
            for value in range(1, args.edits + 1):
                r = {}
                edit_code(2 * value - 1)
                r["build"], _ = timed(bazel.run, "build", IMAGE)
                r["load"], r["load_summary"] = timed_load(bazel, LOAD, *flags)
                if use_podman:
                    r["podman"], r["podman_summary"] = timed_load(bazel, LOAD, "--runtime", "podman", env=podman_envs["load"])
                r["tarball"], _ = timed(bazel.run, "build", "--output_groups=tarball", IMAGE)
                r["tarball_bytes"] = tarball.stat().st_size
                keep_previous_images(containerd, value)
                r["full"], _ = timed(containerd.ctr, "--namespace", FULL_NAMESPACE, "image", "import", str(tarball))
                if use_podman:
                    r["podman_full"], _ = timed(podman, podman_envs["full"], "load", "--quiet", "--input", str(tarball))
                edit_code(2 * value)
                r["push_build"], _ = timed(bazel.run, "build", IMAGE)
                r["push"], r["push_summary"] = timed_push(bazel, PUSH)
                rounds.append(r)
            noop, _ = timed(bazel.run, "build", IMAGE)  # what a second Bazel client call costs
        finally:
            # Daemons first: a failing Bazel client must not leave a server behind.
            registry.stop()
            containerd.stop()
            for env in podman_envs.values():
                subprocess.run(["podman", "rmi", "--all", "--force"], env=env, capture_output=True)
            bazel.shutdown()

    def col(key):
        return [r[key] for r in rounds]

    load_total = [r["build"] + r["load"] for r in rounds]
    push_total = [r["push_build"] + r["push"] for r in rounds]
    full_total = [r["tarball"] + r["full"] for r in rounds]
    sent = [r["load_summary"] for r in rounds]
    pushed = [r["push_summary"] for r in rounds]
    size = "torch-scale" if args.torch else "examples-sized"
    print(f"\nbenchmark (l): one-line edit then `bazel run //:{pipeline}_default_load -- --runtime containerd` "
          f"({size} image: {image_bytes / 1e6:.1f} MB, {len(blobs)} blobs), {args.edits} edits, "
          f"{time.strftime('%Y-%m-%d %H:%M')}, load {load_start:.2f} at start, {os.getloadavg()[0]:.2f} at end")
    print(f"cold build {cold_build:.1f}s (not counted); first load into an empty containerd {first[0]:.2f}s, "
          f"sent {first[1]['sent']} blobs / {first[1]['bytes'] / 1e6:.1f} MB; first full load "
          f"(tarball {first_tarball:.2f}s + ctr import {first_full:.2f}s); first push "
          f"{first_push[0]:.2f}s, {first_push[1]['uploaded']} blobs")
    if use_podman:
        print(f"podman (vfs): first load {first_podman[0]:.2f}s, sent {first_podman[1]['sent']} blobs / "
              f"{first_podman[1]['bytes'] / 1e6:.1f} MB; first `podman load` of the tarball {first_podman_full:.2f}s")
    print(f"{'per edit (median of ' + str(args.edits) + ')':<48}{'median':>9}{'min':>8}{'max':>8}  sent")
    def row(label, values, what=""):
        print(f"{label:<48}{median(values):>8.2f}s{min(values):>7.2f}s{max(values):>7.2f}s  {what}")
    load_bytes = median(s["bytes"] for s in sent)
    row("edit -> bazel build image", col("build"))
    row(f"  then bazel run :{pipeline}_default_load (containerd)", col("load"),
        f"{'/'.join(sorted({str(s['sent']) for s in sent}))} blobs / {load_bytes / 1e3:.1f} kB, "
        f"{'/'.join(sorted({str(s['present']) for s in sent}))} present")
    row("  edit -> load, total", load_total)
    row("full: bazel build --output_groups=tarball", col("tarball"))
    row("  then ctr image import of the tarball (warm ns)", col("full"), f"{median(col('tarball_bytes')) / 1e6:.1f} MB")
    row("  full load, total (after the build)", full_total)
    if use_podman:
        podman_sent = [r["podman_summary"] for r in rounds]
        row(f"bazel run :{pipeline}_default_load (podman, vfs)", col("podman"),
            f"{'/'.join(sorted({str(s['sent']) for s in podman_sent}))} blobs / "
            f"{median(s['bytes'] for s in podman_sent) / 1e3:.1f} kB, "
            f"{'/'.join(sorted({str(s['present']) for s in podman_sent}))} present")
        row("podman load of the tarball (vfs)", col("podman_full"), f"{median(col('tarball_bytes')) / 1e6:.1f} MB")
    row("edit -> bazel build image (push rounds)", col("push_build"))
    row(f"  then bazel run :{pipeline}_default_push", col("push"),
        f"{'/'.join(sorted({str(s['uploaded']) for s in pushed}))} blobs / "
        f"{median(s['bytes'] for s in pushed) / 1e3:.1f} kB")
    row("  edit -> push, total", push_total)
    print(f"a no-op `bazel build` (the split's extra client call): {noop:.2f}s")
    print(f"ratios: edit->load / edit->push = {median(load_total) / median(push_total):.2f}; "
          f"load run / push run = {median(col('load')) / median(col('push')):.2f}; "
          f"full (tarball + import) / incremental load run = {median(full_total) / median(col('load')):.1f}x; "
          f"bytes full / incremental = {median(col('tarball_bytes')) / load_bytes:.0f}x")


if __name__ == "__main__":
    main()
