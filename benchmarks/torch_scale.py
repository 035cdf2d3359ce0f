#!/usr/bin/env python3
"""Benchmark (h): a torch-scale image. sematic + torch 2.5 (PyPI's CUDA build, with its nvidia-*
wheels) for CPython 3.11 on linux/x86_64: real wheels from PyPI, > 100 distributions, several GB
installed, on the Debian bookworm base, pushed to a local registry. Side by side in one run:

  cold build:          `bazel clean`, build the image (wheels already unpacked: not a network
                       benchmark), then its first push
  bump a small one:    six 1.16.0 -> 1.17.0: rebuild, push; bytes re-pushed vs six's size
  bump the largest:    torch 2.5.0 -> 2.5.1: rebuild, push; bytes re-pushed vs torch's size
  two keys vs one:     `bazel clean`, build a two-key pipeline's images vs the one-key image
  native checks:       the image's layer actions that report their ELF files (each own layer and
                       piece), rerun with and without --native-report, and the image action
                       with and without the checks, best of 2 each with the inputs in the page
                       cache: the cost of "every native file fits the image"
  assembly:            sematic-layer assemble of every piece of the image into one layer
                       (the pieces of distributions below 64 MiB: what the bucket layers of a
                       build assemble in total), best of 2 with the pieces in the page cache:
                       bytes/s of tar (each piece is decompressed for the diff_id) and of
                       layer written, peak RSS

The reference for the bumps is a Dockerfile's `RUN pip install -r lock.txt`: one layer holding
all third-party code, re-pushed whole on any bump; its size is printed (the image's third-party
layers, compressed), measured in the same run.

    benchmarks/torch_scale.py
"""

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from harness.bazel import Bazel, consumer_module  # noqa: E402
from harness.fixtures import parse_summaries  # noqa: E402
from harness.registry import LocalRegistry  # noqa: E402
from harness.tools import tools_bin_dir  # noqa: E402
from timing import timed  # noqa: E402

PINS = {"sematic": "0.41.0", "torch": "2.5.0", "six": "1.16.0"}

EXTENSION = """
sematic.requirements(name = "pypi", python = "/usr/bin/python3.13", python_version = "3.11", requirements_lock = "//:lock.txt")
"""

BUILD = """\
load("@pypi//:requirements.bzl", "requirement")
load("@rules_python//python:defs.bzl", "py_library")
load("@rules_sematic//:pipeline.bzl", "sematic_base_image", "sematic_layer", "sematic_pipeline")

py_library(name = "steps", srcs = ["steps.py"], deps = [requirement(n) for n in ["sematic", "torch", "six"]])

sematic_layer(name = "marker", files = {{"steps.py": "/etc/second-key"}})

sematic_base_image(name = "second_base", base = "@rules_sematic//images:python3", layers = [":marker"])

sematic_pipeline(name = "one", base = "@rules_sematic//images:python3", deps = [":steps"], registry = "{registry}", repository = "bench/torch")

sematic_pipeline(name = "two", bases = {{"default": "@rules_sematic//images:python3", "gpu": ":second_base"}}, deps = [":steps"], registry = "{registry}", repository = "bench/torch2")
"""

def install_uv(work: Path) -> Path:
    """uv, in a venv under `work`: what compiles the locks."""
    subprocess.run([sys.executable, "-m", "venv", str(work / "uv")], check=True)
    subprocess.run([str(work / "uv/bin/pip"), "install", "--quiet", "uv"], check=True)
    return work / "uv/bin/uv"


