#!/usr/bin/env python3
"""Benchmark (g): a fresh machine without cargo, then a second machine sharing a remote cache.

  first:  //examples/hello:main_default_image in a fresh clone with a fresh output base, the
          tools prebuilt (what a release downloads: no Rust compile), --remote_cache pointing at
          an empty nginx WebDAV cache, which this build fills; pip's wheels come from the test
          caches on disk (not a network benchmark)
  second: the same in a second clone at another path, another output base and HOME: time,
          share of Sematic* actions served by the cache
  bytes:  what the first build put in the cache, against the image's layers and its base layer

    benchmarks/remote_cache.py
"""

import os
import sys
import tempfile
import time
from collections import Counter
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from harness.bazel import Bazel, copy_workspace  # noqa: E402
from harness.images import read_blob_json  # noqa: E402
from harness.nginx import NginxCache  # noqa: E402
from harness.spawns import sematic_spawns  # noqa: E402
from harness.tools import ALL_TOOLS, tools_bin_dir  # noqa: E402

TARGET = "//examples/hello:main_default_image"
CACHE_HIT = "remote cache hit"


def build(root: Path, cache: NginxCache, tools: Path) -> tuple:
    """(seconds, Sematic* spawns, layer sizes) of a build of TARGET in a fresh clone under root."""
    (root / "home").mkdir(parents=True)
    bazel = Bazel(copy_workspace(root / "clone"), output_base=root / "output_base")
    env = {"HOME": str(root / "home"), "RULES_SEMATIC_PREBUILT_TOOLS": str(tools)}
    log = root / "execution_log.json"
    try:
        start = time.monotonic()
        bazel.run("build", f"--remote_cache={cache.url}", f"--execution_log_json_file={log}", TARGET, env=env)
        seconds = time.monotonic() - start
        layout, digest = bazel.image(TARGET, f"--remote_cache={cache.url}", env=env)
        layers = [layer["size"] for layer in read_blob_json(layout, digest)["layers"]]
    finally:
        bazel.shutdown()
    return seconds, sematic_spawns(log), layers


def main() -> int:
    load = os.getloadavg()[0]
    tools = tools_bin_dir(ALL_TOOLS)
    cache = NginxCache().start()
    try:
        with tempfile.TemporaryDirectory(prefix="rules-sematic-bench-") as scratch:
            first_seconds, first_spawns, layers = build(Path(scratch) / "first", cache, tools)
            filled = cache.stored_bytes()
            second_seconds, second_spawns, _ = build(Path(scratch) / "second", cache, tools)
            added_by_second = cache.stored_bytes() - filled
    finally:
        cache.stop()
    hits = sum(1 for s in second_spawns if s["runner"] == CACHE_HIT)
    mnemonics = ", ".join(f"{m} {n}" for m, n in sorted(Counter(s["mnemonic"] for s in first_spawns).items()))
    print(f"benchmark (g): {TARGET}, {date.today().isoformat()}, load {load:.2f}")
    print(f"first build, fresh machine, prebuilt tools (no cargo)   {first_seconds:7.1f}s  "
          f"({len(first_spawns)} Sematic actions: {mnemonics})")
    print(f"second machine, shared nginx cache                         {second_seconds:7.1f}s  "
          f"({hits}/{len(second_spawns)} Sematic actions were remote cache hits)")
    print(f"cache after the first build   {filled / 1e6:8.1f} MB   (second build added {added_by_second} bytes)")
    print(f"image layers (compressed)     {sum(layers) / 1e6:8.1f} MB   of which the base layer {layers[0] / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
