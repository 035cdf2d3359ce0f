#!/usr/bin/env python3
"""Benchmark (i): a fresh output base with a warm repository cache, before and after locked fetch.

Both checkouts fetch everything `//examples/hello:main_default_image` needs (`bazel build
--nobuild`: every wheel, the Debian base's root filesystem, the requirements' dependency graph)
in a fresh output base whose --repository_cache already holds every wheel and .deb (the tests'
cache, filled by tools/bootstrap.sh), with no mirror variable set and every download going
through a counting proxy on loopback:

  before   this checkout at BEFORE (default: the commit before locked fetch): PyPI index pages
           read on every fetch, the Debian base made by mmdebstrap from the live archive
  after    this checkout: the lock's files list and the Debian package lock
  offline  this checkout again, in a fresh output base inside `unshare -n` (loopback only)

The tools are prebuilt for all three (not a cargo benchmark). Prints seconds and the network
requests each made (goal after: 0).

    benchmarks/locked_fetch.py [--before REV]
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from harness.forward_proxy import ForwardProxy  # noqa: E402
from harness.offline import caches  # noqa: E402
from harness.tools import ALL_TOOLS, tools_bin_dir  # noqa: E402
from timing import timed  # noqa: E402

TARGET = "//examples/hello:main_default_image"


def fetch(checkout: Path, output_base: Path, env: dict, wrapper=()) -> float:
    """Seconds of `bazel build --nobuild TARGET` in a fresh output base. --batch: no server
    outlives the command (one started inside `unshare -n` could not be reached from outside)."""
    repository = caches() / "repository"
    command = [*wrapper, "bazel", f"--output_base={output_base}", "--batch", "build", "--nobuild",
               f"--repository_cache={repository}", TARGET]
    variables = {k: v for k, v in os.environ.items() if k not in ("PIP_INDEX_URL", "RULES_SEMATIC_DEBIAN_CACHE")}
    seconds, result = timed(subprocess.run, command, cwd=checkout, env=dict(variables, **env),
                            capture_output=True, text=True, timeout=3600)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed in {checkout}:\n{result.stderr[-4000:]}")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", default="14817b1", help="the checkout before locked fetch")
    args = parser.parse_args()
    tools = {"RULES_SEMATIC_PREBUILT_TOOLS": str(tools_bin_dir(ALL_TOOLS))}
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-locked-", dir=os.environ.get("BENCH_TMP", "/var/tmp")) as tmp:
        work = Path(tmp)
        before = work / "before"
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(before), args.before],
                       check=True, capture_output=True)
        try:
            for name, checkout, wrapper in [("before", before, ()), ("after", REPO, ()),
                                            ("after, unshare -n", REPO, ("unshare", "-n", "--"))]:
                proxy = ForwardProxy().start()
                try:
                    # unshare -n: a new network namespace whose loopback is down; the proxy is
                    # unreachable there, which is the point (nothing may be needed).
                    seconds = fetch(checkout, work / f"output-{len(rows)}", dict(tools, **proxy.environment()), wrapper)
                finally:
                    proxy.stop()
                rows.append((name, seconds, proxy.total(), proxy.requests.most_common(3)))
        finally:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(before)], capture_output=True)
    print(f"\nbenchmark (i): fresh output base, warm repository cache, {time.strftime('%Y-%m-%d')}, "
          f"load {os.getloadavg()[0]:.2f}, {os.cpu_count()} cores: bazel build --nobuild {TARGET}")
    for name, seconds, requests, top in rows:
        print(f"{name:<22}{seconds:>8.1f}s {requests:>6} network requests  {', '.join(f'{w} x{n}' for w, n in top)}")
    print(f"after / before: {rows[1][1] / rows[0][1]:.2f}x the time, {rows[1][2]} requests instead of {rows[0][2]} (goal 0)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
