"""pytest fixtures of the round-trip suite: a fake Kubernetes cluster with the real Sematic
server scheduling on it (one pair per module: the server takes seconds to start), and each
test's fresh view of them. Both are stopped by PID at the end, pass or fail."""

import pytest

from .kube_cluster import FakeCluster
from .round_trip import RoundTrip
from .sematic_server import SematicServer


@pytest.fixture(scope="module")
def sematic_cluster(tmp_path_factory):
    work = tmp_path_factory.mktemp("sematic-cluster")
    cluster = FakeCluster(work / "cluster").start()
    try:
        server = SematicServer(work / "server", cluster.kubeconfig).start()
    except BaseException:
        cluster.stop()
        raise
    try:
        yield RoundTrip(cluster, server)
    finally:
        server.stop()
        cluster.stop()


@pytest.fixture
def round_trip(sematic_cluster, examples_registry):
    """The module's cluster and server, and a fresh registry on 127.0.0.1:5000. The nodes keep
    the images earlier tests pulled (by digest, as Kubernetes does). A test fails if Sematic
    made a Kubernetes call the fake does not implement."""
    unhandled = len(sematic_cluster.cluster.unhandled)
    yield sematic_cluster
    assert sematic_cluster.cluster.unhandled[unhandled:] == [], "Sematic made calls the fake cluster does not answer"
