"""Hostile and broken registries (scripted servers on loopback): credentials stay on their
origin, plain-HTTP token servers and redirected uploads are refused, --insecure relaxes only
the registry it names; trickles, silent registries and silent, leaky or endless credential
helpers fail in bounded time; bodies are never read past their size; registry text cannot
drive the terminal."""

import json
import time
from pathlib import Path

from harness.credentials import (PASSWORD, USER, assert_no_secrets, b64, basic_auths, docker_config,
                                 docker_helper)
from harness.fixtures import assert_one_line_error
from harness.hostile import Reply, SilentServer
from harness.images import OCI_MANIFEST, layer, random_layer, write_layout

BASIC = "Basic " + b64(f"{USER}:{PASSWORD}")


def serving(image, *, redirect_reads_to=None, realm=None, open_to_all=False):
    """A handler playing a registry that holds `image`: Basic auth (or a Bearer challenge naming
    `realm`; none if `open_to_all`), reads redirected to `redirect_reads_to` (host:port)."""
    blobs = {image.digest: (image.manifest, OCI_MANIFEST), image.config_digest: (image.config, None)}
    blobs.update({l.digest: (l.blob, None) for l in image.layers})

    def handle(request):
        if request.authorization != BASIC and not open_to_all:
            challenge = f'Bearer realm="{realm}",service="s"' if realm else 'Basic realm="r"'
            return Reply(401, {"WWW-Authenticate": challenge})
        if request.path == "/v2/":
            return Reply(200)
        if request.method == "GET" and redirect_reads_to:
            return Reply(307, {"Location": f"http://{redirect_reads_to}{request.path}"})
        digest = request.path.rsplit("/", 1)[1]
        if digest in blobs:
            body, media_type = blobs[digest]
            return Reply(200, {"Content-Type": media_type or "application/octet-stream",
                               "Docker-Content-Digest": digest}, body)
        return Reply(404)

    return handle


def test_reads_redirected_to_another_port_of_the_same_host_carry_no_credentials(
        tools, make_hostile, tmp_path):
    image = write_layout(tmp_path / "img", [layer({"a": b"a"})])
    # Storage authorizes by itself (like a signed URL).
    storage = make_hostile(serving(image, open_to_all=True))
    front = make_hostile(serving(image, redirect_reads_to=storage.address))
    docker_config(tools, basic_auths(front.address))
    result = tools.run("sematic-pull", "--image", f"{front.address}/base/img@{image.digest}",
                       "--output", tmp_path / "pulled")
    assert result.returncode == 0, result.stderr
    assert sorted(r.path for r in storage.requests) == sorted([
        f"/v2/base/img/manifests/{image.digest}", f"/v2/base/img/blobs/{image.config_digest}"])
    assert all(r.authorization is None for r in storage.requests)
    assert all(r.authorization == BASIC for r in front.requests if r.path != "/v2/")
    assert_no_secrets(result, PASSWORD, b64(f"{USER}:{PASSWORD}"))


def test_an_upload_answered_with_a_redirect_is_refused_without_following_it(tools, make_hostile, tmp_path):
    image = write_layout(tmp_path / "img", [layer({"a": b"a"})])
    elsewhere = make_hostile(lambda request: Reply(201))

    def handle(request):
        if request.authorization != BASIC:
            return Reply(401, {"WWW-Authenticate": 'Basic realm="r"'})
        if request.path == "/v2/":
            return Reply(200)
        if request.method == "HEAD":
            return Reply(404)
        if request.method == "POST":
            return Reply(202, {"Location": "/v2/app/x/blobs/uploads/u1"})
        return Reply(302, {"Location": f"http://{elsewhere.address}/steal"})

    front = make_hostile(handle)
    docker_config(tools, basic_auths(front.address))
    result = tools.push(image.layout, f"{front.address}/app/x", "--tag", "t", "--jobs", "1")
    line = assert_one_line_error(result, "sematic-push", f"{front.address}/app/x", "HTTP 302 Found")
    assert "giving up" not in line, "a redirect is an answer, not a glitch to retry"
    assert elsewhere.requests == []
    assert not [r for r in front.requests if r.method == "PUT" and "/manifests/" in r.path]


