#!/usr/bin/env bash
# build.sh OUT_DIR — builds the lazy-pull test programs (verify, snapshotter) into OUT_DIR
# with Debian's Go in GOPATH mode against the -dev packages' sources in /usr/share/gocode
# (Debian packages Go libraries as sources, not modules: nothing is downloaded). Used by
# tools/bootstrap.sh and, when its output is missing, by tests/harness/containerd.py.
set -euo pipefail
[ $# = 1 ] || { echo "usage: $0 OUT_DIR" >&2; exit 2; }
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=$1
command -v go >/dev/null || { echo "build.sh: error: go is missing: run tools/bootstrap.sh (apt-get install golang-go)" >&2; exit 1; }
mkdir -p "$out"
export GO111MODULE=off GOPATH=/usr/share/gocode GOFLAGS= CGO_ENABLED=0
export GOCACHE=${GOCACHE:-$(dirname "$out")/gocache}
for name in verify snapshotter; do
    # Built beside the final name and renamed: a failed build leaves nothing half-written.
    (cd "$here/$name" && go build -trimpath -o "$out/.$name.partial" .)
    mv "$out/.$name.partial" "$out/$name"
done
