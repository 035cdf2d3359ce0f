"""Shared pytest setup: the registry-side harness fixtures (tests/harness/fixtures.py) and the
Bazel-driving ones (tests/harness/pipeline_fixtures.py)."""

pytest_plugins = ["harness.fixtures", "harness.pipeline_fixtures"]