def scratch_workspace(work: Path, registry: LocalRegistry, build: str = BUILD,
                      pipelines=("one", "two")) -> Bazel:
    """The scratch workspace under `work`/workspace (this checkout as a module, `build` as its
    BUILD with {registry} filled in, steps.py importing sematic, six and torch, one launch script
    per pipeline of `pipelines`); its Bazel, which may reach PyPI."""
    workspace = work / "workspace"
    workspace.mkdir()
    (workspace / "MODULE.bazel").write_text(consumer_module("bench_torch", EXTENSION, ["pypi"]))
    (workspace / "WORKSPACE.bzlmod").write_text("")
    (workspace / "BUILD.bazel").write_text(build.format(registry=registry.host))
    (workspace / "steps.py").write_text("import sematic, six, torch\n")
    for name in pipelines:
        (workspace / f"{name}.py").write_text("import steps\n")
    return Bazel(workspace, offline_only=False)


def use_lock(bazel: Bazel, lock: str) -> None:
    """Makes `lock` (a compiled lock's text) the workspace's and fetches its files list."""
    (bazel.workspace / "lock.txt").write_text(lock)
    bazel.run("run", "@pypi//:lock")  # its files list, from PyPI


def compile_lock(uv: Path, work: Path, pins: dict) -> str:
    requirements = work / "requirements.in"
    requirements.write_text("".join(f"{name}=={version}\n" for name, version in pins.items()))
    out = work / "lock.txt"
    subprocess.run([str(uv), "pip", "compile", "--quiet", "--generate-hashes", "--python-version", "3.11",
                    "--python-platform", "x86_64-manylinux_2_28", "-o", str(out), str(requirements)],
                   check=True, capture_output=True)
    return out.read_text()


def push(bazel: Bazel, target: str) -> tuple:
    """(seconds, bytes uploaded) of `bazel run target`."""
    seconds, result = timed(bazel.run, "run", target, "--", "--progress", "plain")
    uploaded = sum(s["bytes"] for s in parse_summaries(result.stderr))
    return seconds, uploaded


def installed_size(bazel: Bazel, distribution: str) -> int:
    """Bytes of a distribution's installed files, from its piece target."""
    external = Path(bazel.run("info", "output_base").stdout.strip()) / "external"
    sizes = [int(m.group(1)) for build in external.glob(f"*pypi__{distribution}_[0-9]*/BUILD.bazel")
             for m in [re.search(r"size = (\d+)", build.read_text())] if m]
    return max(sizes, default=0)


def assembly(tools: Path, out: Path, work: Path) -> dict:
    """Assembling every gzip piece of the image into one layer, best of 2 (after a first run
    that brings them into the page cache): what the bucket layers of a build do in total."""
    pieces = sorted(out.glob("*/bin/external/*pypi__*/*.gzip.piece.descriptor.json"))
    if not pieces:
        raise SystemExit(f"no gzip piece descriptors under {out}: has the piece naming changed?")
    # One piece per distribution (a piece built in two configurations is the same bytes).
    by_first = sorted({json.loads(p.read_text())["first"]: p for p in pieces}.items())
    args = ["assemble"]
    for _, descriptor in by_first:
        blob = descriptor.with_name(descriptor.name.replace(".descriptor.json", ".tar.gz"))
        args.append(f"{descriptor}={blob}")
    command = ["/usr/bin/time", "-f", "%M", str(tools / "sematic-layer"), *args, "--directory", "/app",
               "--directory", "/app/_ext", "--output", str(work / "all.tar.gz"), "--descriptor", str(work / "all.json")]
    runs = [timed(subprocess.run, command, check=True, capture_output=True, text=True) for _ in range(3)][1:]
    seconds = min(run[0] for run in runs)
    layer = json.loads((work / "all.json").read_text())
    return {"pieces": len(by_first), "seconds": seconds, "written": layer["size"], "tar": layer["uncompressedSize"],
            "rss_mb": max(int(run[1].stderr.strip().splitlines()[-1]) for run in runs) / 1024}


def command_line(bazel: Bazel, mnemonic: str, target: str) -> list:
    """The arguments (after the executable) of `target`'s one `mnemonic` action."""
    text = bazel.run("aquery", f'mnemonic("{mnemonic}", {target})').stdout
    line = text.split("Command Line: (exec ", 1)[1].split(")\n", 1)[0].replace("\\\n", " ")
    return shlex.split(line)[1:]


