"""The version of rules_sematic. Its tools report the same (`sematic-layer --version`), and
prebuilt tools reporting another are refused. MODULE.bazel and tools/Cargo.toml say it too;
tests/e2e/test_release.py checks that the three agree."""

VERSION = "0.1.0"
