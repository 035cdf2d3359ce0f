#!/usr/bin/env bash
# test-remote.sh — the suites of "run where users' builds run" (tests/remote), kept out of
# tools/test.sh for CI's budget (together ~20 minutes, most of it compiling the tools again):
#   test_release.py             the release archive: reproducible, old glibc, a consumer without cargo
#   test_reproducible_tools.py  the tools compile to the same bytes from another checkout and home
#   test_remote_cache.py        a second clone gets every Sematic action from an nginx cache
#   test_remote_execution.py    every Sematic action runs on BuildGrid (PostgreSQL, BuildGrid and
#                               tests/harness/reapi_bot.py on loopback, started and stopped by it)
# Run it before a release and after changing the tools' build, the toolchains or action inputs.
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
HOME_DIR=${RULES_SEMATIC_HOME:-$HOME/.cache/rules_sematic}

tools/bootstrap.sh
"$HOME_DIR/venv/bin/pytest" -p no:cacheprovider -q tests/remote "$@"
