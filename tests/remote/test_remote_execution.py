"""Remote execution against BuildGrid (tests/harness/remote_execution.py: PostgreSQL, the
BuildGrid server, our REAPI bot): every layer and image action of an example image runs on the
executor, and the image is the one a local build makes.

Outside tools/test.sh (it starts three servers and builds the image twice, several minutes):
tools/test-remote.sh runs it.
"""

import pytest

from harness.bazel import Bazel, copy_workspace
from harness.remote_execution import BuildGrid
from harness.spawns import sematic_spawns
from harness.tools import ALL_TOOLS, tools_bin_dir

IMAGE = "//examples/hello:main_default_image"


@pytest.fixture
def buildgrid():
    grid = BuildGrid(concurrency=2).start()
    yield grid
    grid.stop()


def test_every_image_action_runs_remotely(buildgrid, tmp_path):
    tools = tools_bin_dir(ALL_TOOLS)
    env = {"RULES_SEMATIC_PREBUILT_TOOLS": str(tools)}
    log = tmp_path / "execution_log.json"
    bazel = Bazel(copy_workspace(tmp_path / "clone"), output_base=tmp_path / "output_base")
    try:
        bazel.run("build", f"--remote_executor={buildgrid.url}", "--remote_timeout=900",
                  f"--execution_log_json_file={log}", IMAGE, env=env)
        _, remote_digest = bazel.image(IMAGE, env=env)
        spawns = sematic_spawns(log)
        elsewhere = sorted(f"{s['mnemonic']} ({s.get('runner')})" for s in spawns if s.get("runner") != "remote")
        assert spawns and not elsewhere, f"{len(elsewhere)} of {len(spawns)} Sematic actions did not run remotely: {elsewhere}"

        bazel.run("clean", env=env)
        _, local_digest = bazel.image(IMAGE, env=env)
    finally:
        bazel.shutdown()
    assert remote_digest == local_digest
