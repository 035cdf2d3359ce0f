#!/usr/bin/env bash
# test.sh — every test of rules_sematic: bootstrap (if needed), the Rust checks and tests,
# buildifier, `bazel test //...` with bzlmod and with WORKSPACE, and the end-to-end suites
# (real registries, images run with runc, consumer workspaces). Fails on the first failing step.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
HOME_DIR=${RULES_SEMATIC_HOME:-$HOME/.cache/rules_sematic}

step() { printf '\n==== [%s] %s\n' "$(date +%T)" "$*"; }

step "bootstrap"
tools/bootstrap.sh

step "cargo fmt --check, clippy -D warnings, cargo test (tools/)"
(cd tools && cargo fmt --check && cargo clippy --locked --all-targets -- -D warnings && cargo test --locked)

step "buildifier (lint + format check)"
"$HOME_DIR/buildifier/node_modules/.bin/buildifier" --mode=check --lint=warn -r .

step "bazel test //... (bzlmod, with the flags Bazel 8 and 9 flip: see .bazelrc)"
bazel test //...

step "bazel test //... (WORKSPACE, Bazel 7 only)"
bazel test --enable_workspace --noenable_bzlmod //...

step "end-to-end suites (pytest tests/e2e)"
# --timeout: a hung test fails alone (its fixtures' set-up included: the slowest, the platforms
# consumer, takes ~8 min); --durations: the slowest tests, to keep the suite inside CI's budget.
"$HOME_DIR/venv/bin/pytest" -p no:cacheprovider -q --timeout=1800 --durations=15 tests/e2e "$@"

step "all tests passed"
