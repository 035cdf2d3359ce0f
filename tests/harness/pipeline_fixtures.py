"""pytest fixtures for the suites that drive Bazel: this repository's workspace, and the
registry the examples push to (127.0.0.1:5000). Both are shared by everything that runs at the
same time, so a suite using them says so with `pytestmark = pytest.mark.checkout`: tools/test.sh
runs those suites one after the other in one worker while the other suites run in a second."""

import pytest

from .bazel import REPO, Bazel

EXAMPLES_REGISTRY_PORT = 5000


def _require_checkout_marker(request, what: str) -> None:
    if request.node.get_closest_marker("checkout") is None:
        pytest.fail(f"{request.node.nodeid} uses {what}: add `pytestmark = pytest.mark.checkout` to its module, "
                    "so that tools/test.sh does not run it beside another suite using it", pytrace=False)


@pytest.fixture(scope="module")
def repo_bazel(request) -> Bazel:
    """Bazel on this checkout (its default output base, shared with the developer's builds)."""
    _require_checkout_marker(request, "this checkout's Bazel server")
    return Bazel(REPO)


@pytest.fixture
def examples_registry(request, make_registry):
    """A fresh, empty registry where the examples push (they name 127.0.0.1:5000)."""
    _require_checkout_marker(request, f"the examples' registry port {EXAMPLES_REGISTRY_PORT}")
    return make_registry(port=EXAMPLES_REGISTRY_PORT)