def native_check_cost(bazel: Bazel, tools: Path, work: Path) -> dict:
    """Seconds of the image's report-writing layer actions and of its image action, each run
    with and without the native checks (best of 2, outputs to `work`), from the execroot."""
    execroot = Path(bazel.run("info", "execution_root").stdout.strip())
    image_args = command_line(bazel, "SematicImage", "//:one_default_image")
    reports = [image_args[i + 1] for i, arg in enumerate(image_args) if arg == "--native-report"]
    out = work / "native"
    out.mkdir(exist_ok=True)
    layer_runs = []
    for report in reports:
        manifest = report[: -len(".native.json")] + ".json"
        args = ["manifest", manifest, "--compression", "gzip", "--output", str(out / "blob"), "--descriptor", str(out / "d")]
        if report.endswith(".piece.native.json"):
            first = json.loads((execroot / manifest).read_text())["entries"][0]["path"]
            args += ["--piece", first.rsplit("/", 1)[0]]
        layer_runs.append(args)
    # The image action without its checks: no reports, no libc, no Python version.
    unchecked, skip = [], 0
    for arg in image_args:
        if skip:
            skip -= 1
        elif arg in ("--native-report", "--libc", "--python-version"):
            skip = 1
        else:
            unchecked.append(arg)

    def image(args):
        redirected = []
        for flag, value in zip(args[::2], args[1::2]):
            value = {"--output-layout": str(out / "layout"), "--digest-file": str(out / "digest")}.get(flag, value)
            redirected += [flag, value]
        subprocess.run([str(tools / "sematic-image"), *redirected], cwd=execroot, check=True, capture_output=True)

    def layers(with_reports):
        for args in layer_runs:
            extra = ["--native-report", str(out / "report")] if with_reports else []
            subprocess.run([str(tools / "sematic-layer"), *args, *extra], cwd=execroot, check=True, capture_output=True)

    best = lambda run, *a: min(timed(run, *a)[0] for _ in range(2))
    layers(False)  # the inputs into the page cache
    return {"actions": len(layer_runs), "layers_with": best(layers, True), "layers_without": best(layers, False),
            "image_with": best(image, image_args), "image_without": best(image, unchecked)}


