"""pytest fixtures for the suites that drive Bazel: this repository's workspace, and the
registry the examples push to (127.0.0.1:5000)."""

import pytest

from .bazel import REPO, Bazel

EXAMPLES_REGISTRY_PORT = 5000


@pytest.fixture(scope="session")
def repo_bazel() -> Bazel:
    """Bazel on this checkout (its default output base, shared with the developer's builds)."""
    return Bazel(REPO)


@pytest.fixture
def examples_registry(make_registry):
    """A fresh, empty registry where the examples push (they name 127.0.0.1:5000)."""
    return make_registry(port=EXAMPLES_REGISTRY_PORT)
