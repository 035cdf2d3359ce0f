#!/usr/bin/env python3
"""Benchmark (f): images for a second platform. The examples' hello worker image (Debian
bookworm, Python 3.11, sematic and its ~100 distributions), for linux/amd64 alone and for
linux/amd64 + linux/arm64 as one index, in a clone of this checkout:

  build, one platform:    `bazel clean`, then build the amd64 image (repositories kept)
  build, two platforms:   `bazel clean`, then build the two-platform index
  resolve + install:      `bazel clean --expunge`, then fetch what the amd64 image needs, then
                          what the arm64 image adds (its wheels; pure-Python ones are shared):
                          wheel selection, download from the repository cache, unpacking
  ... with downloads:     (--download) the same with an empty repository cache (wheels from PyPI)

No emulation runs at build time: arm64 wheels are chosen and unpacked, never executed.

    benchmarks/platforms.py [--runs N] [--download]
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from harness.bazel import Bazel, copy_workspace  # noqa: E402
from timing import timed  # noqa: E402

PACKAGE = "examples/hello"
TARGETS = """
load("//:pipeline.bzl", "sematic_image", "sematic_image_index")

[
    sematic_image(name = "bench_" + arch, base = "//images:python3", binary = ":main_worker", platform = "linux/" + arch)
    for arch in ["amd64", "arm64"]
]

sematic_image_index(name = "bench_index", images = [":bench_amd64", ":bench_arm64"])
"""
ONE = f"//{PACKAGE}:bench_amd64"
TWO = f"//{PACKAGE}:bench_index"


def wheel_repositories(bazel: Bazel) -> dict:
    """Fetched wheel repositories by target suffix (`cp311_x86_64`, `any`, …)."""
    external = Path(bazel.run("info", "output_base").stdout.strip()) / "external"
    counts = {}
    for marker in external.glob("*pypi__*__*.marker"):
        suffix = marker.name[: -len(".marker")].rsplit("__", 1)[1]
        counts[suffix] = counts.get(suffix, 0) + 1
    return counts


def resolve(bazel: Bazel, flags=()) -> tuple:
    """(seconds for the amd64 image's repositories, seconds the arm64 image adds, counts)."""
    bazel.run("clean", "--expunge")
    first = timed(bazel.run, "build", "--nobuild", *flags, ONE)[0]
    extra = timed(bazel.run, "build", "--nobuild", *flags, f"//{PACKAGE}:bench_arm64")[0]
    return first, extra, wheel_repositories(bazel)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="builds of each kind (best and median printed)")
    parser.add_argument("--download", action="store_true",
                        help="also resolve with an empty repository cache, downloading from PyPI (the test "
                             "caches on disk serve the other runs: not a network benchmark)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-platforms-", dir=os.environ.get("BENCH_TMP", "/var/tmp")) as tmp:
        work = Path(tmp)
        clone = copy_workspace(work / "clone")
        build_file = clone / PACKAGE / "BUILD.bazel"
        build_file.write_text(build_file.read_text() + TARGETS)
        bazel = Bazel(clone, output_base=work / "ob")
        try:
            bazel.run("build", TWO)  # every repository fetched, tools built
            one, two = [], []
            for _ in range(args.runs):
                bazel.run("clean")
                one.append(timed(bazel.run, "build", ONE)[0])
                bazel.run("clean")
                two.append(timed(bazel.run, "build", TWO)[0])
            cached = resolve(bazel)
            downloaded = None
            if args.download:
                bazel.shutdown()
                bazel = Bazel(clone, output_base=work / "ob", offline_only=False)
                downloaded = resolve(bazel, [f"--repository_cache={work / 'empty-cache'}"])
        finally:
            bazel.shutdown()

    print(f"\nbenchmark (f): a second platform, {time.strftime('%Y-%m-%d')}, load {os.getloadavg()[0]:.2f}, "
          f"{os.cpu_count()} cores; best (median) of {args.runs}")
    print(f"{'build, linux/amd64 image':<58}{min(one):>7.1f}s ({statistics.median(one):.1f}s)")
    print(f"{'build, linux/amd64 + linux/arm64 index':<58}{min(two):>7.1f}s ({statistics.median(two):.1f}s)")
    print(f"two platforms take {min(two) / min(one):.2f}x one platform (goal <= 1.3x)")
    for label, result in [("repository cache warm", cached), ("empty repository cache", downloaded)]:
        if result is None:
            continue
        first, extra, counts = result
        print(f"{'resolve + install for linux/amd64 (' + label + ')':<58}{first:>7.1f}s")
        print(f"{'  ... then what linux/arm64 adds':<58}{extra:>7.1f}s")
    counts = cached[2]
    print(f"wheel repositories: {counts.get('cp311_x86_64', 0)} for amd64, {counts.get('cp311_aarch64', 0)} for "
          f"arm64, {counts.get('any', 0)} pure-Python ones shared by both")


if __name__ == "__main__":
    main()