def third_party_bytes(layout: Path, digest: str) -> int:
    """Compressed bytes of the image's third-party layers, buckets and layers of their own:
    what a Dockerfile's one pip-install layer would hold."""
    manifest = json.loads((layout / "blobs" / "sha256" / digest.split(":")[1]).read_text())
    config = json.loads((layout / "blobs" / "sha256" / manifest["config"]["digest"].split(":")[1]).read_text())
    history = [h.get("created_by", "") for h in config["history"] if not h.get("empty_layer")]
    # "rules_sematic: third-party code, bucket 7", or a distribution's own: "rules_sematic: torch
    # 2.5.0", or one of its parts: "rules_sematic: torch 2.5.0 (part 1 of 2)".
    third_party = re.compile(r"rules_sematic: (third-party code, bucket \d+|[A-Za-z0-9_.-]+ \d[^ ]*( \(part \d+ of \d+\))?)$")
    return sum(layer["size"] for h, layer in zip(history, manifest["layers"]) if third_party.match(h))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.parse_args()
    tools = tools_bin_dir(["sematic-layer", "sematic-image"])
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-torch-", dir=os.environ.get("BENCH_TMP", "/var/tmp")) as tmp:
        work = Path(tmp)
        uv = install_uv(work)
        locks = {name: compile_lock(uv, work, dict(PINS, **change)) for name, change in
                 [("base", {}), ("six", {"six": "1.17.0"}), ("torch", {"torch": "2.5.1"})]}
        registry = LocalRegistry(work / "registry").start()
        bazel = scratch_workspace(work, registry)
        try:
            use_lock(bazel, locks["base"])
            fetch, _ = timed(bazel.run, "build", "--nobuild", "//:one_default_image", "//:two_default_image",
                             "//:two_gpu_image", timeout=7200)
            bazel.run("clean")
            cold, _ = timed(bazel.run, "build", "//:one_default_image", timeout=7200)
            first_push = push(bazel, "//:one_default_push")
            rows.append(("resolve + download + unpack the wheels (once)", fetch, None))
            rows.append(("cold build, one key", cold, None))
            rows.append(("first push", *first_push))
            assembled = assembly(tools, Path(bazel.run("info", "output_path").stdout.strip()), work)
            native = native_check_cost(bazel, tools, work)
            layout, digest = bazel.image("//:one_default_image")
            image_bytes = sum(f.stat().st_size for f in (layout / "blobs" / "sha256").iterdir())
            pip_layer = third_party_bytes(layout, digest)
            sizes = {name: installed_size(bazel, name) for name in ("six", "torch")}
            for lock in ("six", "torch"):
                use_lock(bazel, locks[lock])
                rebuild, _ = timed(bazel.run, "build", "//:one_default_image", timeout=7200)
                seconds_push, sent = push(bazel, "//:one_default_push")
                rows.append((f"bump {lock}: rebuild", rebuild, None))
                rows.append((f"bump {lock}: push", seconds_push, sent))
                use_lock(bazel, locks["base"])
            bazel.run("build", "//:one_default_image", timeout=7200)
            bazel.run("clean")
            one_key, _ = timed(bazel.run, "build", "//:one_default_image", timeout=7200)
            bazel.run("clean")
            two_keys, _ = timed(bazel.run, "build", "//:two_default_image", "//:two_gpu_image", timeout=7200)
        finally:
            registry.stop()
            bazel.shutdown()

    print(f"\nbenchmark (h): torch-scale image, {time.strftime('%Y-%m-%d')}, load {os.getloadavg()[0]:.2f}, "
          f"{os.cpu_count()} cores; image {image_bytes / 1e9:.2f} GB compressed")
    for label, seconds, sent in rows:
        extra = f"{sent / 1e6:>10.1f} MB sent" if sent is not None else ""
        print(f"{label:<50}{seconds:>8.1f}s {extra}")
    print(f"six installed: {sizes['six'] / 1e6:.2f} MB; torch installed: {sizes['torch'] / 1e6:.0f} MB; "
          f"a Dockerfile's pip-install layer (re-pushed on any bump): {pip_layer / 1e6:.0f} MB")
    print(f"two keys / one key (after bazel clean): {two_keys:.1f}s / {one_key:.1f}s = {two_keys / one_key:.2f}x (goal <= 1.1x)")
    with_checks = native["layers_with"] + native["image_with"]
    without = native["layers_without"] + native["image_without"]
    print(f"native checks: the {native['actions']} layer actions that report ELF files {native['layers_with']:.1f}s with "
          f"reports / {native['layers_without']:.1f}s without, the image action {native['image_with']:.2f}s checked / "
          f"{native['image_without']:.2f}s unchecked: {with_checks / without:.3f}x (goal <= 1.05x)")
    print(f"assembly of the {assembled['pieces']} pieces that share bucket layers, as one layer: "
          f"{assembled['tar'] / 1e9:.2f} GB of tar ({assembled['written'] / 1e9:.2f} GB compressed) in "
          f"{assembled['seconds']:.2f}s = {assembled['tar'] / assembled['seconds'] / 1e9:.2f} GB/s of tar, "
          f"{assembled['written'] / assembled['seconds'] / 1e9:.2f} GB/s written (goal >= 1 GB/s), "
          f"peak RSS {assembled['rss_mb']:.0f} MB")


if __name__ == "__main__":
    main()
