#!/usr/bin/env python3
"""Benchmark (j): `bazel run //examples/hello:main` onto a real Sematic server (0.41, SQLite,
local storage) and the harness's fake Kubernetes cluster, until the root run is RESOLVED.
Wall time, split at what each side records:

  bazel:       `bazel run` starts -> the launcher's first line (analysis; nothing to build)
  push:        the launcher's first line -> its `total:` line (server check, then the push)
  scheduling:  pushes done -> the server creates the driver Job (the launch script imports
               sematic and submits; the server schedules)
  pull:        Job created -> image pulled (scheduling on a node, skopeo pull by digest)
  unpack:      image pulled -> container started (layers unpacked with tar, overlayfs, runc)
  run:         container started -> the root run's resolved_at (the worker starts, runs the
               pipeline's four functions inline, writes through the server)

Median of 3 runs (--runs), each with a fresh registry, cluster (nodes without images) and
server; the images are built first, so no run builds anything.

    benchmarks/round_trip.py [--runs 3]
"""

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from harness.bazel import Bazel, clean_env  # noqa: E402
from harness.kube_cluster import FakeCluster  # noqa: E402
from harness.registry import LocalRegistry  # noqa: E402
from harness.round_trip import RoundTrip, Submitted  # noqa: E402
from harness.sematic_server import SematicServer  # noqa: E402

TARGET = "//examples/hello:main"
PHASES = ("bazel", "push", "scheduling", "pull", "unpack", "run")


def timed_lines(stream, lines: list) -> None:
    """Appends (monotonic time, line) for every line of `stream`."""
    for line in stream:
        lines.append((time.monotonic(), line.rstrip("\n")))


def launch(bazel: Bazel, round_trip: RoundTrip, report: Path) -> tuple:
    """Runs `bazel run TARGET` like RoundTrip.submit, keeping when each stderr line came;
    returns (start, lines, submitted)."""
    command = ["bazel", *bazel.startup, "run", TARGET, "--", "--", "--report", str(report)]
    mark = len(round_trip.cluster.jobs)
    lines = []
    start = time.monotonic()
    process = subprocess.Popen(command, cwd=bazel.workspace, env=clean_env(round_trip.server.client_env),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    reader = threading.Thread(target=timed_lines, args=(process.stderr, lines))
    reader.start()
    stdout = process.stdout.read()
    process.wait(timeout=1200)
    reader.join()
    if process.returncode != 0:
        raise SystemExit(f"bazel run {TARGET} failed:\n" + "\n".join(line for _, line in lines[-40:]) + stdout)
    stderr = "\n".join(line for _, line in lines)
    root_id = json.loads(report.read_text())["result"]
    return start, lines, Submitted(root_id, subprocess.CompletedProcess(command, 0, stdout, stderr), mark)


def one_run(bazel: Bazel, work: Path) -> dict:
    registry = LocalRegistry(work / "registry", port=5000).start()
    cluster = FakeCluster(work / "cluster").start()
    server = None
    try:
        server = SematicServer(work / "server", cluster.kubeconfig).start()
        round_trip = RoundTrip(cluster, server)
        start, lines, submitted = launch(bazel, round_trip, work / "report.json")
        run = round_trip.await_end(submitted, timeout=600)
        assert run["future_state"] == "RESOLVED", run
        launcher = [at for at, line in lines if line.startswith("sematic-launch: ")]
        [pushed] = [at for at, line in lines if line.startswith("sematic-launch: total: ")]
        driver = round_trip.driver_job(submitted)
        [created] = [e.at for e in cluster.events if e.kind == "Job" and e.name == driver.name
                     and e.reason == "SuccessfulCreate"]
        events = {e.reason: e.at for e in cluster.pod_events(driver.pod)}
        # The server writes resolved_at in UTC; this process's clocks relate it to the others.
        resolved_wall = datetime.fromisoformat(run["resolved_at"]).replace(tzinfo=timezone.utc).timestamp()
        resolved = resolved_wall - time.time() + time.monotonic()
        [total] = [line for _, line in lines if line.startswith("sematic-launch: total: ")]
        print(total)
        return {"bazel": launcher[0] - start, "push": pushed - launcher[0], "scheduling": created - pushed,
                "pull": events["Pulled"] - created, "unpack": events["Started"] - events["Pulled"],
                "run": resolved - events["Started"], "total": resolved - start}
    finally:
        if server:
            server.stop()
        cluster.stop()
        registry.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    bazel = Bazel(REPO)
    bazel.run("build", TARGET, "//examples/hello:main_default_image")
    runs = []
    for number in range(args.runs):
        work = Path(tempfile.mkdtemp(prefix="round-trip-"))
        try:
            runs.append(one_run(bazel, work))
        finally:
            shutil.rmtree(work, ignore_errors=True)
        print(f"run {number + 1}: " + "  ".join(f"{name} {runs[-1][name]:.1f}s" for name in (*PHASES, "total")))
    print(f"\nround trip: bazel run {TARGET} -> root run RESOLVED, median of {args.runs}")
    for name in (*PHASES, "total"):
        print(f"  {name:<12} {statistics.median(run[name] for run in runs):6.1f} s")


if __name__ == "__main__":
    main()
