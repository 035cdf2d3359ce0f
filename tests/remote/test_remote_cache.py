"""Bazel's remote cache with a real server (Debian's nginx, WebDAV): an image built in one clone
is a cache hit, action by action, in a second clone at another path, with its own output base
and HOME. That needs every layer and image action's inputs and command line to be free of
machine-specific paths, and the tools (inputs of every such action) to be the same bytes.

Both clones take the tools from one prebuilt directory, as users of a release do: cargo builds
them from this checkout otherwise, once per checkout path, which would double a few minutes of
compiling without proving more than tests/remote/test_reproducible_tools.py already does (two
checkouts build byte-identical tools).
"""

from collections import Counter
from pathlib import Path

import pytest

from harness.bazel import Bazel, copy_workspace
from harness.nginx import NginxCache
from harness.spawns import sematic_spawns
from harness.tools import ALL_TOOLS, tools_bin_dir

IMAGE = "//examples/hello:main_default_image"
CACHE_HIT = "remote cache hit"  # the execution log's runner of a spawn served by --remote_cache


@pytest.fixture
def nginx_cache():
    cache = NginxCache().start()
    yield cache
    cache.stop()


def build_in_clone(root: Path, cache: NginxCache, tools: Path) -> tuple:
    """Builds IMAGE in a fresh clone under root (own output base and HOME); returns (image
    digest, the Sematic* spawns of its execution log)."""
    home = root / "home"
    home.mkdir(parents=True)
    log = root / "execution_log.json"
    bazel = Bazel(copy_workspace(root / "clone"), output_base=root / "output_base")
    env = {"HOME": str(home), "RULES_SEMATIC_PREBUILT_TOOLS": str(tools)}
    try:
        bazel.run("build", f"--remote_cache={cache.url}", f"--execution_log_json_file={log}", IMAGE, env=env)
        _, digest = bazel.image(IMAGE, f"--remote_cache={cache.url}", env=env)
    finally:
        bazel.shutdown()
    return digest, sematic_spawns(log)


def test_second_clone_gets_every_image_action_from_the_remote_cache(nginx_cache, tmp_path):
    tools = tools_bin_dir(ALL_TOOLS)

    digest_a, spawns_a = build_in_clone(tmp_path / "a", nginx_cache, tools)
    assert spawns_a and not any(s["runner"] == CACHE_HIT for s in spawns_a), "clone A found a filled cache"
    filled = nginx_cache.stored_bytes()

    digest_b, spawns_b = build_in_clone(tmp_path / "b", nginx_cache, tools)
    assert digest_b == digest_a
    missed = sorted(f"{s['mnemonic']} of {s.get('targetLabel')} ({s['runner']})" for s in spawns_b if s["runner"] != CACHE_HIT)
    assert not missed, f"{len(missed)} of {len(spawns_b)} Sematic actions missed the cache: {missed}"
    assert Counter(s["mnemonic"] for s in spawns_b) == Counter(s["mnemonic"] for s in spawns_a)
    # Clone B added nothing: every result it needed was there.
    assert nginx_cache.stored_bytes() == filled
