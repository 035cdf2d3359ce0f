#!/usr/bin/env python3
"""Benchmark (k): a torch-scale worker's cold start, full pull vs lazy pull. The scratch
workspace of benchmark (h) (benchmarks/torch_scale.py: sematic 0.41 + torch 2.5 with its CUDA
wheels, CPython 3.11, ~3.1 GB compressed) with a second pipeline: the same code with
`compression = "estargz"` on `@rules_sematic//images:python3_estargz`. Side by side in one run:

  cold builds:  `bazel clean`, build the gzip image (on images:python3); `bazel clean`, build
                the eStargz image; seconds, ratio, and the action seconds by mnemonic (from
                each build's --profile) as the split
  pushes:       each image after its build, to a local docker-registry
                (`bazel run :<pipeline>_default_push`)
  cold starts:  median of 5 rounds, each start with a fresh private containerd (empty content
                store, tests/harness/containerd.py; the stargz snapshotter's background fetch
                off) and a fresh registry log offset:
                  full: `ctr image pull` (overlayfs) of the gzip image + `ctr run`
                  lazy: `ctr-remote image rpull` of the eStargz image + `ctr run --snapshotter stargz`
                of three commands (--commands chooses): `sh -c 'echo started'` (no Python:
                the layers' mounts and a process start, the floor of the others), the worker
                entrypoint's `--help` (imports sematic) and
                `/sematic/bin/bazel_python -c "import steps, torch; ..."` (the pipeline's steps
                module, which imports sematic, six and torch: what a torch pipeline's worker
                imports at start). Time from the start of the pull to the command's first line
                of output; the blob bytes the registry served until then vs the image's bytes.

Needs root (containerd, FUSE), ctr, ctr-remote, containerd and go (tools/bootstrap.sh) and
PyPI (the wheels, ~4 GB, once per repository cache). Not run by CI.

    benchmarks/lazy_pull.py [--rounds 5] [--commands start,help,torch] [--work DIR]
"""

import argparse
import gzip
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from torch_scale import BUILD, PINS, compile_lock, install_uv, push, scratch_workspace, use_lock
from harness.containerd import Containerd, missing_commands  # noqa: E402 (torch_scale sets the path)
from harness.images import read_blob_json  # noqa: E402
from harness.registry import LocalRegistry  # noqa: E402
from timing import timed  # noqa: E402

BUILD_ESTARGZ = BUILD + """
sematic_pipeline(name = "lazy", base = "@rules_sematic//images:python3_estargz", compression = "estargz", deps = [":steps"], registry = "{registry}", repository = "bench/torch-estargz")
"""

GZIP, ESTARGZ = "//:one_default", "//:lazy_default"
TORCH_SCRIPT = "import steps, torch; print('torch', torch.__version__)"
# What each timed command runs in the image (given the image's facts), what its output must
# hold, and how the summary names it. `start` prints from a shell builtin: the time to mount
# the layers (and prefetch the prioritized files) and start a process, the floor of the others.
COMMANDS = {
    "start": (lambda facts: (["/bin/sh", "-c", "echo started"], "started"),
              "sh -c 'echo started' (no Python: mounting the layers and starting a process)"),
    "help": (lambda facts: (facts["entrypoint"] + ["--help"], "--run_id"), "worker --help (imports sematic)"),
    "torch": (lambda facts: (["/sematic/bin/bazel_python", "-c", TORCH_SCRIPT], "torch " + PINS["torch"]),
              "bazel_python -c 'import steps, torch' (sematic, six, torch)"),
}


def cold_build(bazel, target: str, profile: Path) -> tuple:
    """(seconds, {mnemonic: summed action seconds}, critical path seconds) of a build of
    `target` after `bazel clean`."""
    bazel.run("clean")
    seconds, _ = timed(bazel.run, "build", f"--profile={profile}", target, timeout=7200)
    return (seconds, *action_split(profile))


def action_split(profile: Path) -> tuple:
    """Action seconds by mnemonic (summed: two run at once on two cores) and the critical
    path's seconds, from a Bazel JSON trace profile."""
    with (gzip.open(profile, "rt") if profile.suffix == ".gz" else open(profile)) as f:
        events = json.load(f)
    events = events["traceEvents"] if isinstance(events, dict) else events
    by_mnemonic = defaultdict(float)
    critical = 0.0
    for event in events:
        if event.get("ph") != "X":
            continue
        if event.get("cat") == "action processing":
            mnemonic = (event.get("args") or {}).get("mnemonic") or event.get("name", "?").split(" ")[0]
            by_mnemonic[mnemonic] += event.get("dur", 0) / 1e6
        elif event.get("cat") == "critical path component":
            critical += event.get("dur", 0) / 1e6
    return dict(by_mnemonic), critical


