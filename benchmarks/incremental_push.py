#!/usr/bin/env python3
"""Benchmark (a): a one-line code edit, then `bazel run //:<pipeline>_default_push`, on a small
base (the ~20 MB Debian python3 base) and on a >= 1 GB base pulled *shallowly* from the same
registry (the CUDA situation: the base's layers are never downloaded, and are mounted, not
uploaded). Prints wall times, what was uploaded, and the big/small ratio.

    benchmarks/incremental_push.py [--edits N] [--base-gib G]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from harness.bazel import Bazel, consumer_module, copy_examples_lock  # noqa: E402
from harness.fixtures import parse_summary  # noqa: E402
from harness.registry import LocalRegistry  # noqa: E402
from harness.tools import tools_bin_dir  # noqa: E402
from timing import timed  # noqa: E402

EXTENSION = """
sematic.requirements(name = "pypi", python = "/usr/bin/python3.13", python_version = "3.11", requirements_lock = "//:requirements_lock.txt")
sematic.pull(name = "big_base", image = "{big_base}", python_version = "3.11")
"""

BUILD = """\
load("@pypi//:requirements.bzl", "requirement")
load("@rules_python//python:defs.bzl", "py_library")
load("@rules_sematic//:pipeline.bzl", "sematic_pipeline")

exports_files(["requirements_lock.txt"])

py_library(name = "steps", srcs = ["steps.py"], deps = [requirement("sematic")])

