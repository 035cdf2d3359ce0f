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

# --timeout: a hung test fails alone (its fixtures' set-up included: the slowest, the platforms
# consumer, takes ~8 min); --durations: the slowest tests, to keep the suite inside CI's budget.
PYTEST=("$HOME_DIR/venv/bin/pytest" -p no:cacheprovider -q --timeout=1800 --durations=15)
if [ $# -gt 0 ]; then
    step "end-to-end suites (pytest tests/e2e $*)"
    "${PYTEST[@]}" tests/e2e "$@"
else
    # Two workers: much of a suite is waiting (registries, qemu, Sematic's server, retries), so
    # two overlap well on two cores. The suites marked `checkout` share 127.0.0.1:5000 and this
    # checkout's Bazel server: they run one after the other in the first worker, shown live; the
    # others run in the second, shown when both are done.
    step "end-to-end suites (pytest tests/e2e, two workers)"
    others_log=$(mktemp "${TMPDIR:-/tmp}/rules_sematic-e2e.XXXXXX")
    "${PYTEST[@]}" -m "not checkout" tests/e2e >"$others_log" 2>&1 &
    others=$!
    trap 'kill -INT "$others" 2>/dev/null || true' EXIT
    status=0
    "${PYTEST[@]}" -m checkout tests/e2e || status=$?
    wait "$others" || status=$?
    trap - EXIT
    step "end-to-end suites of the second worker (not marked checkout)"
    cat "$others_log"
    rm -f "$others_log"
    [ "$status" -eq 0 ] || { echo "end-to-end suites failed" >&2; exit "$status"; }
fi

step "all tests passed"
