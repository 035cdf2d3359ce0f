#!/usr/bin/env bash
# update_golden.sh — rewrites tests/golden/digests.json from the golden images as built now, under
# bzlmod and under WORKSPACE. Run it only for a change meant to alter image bytes, and say why
# in the commit: //tests/golden:golden_test fails on any other change of them.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bazel run //tests/golden:golden_test -- --update
bazel run --enable_workspace --noenable_bzlmod //tests/golden:golden_test -- --update
git --no-pager diff --stat -- tests/golden/digests.json
