"""Every fault kind × every kind of request, deterministically: a fault striking once is ridden
out (the fault fired, and the request was sent exactly once more than in a clean run); a fault
striking every time ends in one error line with nothing tagged, unless the fault cannot hurt
that request (a truncated empty body, an upload whose lost answer the next check finds done)."""

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import pytest

from harness.credentials import PASSWORD, USER, basic_auths, docker_config
from harness.fixtures import assert_one_line_error
from harness.images import layer, write_layout
from harness.registry import LocalRegistry
from harness.tokenserver import TokenServer

FAULTS = ["500", "429", "reset", "truncate", "stall", "reset-after"]
ATTEMPTS = 3
# Flags every run gets: few attempts and a short timeout keep faults for ever quick.
FAST = ["--attempts", str(ATTEMPTS), "--timeout", "1"]


@pytest.fixture(scope="module")
def plain_registry(tmp_path_factory):
    registry = LocalRegistry(tmp_path_factory.mktemp("matrix-registry")).start()
    yield registry
    registry.stop()


@dataclass
class Run:
    """One scenario run: the tool's result, the proxy that saw it, and where it pushed (a
    registry and repository) or pulled (an output directory)."""
    result: object
    proxy: object
    program: str
    registry: object = None
    repository: str = ""
    output: Optional[Path] = None


def small_image(tmp_path, *, base=None, source=None):
    return write_layout(tmp_path / f"img-{uuid.uuid4().hex[:8]}", [layer({"app.txt": b"matrix\n"})],
                        base=base, source=source)


def push_scenario(**proxy_options):
    """Pushes a small image through a fault proxy in front of the plain registry."""
    def run(ctx, script):
        proxy = ctx.make_proxy(ctx.registry.host, script=script, stall_seconds=3, retry_after="1",
                               **proxy_options)
        repository = f"matrix/{uuid.uuid4().hex[:12]}"
        image = small_image(ctx.tmp_path)
        result = ctx.tools.push(image.layout, f"{proxy.address}/{repository}", "--tag", "t", "--jobs", "1",
                                *FAST)
        return Run(result, proxy, "sematic-push", ctx.registry, repository)
    return run


def mount_scenario(ctx, script):
    """Pushes an image on a base in the same registry: its layer is mounted."""
    base = write_layout(ctx.tmp_path / f"base-{uuid.uuid4().hex[:8]}", [layer({"base.txt": b"b\n"})])
    base_repository = f"matrix/base-{uuid.uuid4().hex[:8]}"
    assert ctx.tools.push(base.layout, f"{ctx.registry.host}/{base_repository}").returncode == 0
    proxy = ctx.make_proxy(ctx.registry.host, script=script, stall_seconds=3, retry_after="1")
    image = small_image(ctx.tmp_path, base=base, source=f"{proxy.address}/{base_repository}")
    repository = f"matrix/{uuid.uuid4().hex[:12]}"
    result = ctx.tools.push(image.layout, f"{proxy.address}/{repository}", "--tag", "t", "--jobs", "1", *FAST)
    return Run(result, proxy, "sematic-push", ctx.registry, repository)


def pull_scenario(ctx, script):
    """Pulls an image with its layers through the proxy (GET blob)."""
    image = small_image(ctx.tmp_path)
    repository = f"matrix/{uuid.uuid4().hex[:12]}"
    assert ctx.tools.push(image.layout, f"{ctx.registry.host}/{repository}").returncode == 0
    proxy = ctx.make_proxy(ctx.registry.host, script=script, stall_seconds=3, retry_after="1")
    output = ctx.tmp_path / f"pulled-{uuid.uuid4().hex[:8]}"
    result = ctx.tools.run("sematic-pull", "--image", f"{proxy.address}/{repository}@{image.digest}",
                           "--output", output, "--layers", "all", *FAST)
    return Run(result, proxy, "sematic-pull", output=output)


def token_scenario(ctx, script):
    """Pushes to a token-auth registry whose token server is behind the proxy."""
    server = TokenServer(ctx.tmp_path / f"token-{uuid.uuid4().hex[:8]}", users={USER: PASSWORD}).start()
    ctx.stop_later(server)
    upstream = server.realm.split("://", 1)[1].split("/", 1)[0]
    proxy = ctx.make_proxy(upstream, script=script, stall_seconds=3, retry_after="1")
    registry = LocalRegistry(ctx.tmp_path / f"token-registry-{uuid.uuid4().hex[:8]}",
                             token_realm=f"http://{proxy.address}/token", token_cert=server.cert_path).start()
    ctx.stop_later(registry)
    registry.token_server = server
    docker_config(ctx.tools, basic_auths(registry.host))
    repository = f"matrix/{uuid.uuid4().hex[:12]}"
    image = small_image(ctx.tmp_path)
    result = ctx.tools.push(image.layout, f"{registry.host}/{repository}", "--tag", "t", "--jobs", "1", *FAST)
    return Run(result, proxy, "sematic-push", registry, repository)


