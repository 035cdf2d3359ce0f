"""`insecure_repository` reaches the pushes (Sematic's own macro inverted this condition): a
TLS registry whose certificate nobody trusts refuses a normal push and accepts an insecure one."""

import json

from harness.bazel import Bazel, consumer_module
from harness.fixtures import parse_summaries

BUILD = """\
load("@rules_python//python:defs.bzl", "py_library")
load("@rules_sematic//:pipeline.bzl", "sematic_pipeline")

# A stand-in for the sematic package (the pipelines' workers must be able to import one).
py_library(name = "sematic", srcs = ["sematic/__init__.py"])

[sematic_pipeline(
    name = name,
    base = "@rules_sematic//images:python3",
    insecure_repository = insecure,
    registry = "{registry}",
    repository = "insecure/test",
    deps = [":sematic"],
) for name, insecure in [("strict", False), ("lenient", True)]]
"""

LAUNCH = "import json, os, sys\njson.dump(os.environ.get('SEMATIC_CONTAINER_IMAGE'), open(sys.argv[1], 'w'))\n"


def test_insecure_repository_reaches_push_and_launch(make_registry, tmp_path):
    registry = make_registry(tls=True)
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    (workspace / "MODULE.bazel").write_text(consumer_module("insecure", "", [], python_toolchain=False))
    (workspace / "WORKSPACE.bzlmod").write_text("")
    (workspace / "BUILD.bazel").write_text(BUILD.format(registry=registry.host))
    for name in ("strict", "lenient"):
        (workspace / f"{name}.py").write_text(LAUNCH)
    (workspace / "sematic").mkdir()
    (workspace / "sematic" / "__init__.py").write_text("")
    bazel = Bazel(workspace)
    try:
        strict = bazel.run("run", "//:strict_default_push", check=False)
        assert strict.returncode != 0
        (error,) = [line for line in strict.stderr.splitlines() if line.startswith("sematic-push: error:")]
        assert registry.host in error and "certificate" in error, error

        lenient = bazel.run("run", "//:lenient_default_push")
        assert parse_summaries(lenient.stderr)[0]["manifest"] == "pushed"

        seen = tmp_path / "seen.json"
        bazel.run("run", "//:lenient", "--", "--no-server-check", "--", str(seen))
        assert json.loads(seen.read_text()).startswith(f"{registry.host}/insecure/test@sha256:")
    finally:
        bazel.shutdown()
