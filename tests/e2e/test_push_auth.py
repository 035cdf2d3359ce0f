"""Authentication and TLS: htpasswd over TLS, certificate verification without downgrade,
bearer tokens (scopes, expiry), credential helpers and stores, identity tokens, podman auth
files, and secrets never appearing in any output."""

import json

import pytest

from harness.credentials import PASSWORD, USER, assert_no_secrets, b64, basic_auths, docker_config, docker_helper
from harness.fixtures import assert_one_line_error, parse_summary
from harness.images import layer, random_layer, write_layout


def helper_on_path(tmp_path, secret_json: str) -> dict:
    """Installs docker-credential-test answering `secret_json` for any server and logging the
    server URLs it was asked about; returns the env adding it to PATH."""
    log = tmp_path / "helper.log"
    return docker_helper(tmp_path, "test", f"[ \"$1\" = get ] || exit 1\nread server\n"
                         f"echo \"$server\" >> {log}\ncat <<'JSON'\n{secret_json}\nJSON\n")


@pytest.fixture
def image(tmp_path):
    return write_layout(tmp_path / "img", [random_layer(50_000, 1), layer({"app": b"1"})])


def test_htpasswd_over_tls_with_ca_cert(tools, make_registry, image):
    registry = make_registry(htpasswd=f"{USER}:{PASSWORD}", tls=True)
    docker_config(tools, basic_auths(registry.host))
    result = tools.push(image.layout, f"{registry.host}/app/x", "--tag", "t",
                        "--ca-cert", registry.ca)
    assert result.returncode == 0, result.stderr
    assert registry.tags("app/x") == ["t"]
    # The system-bundle route ($SSL_CERT_FILE) works as well as --ca-cert.
    again = tools.push(image.layout, f"{registry.host}/app/x", "--tag", "t2",
                       env={"SSL_CERT_FILE": str(registry.ca)})
    assert again.returncode == 0, again.stderr
    assert_no_secrets(result, PASSWORD, b64(f"{USER}:{PASSWORD}"))


def test_untrusted_certificate_fails_without_plain_http_fallback(tools, make_registry, image):
    registry = make_registry(htpasswd=f"{USER}:{PASSWORD}", tls=True)
    docker_config(tools, basic_auths(registry.host))
    mark = len(registry.log_text())
    result = tools.push(image.layout, f"{registry.host}/app/x", "--tag", "t")
    line = assert_one_line_error(result, "sematic-push")
    assert line == (f"sematic-push: error: preparing {image.layout} for push: connecting to registry "
                    f"{registry.host}: its TLS certificate is not trusted (trust its CA with ca_certs = [\"ca.pem\"] "
                    "on the pipeline or push target (--ca-cert FILE on the command line), or skip verification with "
                    "insecure_repository = True (--insecure)); not falling back to plain HTTP: TLS handshake with "
                    f"{registry.host}: "
                    "io: invalid peer certificate: UnknownIssuer")
    assert "HTTP request to an HTTPS server" not in registry.log_text()[mark:]
    assert registry.tags("app/x") == []


def test_insecure_accepts_a_self_signed_certificate_with_one_warning(tools, make_registry, image):
    registry = make_registry(htpasswd=f"{USER}:{PASSWORD}", tls=True)
    docker_config(tools, basic_auths(registry.host))
    result = tools.push(image.layout, f"{registry.host}/app/x", "--tag", "t", "--insecure")
    assert result.returncode == 0, result.stderr
    warnings = [l for l in result.stderr.splitlines() if "warning" in l]
    assert len(warnings) == 1 and "--insecure" in warnings[0]


def test_wrong_password_is_one_line_without_secrets(tools, make_registry, image):
    registry = make_registry(htpasswd=f"{USER}:{PASSWORD}")
    wrong = "Wr0ng-Secret-77aa"
    docker_config(tools, basic_auths(registry.host, password=wrong))
    result = tools.push(image.layout, f"{registry.host}/app/x", "--tag", "t")
    line = assert_one_line_error(result, "sematic-push")
    config = tools.home / ".docker" / "config.json"
    assert line == (f"sematic-push: error: preparing {image.layout} for push: checking for manifest "
                    f"{image.digest} in {registry.host}/app/x: HTTP 401 Unauthorized: registry {registry.host} "
                    f"denied repository:app/x:pull,push to the credentials from {config} "
                    f"(entry \"{registry.host}\")")
    assert_no_secrets(result, wrong, b64(f"{USER}:{wrong}"), PASSWORD)
    assert registry.tags("app/x") == []


