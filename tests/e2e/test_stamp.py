"""Stamped tags: `{KEY}` in a push target's tags comes from Bazel's workspace status under
--stamp, and only the push reads the status: stamping, and a volatile value changing, rebuild
nothing (the execution log shows no action run)."""

import json

import pytest

from harness.fixtures import assert_one_line_error

# Uses 127.0.0.1:5000 or this checkout's Bazel server (tests/harness/pipeline_fixtures.py).
pytestmark = pytest.mark.checkout

TARGET = "//tests/stamp:hello_push"


def stamping(tmp_path, nonce: str) -> list:
    """Flags for a stamped build whose status has STABLE_RELEASE 1.2 and the volatile NONCE."""
    (tmp_path / "nonce").write_text(nonce)
    script = tmp_path / "status.sh"
    script.write_text(f"#!/bin/sh\necho STABLE_RELEASE 1.2\necho NONCE $(cat {tmp_path / 'nonce'})\n")
    script.chmod(0o755)
    return ["--stamp", f"--workspace_status_command={script}"]


def spawns(log_path) -> list:
    """Mnemonics of the actions an execution log (--execution_log_json_file) says ran."""
    text = log_path.read_text()
    decoder, position, mnemonics = json.JSONDecoder(), 0, []
    while position < len(text):
        while position < len(text) and text[position].isspace():
            position += 1
        if position >= len(text):
            break
        entry, position = decoder.raw_decode(text, position)
        mnemonics.append(entry.get("mnemonic"))
    return mnemonics


def test_tags_are_stamped_at_push_and_stamping_rebuilds_nothing(repo_bazel, registry, tmp_path):
    repo_bazel.run("build", TARGET)
    log = tmp_path / "exec.json"
    flags = stamping(tmp_path, "n1")
    result = repo_bazel.run("run", *flags, f"--execution_log_json_file={log}", TARGET, "--",
                            "--repository", f"{registry.host}/stamp/hello", "--progress", "quiet")
    assert spawns(log) == [], "stamping must not rebuild layers or images"
    assert sorted(registry.tags("stamp/hello")) == ["nonce-n1", "plain", "release-1.2"]
    assert result.stdout.strip().startswith(f"{registry.host}/stamp/hello@sha256:")

    flags = stamping(tmp_path, "n2")
    repo_bazel.run("build", *flags, f"--execution_log_json_file={log}", TARGET)
    assert spawns(log) == [], "a volatile status change must rebuild nothing"


def test_stamped_tags_without_stamp_fail_naming_the_flag(repo_bazel, registry):
    result = repo_bazel.run("run", "--nostamp", TARGET, "--", "--repository",
                            f"{registry.host}/stamp/hello", check=False)
    assert_one_line_error(result, "sematic-push")
    line = [l for l in result.stderr.splitlines() if l.startswith("sematic-push: error: ")][0]
    assert line == ('sematic-push: error: tag "release-{STABLE_RELEASE}" names the workspace status '
                    "value STABLE_RELEASE, but the build is not stamped: run with --stamp")
    assert registry.tags("stamp/hello") == []


def test_a_pipelines_tags_to_push_follow_its_key_tag(repo_bazel, registry, tmp_path):
    repo_bazel.run("run", *stamping(tmp_path, "n1"), "//tests/stamp:pipeline_default_push", "--",
                   "--repository", f"{registry.host}/stamp/pipeline", "--progress", "quiet")
    assert sorted(registry.tags("stamp/pipeline")) == ["pipeline_default", "release-1.2"]