def uploads(path):
    return "/blobs/uploads/" in path


@dataclass
class Kind:
    scenario: Callable
    matches: Callable  # (method, path) -> bool
    has_body: bool  # whether the answer to this request carries a body


KINDS = {
    "HEAD": Kind(push_scenario(), lambda m, p: m == "HEAD" and "/blobs/sha256:" in p, False),
    "POST": Kind(push_scenario(), lambda m, p: m == "POST" and uploads(p) and "mount=" not in p, False),
    # Uploads in chunks: the proxy refuses monolithic uploads over 100 bytes.
    "PATCH": Kind(push_scenario(reject_put_bodies_over=100), lambda m, p: m == "PATCH", False),
    "PUT": Kind(push_scenario(), lambda m, p: m == "PUT" and uploads(p), False),
    "mount": Kind(mount_scenario, lambda m, p: m == "POST" and "mount=" in p, False),
    "manifest PUT": Kind(push_scenario(), lambda m, p: m == "PUT" and "/manifests/sha256:" in p, False),
    "GET blob": Kind(pull_scenario, lambda m, p: m == "GET" and "/blobs/sha256:" in p, True),
    "token": Kind(token_scenario, lambda m, p: m == "GET" and p.startswith("/token"), True),
}


def harmless(kind: str, fault: str) -> bool:
    """Faults that cannot hurt this request: a truncated empty body, and a monolithic upload
    whose answer was lost (the retry's HEAD finds the blob there)."""
    return (fault == "truncate" and not KINDS[kind].has_body) or (fault == "reset-after" and kind == "PUT")


def falls_back(kind: str, fault: str) -> bool:
    """Faults for ever that the push survives: a mount the registry keeps refusing with an HTTP
    status (the blob is transferred instead; a broken connection is not a refusal)."""
    return kind == "mount" and fault in ("500", "429")


class Context:
    def __init__(self, tools, registry, make_proxy, tmp_path):
        self.tools, self.registry, self.make_proxy, self.tmp_path = tools, registry, make_proxy, tmp_path
        self.servers = []

    def stop_later(self, server):
        self.servers.append(server)


@pytest.fixture
def context(tools, plain_registry, make_proxy, tmp_path):
    ctx = Context(tools, plain_registry, make_proxy, tmp_path)
    yield ctx
    for server in ctx.servers:
        server.stop()


_clean_counts = {}


def clean_count(kind, context) -> int:
    """How many matching requests a fault-free run of the kind's scenario sends."""
    if kind not in _clean_counts:
        run = KINDS[kind].scenario(context, [])
        assert run.result.returncode == 0, run.result.stderr
        _clean_counts[kind] = sum(KINDS[kind].matches(r.method, r.path) for r in run.proxy.log)
        assert _clean_counts[kind] > 0, f"the {kind} scenario sends no {kind} request"
    return _clean_counts[kind]


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_fault_once_is_ridden_out(kind, fault, context):
    baseline = clean_count(kind, context)
    run = KINDS[kind].scenario(context, [(KINDS[kind].matches, fault)])
    assert run.result.returncode == 0, run.result.stderr
    fired = [r for r in run.proxy.log if r.fault == fault]
    assert len(fired) == 1, "the fault did not fire"
    sent = sum(KINDS[kind].matches(r.method, r.path) for r in run.proxy.log)
    assert sent == baseline + (0 if harmless(kind, fault) else 1)
    if run.registry is not None:
        assert run.registry.tags(run.repository) == ["t"]


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_fault_every_time_fails_in_one_line_with_nothing_tagged(kind, fault, context):
    run = KINDS[kind].scenario(context, [(KINDS[kind].matches, fault, None)])
    assert [r for r in run.proxy.log if r.fault == fault], "the fault did not fire"
    if harmless(kind, fault):
        assert run.result.returncode == 0, run.result.stderr
        return
    if falls_back(kind, fault):
        assert run.result.returncode == 0, run.result.stderr
        assert "was refused" in run.result.stderr and "transferring it" in run.result.stderr, run.result.stderr
        assert run.registry.tags(run.repository) == ["t"]
        return
    line = assert_one_line_error(run.result, run.program)
    assert f"giving up after {ATTEMPTS} attempts" in line, line
    assert run.result.stdout == ""
    if run.registry is not None:
        assert run.registry.tags(run.repository) == []
    else:
        assert not run.output.exists()
