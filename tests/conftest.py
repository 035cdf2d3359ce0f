"""Shared pytest setup: the registry-side harness fixtures (tests/harness/fixtures.py).

Imported by name rather than through `pytest_plugins`, which pytest only accepts in the
rootdir's conftest: this file keeps working wherever the rootdir ends up."""

from harness.fixtures import (  # noqa: F401  (fixtures are found by name)
    busy_containerd,
    containerd,
    make_hostile,
    make_proxy,
    make_registry,
    make_token_server,
    python_rootfs,
    registry,
    runnable_layout,
    tools,
    tools_dir,
)

from harness.pipeline_fixtures import examples_registry, repo_bazel  # noqa: F401,E402
from harness.round_trip_fixtures import round_trip, sematic_cluster  # noqa: F401,E402


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "checkout: the suite uses the examples' registry port (127.0.0.1:5000) or this checkout's "
                   "Bazel server; tools/test.sh runs these suites in one worker, the others in a second one")