[sematic_pipeline(
    name = name,
    base = base,
    registry = "{registry}",
    repository = "bench/app",
    deps = [":steps"],
) for name, base in {pipelines}]
"""

STEPS = "import sematic\n\n\n@sematic.func\ndef step(x: int) -> int:\n    return x + {value}\n"

PIPELINES = {"small": "@rules_sematic//images:python3", "big": "@big_base//image"}


def write_workspace(workspace: Path, module: str, extension: str, repositories, registry: str,
                    pipelines: dict) -> Path:
    """A scratch consumer workspace using this checkout as a module: `pipelines` (name -> base)
    share one code library, `steps.py`, which is returned (edit it with `edit`)."""
    (workspace / "MODULE.bazel").write_text(consumer_module(module, extension, repositories))
    (workspace / "WORKSPACE.bzlmod").write_text("")
    (workspace / "BUILD.bazel").write_text(BUILD.format(registry=registry, pipelines=json.dumps(list(pipelines.items()))))
    copy_examples_lock(workspace)
    for name in pipelines:
        (workspace / f"{name}.py").write_text("import steps\n")
    steps = workspace / "steps.py"
    edit(steps, 0)
    return steps


def edit(steps: Path, value: int) -> None:
    """The one-line code edit of a round: a new constant in the shared step."""
    steps.write_text(STEPS.format(value=value))


def sh(*command, **kwargs):
    return subprocess.run(command, check=True, capture_output=True, text=True, **kwargs)


def make_big_base(tools: Path, base_layout: Path, work: Path, gib: float) -> Path:
    """The Debian python3 base plus one incompressible layer of `gib` GiB, as an OCI layout."""
    payload = work / "payload"
    payload.mkdir()
    with open("/dev/urandom", "rb") as source, open(payload / "libcuda-stand-in.so", "wb") as out:
        remaining = int(gib * (1 << 30))
        while remaining:
            chunk = source.read(min(remaining, 8 << 20))
            out.write(chunk)
            remaining -= len(chunk)
    manifest = work / "big.json"
    manifest.write_text(json.dumps({"entries": [
        {"kind": "file", "path": "/usr/lib/libcuda-stand-in.so", "src": str(payload / "libcuda-stand-in.so")}]}))
    sh(str(tools / "sematic-layer"), "manifest", str(manifest), "--output", str(work / "big.tar.gz"),
       "--descriptor", str(work / "big.descriptor.json"))
    settings = work / "settings.json"
    settings.write_text(json.dumps({"env": {}, "layer_history": ["benchmark: 1 GB stand-in for CUDA libraries"]}))
    layout = work / "big-base"
    sh(str(tools / "sematic-image"), "--base-layout", str(base_layout),
       "--layer", f"{work / 'big.descriptor.json'}={work / 'big.tar.gz'}",
       "--config-json", str(settings), "--output-layout", str(layout), "--digest-file", str(work / "big.digest"))
    (payload / "libcuda-stand-in.so").unlink()
    return layout


def timed_push(bazel: Bazel, target: str, *args):
    """(seconds, push summary) of `bazel run target [-- args]`."""
    seconds, result = timed(bazel.run, "run", target, *(("--", *args) if args else ()))
    return seconds, parse_summary(result.stderr)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--edits", type=int, default=5, help="measured edit+push rounds per base")
    parser.add_argument("--base-gib", type=float, default=1.0, help="size of the big base's extra layer")
    args = parser.parse_args()

    tools = tools_bin_dir(("sematic-layer", "sematic-image", "sematic-push"))
    with tempfile.TemporaryDirectory(prefix="bench-incremental-") as tmp:
        work = Path(tmp)
        registry = LocalRegistry(work / "registry").start()
        workspace = work / "workspace"
        workspace.mkdir()
        bazel = Bazel(workspace)
        try:
            repo = Bazel(REPO)
            base_layout, _ = repo.image("//images:python3")
            big = make_big_base(tools, base_layout, work, args.base_gib)
            pushed = sh(str(tools / "sematic-push"), "--layout", str(big), "--repository",
                        f"{registry.host}/bench/big-base", "--progress", "quiet").stdout.strip()
            big_size = sum(f.stat().st_size for f in (big / "blobs" / "sha256").iterdir())
            small_size = sum(f.stat().st_size for f in (base_layout / "blobs" / "sha256").iterdir())

            steps = write_workspace(workspace, "bench_incremental", EXTENSION.format(big_base=pushed),
                                    ["big_base", "pypi"], registry.host, PIPELINES)

            pipelines = {"small": small_size, "big": big_size}
            firsts = {name: timed_push(bazel, f"//:{name}_default_push") for name in pipelines}  # cold pushes
            measured = {name: [] for name in pipelines}
            # Interleaved, so both bases see the same machine load; each round is a new edit.
            for value in range(1, args.edits + 1):
                edit(steps, value)
                for name in pipelines:
                    measured[name].append(timed_push(bazel, f"//:{name}_default_push"))
            rows = {name: (size, *firsts[name], [t for t, _ in measured[name]], [s for _, s in measured[name]])
                    for name, size in pipelines.items()}
        finally:
            # The registry first: a failing Bazel client must not leave a server behind.
            registry.stop()
            bazel.shutdown()

    print(f"\nbenchmark (a): one-line edit then `bazel run //:<name>_default_push`, {args.edits} edits per base, "
          f"{time.strftime('%Y-%m-%d')}, load {os.getloadavg()[0]:.2f}")
    print(f"{'base':<8}{'base size':>12}{'first push':>12}{'edit+push median':>18}{'min':>8}{'max':>8}"
          f"{'uploaded/push':>15}{'bytes/push':>12}{'mounted (first)':>17}")
    for name, (size, first_time, first, times, summaries) in rows.items():
        uploaded = {s["uploaded"] for s in summaries}
        sent = statistics.median(s["bytes"] for s in summaries)
        print(f"{name:<8}{size / 1e6:>10.1f}MB{first_time:>11.1f}s{statistics.median(times):>17.2f}s"
              f"{min(times):>7.2f}s{max(times):>7.2f}s{'/'.join(map(str, sorted(uploaded))):>15}"
              f"{sent / 1e3:>10.1f}kB{first['mounted']:>17}")
    ratio = statistics.median(rows["big"][3]) / statistics.median(rows["small"][3])
    print(f"big/small edit+push ratio: {ratio:.2f} (target <= 1.2); "
          f"big base {rows['big'][0] / rows['small'][0]:.0f}x the size of the small one")


if __name__ == "__main__":
    main()