def test_no_credentials_against_htpasswd_registry_fails_clearly(tools, make_registry, image):
    registry = make_registry(htpasswd=f"{USER}:{PASSWORD}")
    result = tools.push(image.layout, f"{registry.host}/app/x")
    line = assert_one_line_error(result, "sematic-push")
    assert line == (f"sematic-push: error: preparing {image.layout} for push: checking for manifest "
                    f"{image.digest} in {registry.host}/app/x: HTTP 401 Unauthorized: registry {registry.host} "
                    "denied repository:app/x:pull,push to anonymous access: no credentials found for it (docker login, $REGISTRY_AUTH_FILE, $DOCKER_CONFIG/config.json, ~/.docker/config.json or podman's auth.json)")


def token_registry(make_registry, make_token_server, **token_options):
    server = make_token_server(users={USER: PASSWORD}, **token_options)
    registry = make_registry(token_realm=server.realm, token_cert=server.cert_path)
    registry.token_server = server
    return server, registry


def test_token_auth_scopes_for_push_and_mount(tools, make_registry, make_token_server, tmp_path):
    server, registry = token_registry(make_registry, make_token_server)
    docker_config(tools, basic_auths(registry.host))
    base = write_layout(tmp_path / "base", [random_layer(30_000, s) for s in range(2)])
    result = tools.push(base.layout, f"{registry.host}/base/python", "--tag", "3")
    assert result.returncode == 0, result.stderr
    push_scopes = [r["scopes"] for r in server.requests if r["user"] == USER]
    assert ["repository:base/python:pull,push"] in push_scopes

    app = write_layout(tmp_path / "app", [layer({"a": b"a"})], base=base,
                       source=f"{registry.host}/base/python")
    result = tools.push(app.layout, f"{registry.host}/app/x", "--tag", "t")
    assert result.returncode == 0, result.stderr
    assert parse_summary(result.stderr)["mounted"] == 2
    scopes = [r["scopes"] for r in server.requests]
    assert ["repository:app/x:pull,push", "repository:base/python:pull"] in scopes
    assert registry.tags("app/x") == ["t"]
    assert_no_secrets(result, PASSWORD, *server.issued)


def test_expired_token_is_renewed_on_401(tools, make_registry, make_token_server, make_proxy, tmp_path):
    # Tokens die after 2 s but clients are told 300 s, so the client's cached token expires
    # mid-push and the registry's 401 must trigger exactly one renewal per expiry.
    server, registry = token_registry(make_registry, make_token_server,
                                      token_lifetime=2, advertised_lifetime=300)
    proxy = make_proxy(registry.host, delay=0.12)
    docker_config(tools, basic_auths(proxy.address))
    image = write_layout(tmp_path / "img", [layer({f"f{i}": bytes([i]) * 100}) for i in range(10)])
    result = tools.push(image.layout, f"{proxy.address}/app/x", "--tag", "t", "--jobs", "1")
    assert result.returncode == 0, result.stderr
    unauthorized = [r for r in proxy.log if r.status == 401 and r.path != "/v2/"]
    assert unauthorized, "the token never expired during the push; slow the proxy down"
    renewals = [r for r in server.requests if r["scopes"] == ["repository:app/x:pull,push"]]
    assert len(renewals) >= 2
    assert registry.manifest_digest("app/x", "t") == image.digest


def test_credential_helper_and_store(tools, make_registry, tmp_path, image):
    registry = make_registry(htpasswd=f"{USER}:{PASSWORD}")
    env = helper_on_path(tmp_path, json.dumps({"Username": USER, "Secret": PASSWORD}))
    docker_config(tools, {"credHelpers": {registry.host: "test"}})
    result = tools.push(image.layout, f"{registry.host}/app/helper", "--tag", "t", env=env)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "helper.log").read_text().split() == [registry.host]

    docker_config(tools, {"credsStore": "test", "auths": {registry.host: {}}})
    result = tools.push(image.layout, f"{registry.host}/app/store", "--tag", "t", env=env)
    assert result.returncode == 0, result.stderr
    assert registry.tags("app/store") == ["t"]
    assert_no_secrets(result, PASSWORD)


def test_identity_tokens_from_helper_and_config(tools, make_registry, make_token_server, tmp_path, image):
    refresh = "rt-0b7e5c1d9a"
    server, registry = token_registry(make_registry, make_token_server,
                                      refresh_tokens={refresh: USER})
    env = helper_on_path(tmp_path, json.dumps({"Username": "<token>", "Secret": refresh}))
    docker_config(tools, {"credsStore": "test"})
    result = tools.push(image.layout, f"{registry.host}/app/idt", "--tag", "t", env=env)
    assert result.returncode == 0, result.stderr
    assert any(r["grant"] == "refresh_token" and r["user"] == USER for r in server.requests)

    docker_config(tools, {"auths": {registry.host: {"auth": "", "identitytoken": refresh}}})
    result = tools.push(image.layout, f"{registry.host}/app/idt2", "--tag", "t")
    assert result.returncode == 0, result.stderr
    assert registry.tags("app/idt2") == ["t"]
    assert_no_secrets(result, refresh, *server.issued)