def image_facts(bazel, target: str) -> dict:
    """The image's blobs (config and layers: digest -> size), entrypoint and layer count."""
    layout, digest = bazel.image(target + "_image")
    manifest = read_blob_json(layout, digest)
    config = read_blob_json(layout, manifest["config"]["digest"])
    blobs = {manifest["config"]["digest"]: manifest["config"]["size"]}
    blobs.update({layer["digest"]: layer["size"] for layer in manifest["layers"]})
    return {"blobs": blobs, "bytes": sum(blobs.values()), "layers": len(manifest["layers"]),
            "entrypoint": config["config"]["Entrypoint"]}


def cold_start(work: Path, registry: LocalRegistry, reference: str, command: list, lazy: bool,
               blobs: dict, expect: str) -> dict:
    """One cold start in a fresh containerd: pull (lazily or whole), run `command`; seconds to
    pull, from the pull's start to the first line of output, and blob bytes served until then."""
    directory = work / "containerd"
    shutil.rmtree(directory, ignore_errors=True)
    containerd = Containerd(directory, background_fetch=False)
    try:
        containerd.start()
        since = len(registry.access_log())
        start = time.monotonic()
        if lazy:
            containerd.ctr("image", "rpull", "--plain-http", reference, program="ctr-remote", timeout=1800)
        else:
            containerd.ctr("image", "pull", "--plain-http", reference, timeout=1800)
        pulled = time.monotonic()
        # stderr to a file: communicate() after readline() would lose what stdout's buffer holds.
        with open(directory / "stderr", "w+") as stderr:
            process = subprocess.Popen(["ctr", "--address", str(containerd.address), "run", "--rm", "--snapshotter",
                                        "stargz" if lazy else "overlayfs", reference, "bench", *command],
                                       stdout=subprocess.PIPE, stderr=stderr, text=True)
            first_line = process.stdout.readline()
            first = time.monotonic()
            until = len(registry.access_log())
            rest = process.stdout.read()
            process.wait(timeout=1800)
            stderr.seek(0)
            errors = stderr.read()
        if process.returncode != 0 or expect not in first_line + rest:
            raise RuntimeError(f"{' '.join(command)} in {reference} ({process.returncode}):\n{first_line}{rest}\n"
                               f"{errors[-4000:]}\n--- snapshotter log:\n{containerd.log('snapshotter')}")
        fetched = registry.blob_bytes_served(blobs, since, until)
        return {"pull": pulled - start, "run": first - pulled, "total": first - start, "fetched": fetched}
    finally:
        containerd.stop()
        shutil.rmtree(directory, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5, help="cold starts of each kind (median printed); 0: the builds and pushes only")
    parser.add_argument("--commands", type=lambda text: text.split(","), default=["start", "help", "torch"],
                        help="the commands to time, of " + ", ".join(COMMANDS) + " (comma-separated)")
    parser.add_argument("--work", type=Path, help="work directory, kept afterwards (default: a temporary one)")
    args = parser.parse_args()
    unknown = [what for what in args.commands if what not in COMMANDS]
    if unknown:
        parser.error(f"--commands: unknown {', '.join(unknown)}; choose among {', '.join(COMMANDS)}")
    if os.geteuid() != 0 or missing_commands():
        raise SystemExit(f"needs root and {missing_commands() or 'nothing else'} (tools/bootstrap.sh)")
    if args.work:
        args.work.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(args.work / "workspace", ignore_errors=True)
        tmp = None
    else:
        tmp = tempfile.TemporaryDirectory(prefix="bench-lazy-", dir=os.environ.get("BENCH_TMP", "/var/tmp"))
    work = args.work or Path(tmp.name)
    started = time.strftime("%H:%M")
    load_before = os.getloadavg()
    registry = LocalRegistry(work / "registry").start()
    bazel = scratch_workspace(work, registry, BUILD_ESTARGZ, pipelines=("one", "two", "lazy"))
    try:
        use_lock(bazel, compile_lock(install_uv(work), work, PINS))
        fetch, _ = timed(bazel.run, "build", "--nobuild", GZIP + "_image", ESTARGZ + "_image", timeout=7200)
        print(f"resolve + download + unpack: {fetch:.1f}s", flush=True)
        builds, pushes, images = {}, {}, {}
        # Each image pushed right after its build: a `bazel clean` between the two keeps one
        # image's outputs on disk at a time.
        for name, target in (("gzip", GZIP), ("estargz", ESTARGZ)):
            builds[name] = cold_build(bazel, target + "_image", work / f"{name}.profile.gz")
            pushes[name] = push(bazel, target + "_push")
            images[name] = image_facts(bazel, target)
            print(f"cold build, {name}: {builds[name][0]:.1f}s; push {pushes[name][0]:.1f}s", flush=True)
        # The output base (wheels, layers: ~15 GB) is not needed by the cold starts below.
        bazel.shutdown()
        bazel = None
        references = {"gzip": f"{registry.host}/bench/torch:one_default",
                      "estargz": f"{registry.host}/bench/torch-estargz:lazy_default"}
        # (command in the image, what its output must hold)
        # (command in the image, what its output must hold), of the chosen commands
        commands = {what: COMMANDS[what] for what in args.commands}
        starts = defaultdict(list)
        failed = {}  # command -> why: a command that fails in the image is not timed again
        # Interleaved, so that the machine's load drifts over both kinds alike.
        for round_ in range(args.rounds):
            for what, (command_in, _) in commands.items():
                for kind, lazy in (("full", False), ("lazy", True)):
                    if what in failed:
                        continue
                    image = "estargz" if lazy else "gzip"
                    command, expect = command_in(images[image])
                    try:
                        result = cold_start(work, registry, references[image], command, lazy, images[image]["blobs"], expect)
                    except RuntimeError as error:
                        lines = str(error).strip().splitlines()
                        failed[what] = next((line for line in reversed(lines) if "Error" in line), lines[0])
                        print(f"round {round_ + 1} {what:<5} {kind}: FAILED: {error}", flush=True)
                        continue
                    starts[what, kind].append(result)
                    print(f"round {round_ + 1} {what:<5} {kind}: pull {result['pull']:6.1f}s  run {result['run']:6.1f}s  "
                          f"first line {result['total']:6.1f}s  fetched {result['fetched'] / 1e6:8.1f} MB", flush=True)
    finally:
        registry.stop()
        if bazel:
            bazel.shutdown()
        if tmp:
            tmp.cleanup()

    print(f"\nbenchmark (k): lazy pull of a torch-scale worker, {time.strftime('%Y-%m-%d')} {started}-"
          f"{time.strftime('%H:%M')} UTC, load {load_before[0]:.2f} before / {os.getloadavg()[0]:.2f} after, "
          f"{os.cpu_count()} cores")
    for name, base in (("gzip", "images:python3"), ("estargz", "images:python3_estargz")):
        facts = images[name]
        print(f"{name} image on {base}: {facts['bytes'] / 1e9:.2f} GB compressed, {facts['layers']} layers")
    print(f"{'resolve + download + unpack the wheels (once)':<50}{fetch:>8.1f}s")
    for name in ("gzip", "estargz"):
        seconds, split, critical = builds[name]
        top = ", ".join(f"{m} {s:.0f}s" for m, s in sorted(split.items(), key=lambda i: -i[1])[:5])
        print(f"{'cold build, ' + name:<50}{seconds:>8.1f}s  (critical path {critical:.1f}s; action seconds: {top})")
    ratio = builds["estargz"][0] / builds["gzip"][0]
    print(f"eStargz / gzip cold build: {builds['estargz'][0]:.1f}s / {builds['gzip'][0]:.1f}s = {ratio:.2f}x (goal <= 1.2x)")
    for name in ("gzip", "estargz"):
        seconds, sent = pushes[name]
        print(f"{'first push, ' + name:<50}{seconds:>8.1f}s {sent / 1e6:>10.1f} MB sent")
    if not args.rounds:
        return
    print(f"cold starts, median of {args.rounds}, a fresh containerd each, background fetch off "
          f"(pull start -> first line of output; blob bytes the registry served until then):")
    for what in args.commands:
        label = COMMANDS[what][1]
        print(f"  {label}")
        if what in failed:
            print(f"    fails in the image, not timed: {failed[what]}")
            continue
        medians = {}
        for kind, image in (("full", "gzip"), ("lazy", "estargz")):
            runs = starts[what, kind]
            median = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
            medians[kind] = median
            print(f"    {kind + (' pull + overlayfs' if kind == 'full' else ' rpull + stargz'):<22} pull {median['pull']:6.1f}s  "
                  f"run {median['run']:6.1f}s  first line {median['total']:6.1f}s  fetched {median['fetched'] / 1e6:8.1f} MB "
                  f"({100 * median['fetched'] / images[image]['bytes']:.1f} % of the image)")
        speedup = medians["full"]["total"] / medians["lazy"]["total"]
        share = 100 * medians["lazy"]["fetched"] / images["estargz"]["bytes"]
        print(f"    lazy start {speedup:.2f}x faster (goal >= 5x), {share:.1f} % of the eStargz image fetched (goal <= 15 %)")


if __name__ == "__main__":
    main()