def test_a_redirected_token_request_leaves_the_credentials_behind(tools, make_hostile, tmp_path):
    image = write_layout(tmp_path / "img", [layer({"a": b"a"})])
    tokens = make_hostile(lambda request: Reply(200, {"Content-Type": "application/json"},
                                                json.dumps({"token": "anonymous-only"}).encode()))
    realm = make_hostile(lambda request: Reply(307, {"Location": f"http://{tokens.address}/token"}))
    registry = make_hostile(serving(image, realm=f"{realm.url}/token"))
    docker_config(tools, basic_auths(registry.address))
    result = tools.run("sematic-pull", "--image", f"{registry.address}/base/img@{image.digest}",
                       "--output", tmp_path / "pulled")
    assert result.returncode != 0
    assert [r.authorization for r in realm.requests] == [BASIC]
    assert tokens.requests and all(r.authorization is None for r in tokens.requests)


def test_a_plain_http_token_server_elsewhere_never_gets_the_password(tools, make_hostile, tmp_path):
    image = write_layout(tmp_path / "img", [layer({"a": b"a"})])
    realm = "http://auth.registry.example/token"
    registry = make_hostile(serving(image, realm=realm))
    docker_config(tools, basic_auths(registry.address))
    result = tools.push(image.layout, f"{registry.address}/app/x", "--tag", "t")
    line = assert_one_line_error(result, "sematic-push")
    assert line == (
        f"sematic-push: error: preparing {image.layout} for push: checking for manifest {image.digest} "
        f"in {registry.address}/app/x: registry {registry.address} names the plain-HTTP token server "
        f"{realm}: refusing to send credentials to it in cleartext (only a token server on the host "
        "of a registry named insecure, or on loopback, may use http)")
    assert [r.path for r in registry.requests] == ["/v2/"]


def test_insecure_relaxes_the_registry_named_and_not_its_token_server(tools, make_hostile, tmp_path):
    image = write_layout(tmp_path / "img", [layer({"a": b"a"})])
    realm = make_hostile(lambda request: Reply(200), tls_dir=tmp_path / "realm-tls")
    registry = make_hostile(serving(image, realm=f"{realm.url}/token"), tls_dir=tmp_path / "registry-tls")
    docker_config(tools, basic_auths(registry.address))
    result = tools.push(image.layout, f"{registry.address}/app/x", "--tag", "t", "--insecure")
    warnings = [l for l in result.stderr.splitlines() if ": warning: " in l]
    assert warnings == [
        f"sematic-push: warning: --insecure: TLS certificates of {registry.address} are not verified "
        f"and plain HTTP is allowed, for that host and port only (not its token server or where it "
        f"redirects to)"]
    line = assert_one_line_error(result, "sematic-push", f"requesting a token from {realm.url}/token",
                                 f"TLS handshake with {realm.address}")
    assert "UnknownIssuer" in line or "certificate" in line, line
    assert realm.requests == []
    assert registry.requests, "the registry itself was reached despite its self-signed certificate"


def test_a_trickling_registry_fails_in_bounded_time_naming_host_and_operation(tools, make_hostile, tmp_path):
    image = write_layout(tmp_path / "img", [layer({"a": b"a"})])
    handle = serving(image, open_to_all=True)

    def trickle(request):
        reply = handle(request)
        if "/manifests/" in request.path:
            reply.trickle = 1  # byte per second
        return reply

    registry = make_hostile(trickle)
    started = time.monotonic()
    result = tools.run("sematic-pull", "--image", f"{registry.address}/base/img@{image.digest}",
                       "--output", tmp_path / "pulled", "--timeout", "2", "--min-rate-window", "2",
                       "--attempts", "2")
    assert time.monotonic() - started < 20
    line = assert_one_line_error(result, "sematic-pull")
    assert line == (
        f"sematic-pull: error: fetching manifest {registry.address}/base/img@{image.digest}: "
        f"giving up after 2 attempts: reading the manifest: {registry.address}: transfer slower "
        f"than 10000 bytes/s over 2 s (--min-rate, --min-rate-window)")
    assert not (tmp_path / "pulled").exists()


def test_a_slow_but_steady_registry_is_waited_for(tools, make_hostile, tmp_path):
    image = write_layout(tmp_path / "img", [random_layer(60_000, 1)])
    handle = serving(image, open_to_all=True)

    def slow(request):
        reply = handle(request)
        reply.trickle = 40_000
        return reply

    registry = make_hostile(slow)
    result = tools.run("sematic-pull", "--image", f"{registry.address}/base/img@{image.digest}",
                       "--output", tmp_path / "pulled", "--timeout", "2", "--min-rate", "10000",
                       "--min-rate-window", "1", "--layers", "all")
    assert result.returncode == 0, result.stderr