def test_podman_auth_files(tools, make_registry, tmp_path, image):
    registry = make_registry(htpasswd=f"{USER}:{PASSWORD}")
    auth_file = tmp_path / "auth.json"
    auth_file.write_text(json.dumps(basic_auths(registry.host)))
    result = tools.push(image.layout, f"{registry.host}/app/a", "--tag", "t",
                        env={"REGISTRY_AUTH_FILE": str(auth_file)})
    assert result.returncode == 0, result.stderr

    runtime = tmp_path / "xdg"
    (runtime / "containers").mkdir(parents=True)
    # podman also accepts per-namespace keys; the most specific wins.
    (runtime / "containers" / "auth.json").write_text(json.dumps({"auths": {
        registry.host: {"auth": b64(f"{USER}:not-this-one")},
        f"{registry.host}/app": {"auth": b64(f"{USER}:{PASSWORD}")},
    }}))
    result = tools.push(image.layout, f"{registry.host}/app/b", "--tag", "t",
                        env={"XDG_RUNTIME_DIR": str(runtime)})
    assert result.returncode == 0, result.stderr
    assert registry.tags("app/b") == ["t"]


def test_anonymous_pull_and_denied_push(tools, make_registry, make_token_server, tmp_path, image):
    def policy(user, repository):
        if user == "harness":
            return {"pull", "push"}
        if user == "bob":
            return {"pull"}
        return {"pull"} if repository.startswith("public/") else set()

    server = make_token_server(users={"bob": "bob-Pass-1"}, policy=policy)
    registry = make_registry(token_realm=server.realm, token_cert=server.cert_path)
    registry.token_server = server
    for name, data in [("config", image.config)] + [(l.digest, l.blob) for l in image.layers]:
        registry.put_blob("public/img", data)
    registry.put_manifest("public/img", "v1", image.manifest, "application/vnd.oci.image.manifest.v1+json")

    result = tools.run("sematic-pull", "--image", f"{registry.host}/public/img@{image.digest}",
                       "--output", tmp_path / "pulled")
    assert result.returncode == 0, result.stderr
    assert any(r["grant"] == "anonymous" for r in server.requests)

    docker_config(tools, basic_auths(registry.host, "bob", "bob-Pass-1"))
    result = tools.push(image.layout, f"{registry.host}/team/app", "--tag", "t")
    line = assert_one_line_error(result, "sematic-push")
    config = tools.home / ".docker" / "config.json"
    assert line.startswith("sematic-push: error: pushing blob sha256:"), line
    assert line.endswith(f" to {registry.host}/team/app: HTTP 401 Unauthorized (UNAUTHORIZED: authentication "
                         f"required): registry {registry.host} denied repository:team/app:pull,push to the "
                         f"credentials from {config} (entry \"{registry.host}\")"), line
    assert registry.tags("team/app") == []
    assert_no_secrets(result, "bob-Pass-1", *server.issued)


@pytest.mark.parametrize("storage_host", ["localhost", "127.0.0.1"])
def test_credentials_never_follow_a_redirect_to_another_origin(
        tools, make_registry, make_proxy, tmp_path, image, storage_host):
    registry = make_registry(htpasswd=f"{USER}:{PASSWORD}")
    # "Storage" authorizes by itself (like a signed URL); the front door redirects blob reads
    # there: under another host name, or on another port of the very same host.
    storage = make_proxy(registry.host, inject_authorization=registry.admin_auth)
    storage_port = storage.address.rsplit(":", 1)[1]
    front = make_proxy(registry.host, redirect_blob_gets_to=f"{storage_host}:{storage_port}")
    docker_config(tools, basic_auths(front.address))
    push = tools.push(image.layout, f"{front.address}/base/img", "--tag", "t")
    assert push.returncode == 0, push.stderr

    result = tools.run("sematic-pull", "--image", f"{front.address}/base/img@{image.digest}",
                       "--output", tmp_path / "pulled", "--layers", "all")
    assert result.returncode == 0, result.stderr
    assert [r.status for r in front.log if r.fault == "redirect"]
    blob_reads = [r for r in storage.log if r.method == "GET"]
    assert len(blob_reads) == 3  # config and two layers
    assert not any(r.authorization for r in blob_reads)
    assert any(r.authorization for r in front.log)


