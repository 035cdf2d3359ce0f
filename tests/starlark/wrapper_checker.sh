#!/usr/bin/env bash
# Run by wrapper_test's wrapper: DATA RUNFILES_DIR LITERAL WRAPPER_RUNFILES_PATH [EXTRA...].
set -euo pipefail
data="$1" runfiles="$2" literal="$3" me="$4"
shift 4
fail() { echo "wrapper_checker: $*" >&2; exit 1; }
[[ "$(cat "$data")" == "wrapper test data" ]] || fail "data argument $data is not the data file"
[[ -d "$runfiles" && -e "$runfiles/$me" ]] || fail "runfiles argument $runfiles is not the runfiles tree"
[[ "$literal" == "it's literal" ]] || fail "literal argument came through as $literal"
[[ "${RUNFILES_DIR:-}" == "$runfiles" ]] || fail "RUNFILES_DIR ${RUNFILES_DIR:-} is not exported"
if [[ "$*" == "again" ]]; then
  exit 0
fi
[[ "$*" == "first" ]] || fail "the caller's arguments came through as $*"
# As a user runs it from bazel-bin: the real file, beside its .runfiles tree.
wrapper="$(readlink -f "$runfiles/$me")"
[[ -d "$wrapper.runfiles" ]] || fail "no $wrapper.runfiles to run the wrapper directly from"
cd /
env -u RUNFILES_DIR -u RUNFILES_MANIFEST_FILE -u TEST_SRCDIR -u JAVA_RUNFILES -u RUNFILES_MANIFEST_ONLY \
  "$wrapper" again || fail "the wrapper failed when run directly from $wrapper"
