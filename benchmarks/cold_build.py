#!/usr/bin/env python3
"""Benchmark (e): cold build of //examples/hello:main_default_image, and image assembly against
a Dockerfile build (buildah) of the same files onto the same base, in the same run.

  cold:     a fresh output base *and* a fresh cargo target dir (the tools compile from source);
            pip's and apt's download caches stay warm (this is not a network benchmark)
  cold-ob:  a fresh output base, tools' cargo cache warm (a new clone on a used machine)
  assembly: `bazel clean` then build: only layering and image actions (repositories kept)
  buildah:  `buildah bud` (COPY of the same runfiles tree onto the same base, ENV, ENTRYPOINT)
            then `buildah push` to an OCI layout: what a Dockerfile workflow pays for the same image

    benchmarks/cold_build.py [--skip-cold]
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from harness.bazel import Bazel, copy_workspace  # noqa: E402
from timing import timed  # noqa: E402

TARGET = "//examples/hello:main_default_image"
WORKER = "/app/examples/hello/main_worker"

DOCKERFILE = f"""\
FROM oci:{{base}}:latest
COPY main_worker {WORKER}
COPY main_worker.runfiles {WORKER}.runfiles
ENV PATH=/sematic/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin BAZEL_BUILT_IMAGE=1
WORKDIR {WORKER}.runfiles/_main
ENTRYPOINT ["/usr/bin/python3", "{WORKER}"]
"""

STORAGE = """\
[storage]
driver = "vfs"
runroot = "{root}/run"
graphroot = "{root}/graph"
"""


def buildah(work: Path, base_layout: Path, runfiles_parent: Path) -> float:
    """Seconds for buildah to build and write the equivalent image as an OCI layout."""
    context = work / "context"
    context.mkdir(parents=True)
    shutil.copy2(runfiles_parent / "main_worker", context / "main_worker")
    # Dereferenced: buildah COPY would otherwise copy Bazel's symlinks, not the files.
    shutil.copytree(runfiles_parent / "main_worker.runfiles", context / "main_worker.runfiles", symlinks=False)
    base = work / "base"
    shutil.copytree(base_layout, base)
    (context / "Dockerfile").write_text(DOCKERFILE.format(base=base))
    (work / "storage.conf").write_text(STORAGE.format(root=work / "storage"))
    env = dict(os.environ, CONTAINERS_STORAGE_CONF=str(work / "storage.conf"))
    start = time.monotonic()
    subprocess.run(["buildah", "bud", "--quiet", "--isolation", "chroot",
                    "--layers=false", "-t", "localhost/bench:hello", str(context)],
                   check=True, capture_output=True, env=env)
    subprocess.run(["buildah", "push", "--quiet", "localhost/bench:hello", f"oci:{work / 'out'}:latest"],
                   check=True, capture_output=True, env=env)
    elapsed = time.monotonic() - start
    subprocess.run(["buildah", "rmi", "--all", "--force"], capture_output=True, env=env)
    return elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--skip-cold", action="store_true", help="skip the fully cold build (tools from source)")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-cold-") as tmp:
        work = Path(tmp)
        clone = copy_workspace(work / "clone")
        # The tools repository's cargo target directory is under RULES_SEMATIC_HOME, one per
        # workspace path: the second output base finds the first one's warm (with --skip-cold,
        # nothing has warmed it and the row is a cold one).
        home = {"RULES_SEMATIC_HOME": str(work / "fresh-home")}
        if not args.skip_cold:
            cold = Bazel(clone, output_base=work / "ob-cold")
            seconds, _ = timed(cold.run, "build", TARGET, env=home)
            cold.shutdown()
            rows.append(("cold (output base + tools from source)", seconds))
        bazel = Bazel(clone, output_base=work / "ob")
        try:
            seconds, _ = timed(bazel.run, "build", TARGET, env=home)
            rows.append(("cold output base (tools cached)", seconds))
            bazel.run("clean", env=home)
            seconds, _ = timed(bazel.run, "build", TARGET, env=home)
            rows.append(("image assembly (bazel clean, then build)", seconds))
            ours = seconds
            base_layout, _ = bazel.image("//images:python3", env=home)
            worker_dir = bazel.output_files("//examples/hello:main_worker", env=home)[0].parent
            bazel.run("build", "//examples/hello:main_worker", env=home)
            peer = buildah(work / "buildah", base_layout, worker_dir)
            rows.append(("buildah bud + push to OCI layout (same files, same base)", peer))
        finally:
            bazel.shutdown()

    print(f"\nbenchmark (e): cold build of {TARGET}, {time.strftime('%Y-%m-%d')}, load {os.getloadavg()[0]:.2f}")
    for label, seconds in rows:
        print(f"{label:<60}{seconds:>8.1f}s")
    print(f"image assembly: buildah takes {peer / ours:.1f}x as long as rules_sematic")


if __name__ == "__main__":
    main()