def test_streaming_between_two_authenticated_registries(tools, make_registry, make_token_server, tmp_path):
    server, source = token_registry(make_registry, make_token_server)
    target = make_registry(htpasswd=f"bob:{PASSWORD}-b")
    docker_config(tools, {"auths": {
        source.host: {"auth": b64(f"{USER}:{PASSWORD}")},
        target.host: {"auth": b64(f"bob:{PASSWORD}-b")},
    }})
    base = write_layout(tmp_path / "base", [random_layer(40_000, s) for s in range(2)])
    assert tools.push(base.layout, f"{source.host}/base/python", "--tag", "3").returncode == 0
    app = write_layout(tmp_path / "app", [layer({"a": b"a"})], base=base,
                       source=f"{source.host}/base/python")
    result = tools.push(app.layout, f"{target.host}/app/x", "--tag", "t")
    assert result.returncode == 0, result.stderr
    assert parse_summary(result.stderr)["streamed"] == 2
    # The source registry was only asked for read access to the base.
    assert ["repository:base/python:pull"] in [r["scopes"] for r in server.requests]
    assert target.manifest_digest("app/x", "t") == app.digest
    assert_no_secrets(result, PASSWORD, f"{PASSWORD}-b", *server.issued)


def bazel_helper(tmp_path, authorization: str):
    """A Bazel-protocol credential helper answering `authorization`, logging its requests."""
    helper = tmp_path / "bazel-helper"
    log = tmp_path / "bazel-helper.log"
    reply = json.dumps({"headers": {"Authorization": [authorization]}, "expires": "2030-01-01T00:00:00Z"})
    helper.write_text(f"#!/bin/sh\n[ \"$1\" = get ] || exit 2\ncat >> {log}\necho >> {log}\n"
                      f"cat <<'JSON'\n{reply}\nJSON\n")
    helper.chmod(0o755)
    return helper, log


def test_bazel_credential_helper_comes_before_the_docker_config(tools, make_registry, tmp_path, image):
    registry = make_registry(htpasswd=f"{USER}:{PASSWORD}")
    # The docker config is wrong: only the helper's credentials work.
    docker_config(tools, basic_auths(registry.host, password="not-this-one"))
    helper, log = bazel_helper(tmp_path, "Basic " + b64(f"{USER}:{PASSWORD}"))
    result = tools.push(image.layout, f"{registry.host}/app/helped", "--tag", "t",
                        "--credential-helper", helper)
    assert result.returncode == 0, result.stderr
    assert registry.tags("app/helped") == ["t"]
    requests = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    assert requests and all(r == {"uri": f"https://{registry.host}"} for r in requests)
    assert_no_secrets(result, PASSWORD, b64(f"{USER}:{PASSWORD}"))


def test_bazel_credential_helper_bearer_is_a_registry_token(tools, make_registry, make_token_server, tmp_path, image):
    server, registry = token_registry(make_registry, make_token_server)
    token = server.issue(USER, ["repository:app/token:pull,push"])
    helper, _ = bazel_helper(tmp_path, f"Bearer {token}")
    mark = len(server.requests)
    result = tools.push(image.layout, f"{registry.host}/app/token", "--tag", "t",
                        env={"SEMATIC_CREDENTIAL_HELPER": str(helper)})
    assert result.returncode == 0, result.stderr
    assert server.requests[mark:] == [], "the helper's token is used as it is, not exchanged"
    assert registry.tags("app/token") == ["t"]
    assert_no_secrets(result, token)


def test_relative_paths_are_from_where_bazel_run_started(tools, make_registry, tmp_path, image):
    # 'bazel run' starts the tool in its runfiles; what the user typed is relative to
    # $BUILD_WORKING_DIRECTORY.
    registry = make_registry(htpasswd=f"{USER}:{PASSWORD}", tls=True)
    typed_in = tmp_path / "workspace"
    typed_in.mkdir()
    (typed_in / "ca.pem").write_bytes(registry.ca.read_bytes())
    helper, _ = bazel_helper(tmp_path, "Basic " + b64(f"{USER}:{PASSWORD}"))
    helper.rename(typed_in / "helper")
    runfiles = tmp_path / "runfiles"
    runfiles.mkdir()
    bazel_run = {"cwd": runfiles, "env": {"BUILD_WORKING_DIRECTORY": str(typed_in)}}
    result = tools.push(image.layout, f"{registry.host}/app/rel", "--tag", "t", "--ca-cert", "ca.pem",
                        "--credential-helper", "./helper", **bazel_run)
    assert result.returncode == 0, result.stderr
    bazel_run["env"]["SEMATIC_CREDENTIAL_HELPER"] = "./helper"
    result = tools.push(image.layout, f"{registry.host}/app/rel", "--tag", "t2", "--ca-cert", "ca.pem",
                        **bazel_run)
    assert result.returncode == 0, result.stderr
    assert sorted(registry.tags("app/rel")) == ["t", "t2"]