def test_a_credential_helper_that_never_answers_is_stopped(tools, make_hostile, tmp_path):
    image = write_layout(tmp_path / "img", [layer({"a": b"a"})])
    registry = make_hostile(serving(image))
    env = docker_helper(tmp_path, "stuck", "exec sleep 600\n")
    docker_config(tools, {"credHelpers": {registry.address: "stuck"}})
    started = time.monotonic()
    result = tools.push(image.layout, f"{registry.address}/app/x", "--timeout", "2", env=env)
    assert time.monotonic() - started < 15
    line = assert_one_line_error(result, "sematic-push")
    assert line.endswith(
        f"credential helper docker-credential-stuck (for {registry.address}) did not answer within "
        "2 s (--timeout); it was stopped"), line


def test_a_blob_body_is_never_read_past_its_size(tools, make_hostile, tmp_path):
    image = write_layout(tmp_path / "img", [random_layer(300_000, 2)])
    handle = serving(image, open_to_all=True)
    layer_digest = image.layers[0].digest

    def endless(request):
        if request.path.endswith(layer_digest):
            # The right bytes, then 30 MB more, with no length announced.
            return Reply(200, {}, image.layers[0].blob + bytes(30 << 20), chunked=True)
        return handle(request)

    registry = make_hostile(endless)
    result = tools.run("sematic-pull", "--image", f"{registry.address}/base/img@{image.digest}",
                       "--output", tmp_path / "pulled", "--layers", "all", "--attempts", "2")
    line = assert_one_line_error(result, "sematic-pull")
    assert f"downloading blob {layer_digest} from {registry.address}/base/img: giving up after 2 attempts" in line
    reads = [r for r in registry.requests if r.path.endswith(layer_digest)]
    assert len(reads) == 2
    # What went out before the client hung up: its size, plus what socket buffers held.
    assert all(r.sent < 8 << 20 for r in reads), [r.sent for r in reads]
    assert not (tmp_path / "pulled").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_registry_text_cannot_drive_the_terminal_or_flood_it(tools, make_hostile, tmp_path):
    image = write_layout(tmp_path / "img", [layer({"a": b"a"})])
    message = "\x1b[2J\x1b[31mall good\rOVERWRITTEN " + "x" * 200_000

    def rude(request):
        if request.path == "/v2/":
            return Reply(200)
        return Reply(400, {"Content-Type": "application/json"},
                     json.dumps({"errors": [{"code": "DENIED", "message": message}]}).encode())

    registry = make_hostile(rude)
    result = tools.run("sematic-pull", "--image", f"{registry.address}/base/img@{image.digest}",
                       "--output", tmp_path / "pulled")
    line = assert_one_line_error(result, "sematic-pull")
    assert "\x1b" not in result.stderr and "\r" not in result.stderr
    assert "DENIED: \\u{1b}[2J\\u{1b}[31mall good OVERWRITTEN xxx" in line, line[:300]
    assert len(line) < 2100 and "characters cut" in line


def test_a_helper_whose_child_keeps_its_output_open_is_stopped_with_the_child(tools, make_hostile, tmp_path):
    image = write_layout(tmp_path / "img", [layer({"a": b"a"})])
    registry = make_hostile(serving(image))
    pid_file = tmp_path / "leftover.pid"
    # Answers, exits, and leaves a process holding its stdout: reading to the end would hang.
    env = docker_helper(tmp_path, "leaky", f"sleep 600 &\necho $! > {pid_file}\necho '{{}}'\n")
    docker_config(tools, {"credHelpers": {registry.address: "leaky"}})
    started = time.monotonic()
    result = tools.push(image.layout, f"{registry.address}/app/x", "--timeout", "3", env=env)
    assert time.monotonic() - started < 3 + 5
    assert_one_line_error(result, "sematic-push", "credential helper docker-credential-leaky",
                          "a process it started kept its output open for 3 s (--timeout); "
                          "its process group was stopped")
    stat = Path(f"/proc/{pid_file.read_text().strip()}/stat")
    deadline = time.monotonic() + 3  # SIGKILL is delivered asynchronously
    while stat.exists() and ") Z " not in stat.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not stat.exists() or ") Z " in stat.read_text(), "the helper's child still runs"


def test_a_silent_registry_fails_within_75_s_at_the_default_deadlines_naming_the_phase(tools, tmp_path):
    image = write_layout(tmp_path / "img", [layer({"a": b"a"})])
    with SilentServer() as silent:
        started = time.monotonic()
        result = tools.push(image.layout, f"{silent.address}/app/x", timeout=120)
        elapsed = time.monotonic() - started
    assert elapsed <= 75, elapsed
    assert_one_line_error(result, "sematic-push", f"connecting to registry {silent.address}",
                          "connected, but the TLS handshake got no answer within 10 s",
                          "connected, but no answer within 10 s of sending the request")
