#!/usr/bin/env bash
# run_all.sh — every benchmark behind BENCHMARKS.md, one after the other; each prints its
# figures and its ratios against the peer it runs in the same invocation. Takes ~50 minutes.
#   (a) incremental_push.py  one-line edit + bazel run :x_default_push, 20 MB vs 1 GB base
#   (b) layer_bench.sh       layer building vs tar|gzip and tar|pigz
#   (c,d) push_bench.sh      first/incremental push vs skopeo copy; peak RSS pushing 1 GiB
#   (e) cold_build.py        cold build; image assembly vs buildah
#   (f) platforms.py         two-platform vs one-platform build; wheels for an extra platform
#   (g) remote_cache.py      first build without cargo; a second machine on a shared nginx cache
#   (h) torch_scale.py       a 3 GB torch + CUDA image: cold build, bumps, two keys, assembly
#                            (downloads ~4 GB of wheels from PyPI once; ~25 more minutes)
#   (i) locked_fetch.py      a fresh output base with a warm repository cache: time and network
#                            requests, before and after locked fetch, and inside unshare -n
#   (j) round_trip.py        bazel run //examples/hello:main to RESOLVED on a real Sematic server
#                            and the harness's Kubernetes cluster: push, scheduling, pull, unpack, run
#   (k) lazy_pull.py         the torch-scale image built gzip and eStargz, pushed; cold starts of its
#                            worker: full pull (overlayfs) vs lazy pull (stargz snapshotter), 5 each
#                            (needs root; the wheels of (h); ~30 more minutes)
#   (l) local_load.py        one-line edit + bazel run :x_default_load into a warm private containerd
#                            (and podman), vs ctr import / podman load of the tarball and vs the push
#   (m) link_push.py         the torch-scale image's first push over an emulated 50 ms / 1 Gbit/s link
#                            vs skopeo copy and vs the image with no distribution split, torch's
#                            layers alone, and a link cut mid-push (needs root; ~25 more minutes)
set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"
python=${RULES_SEMATIC_HOME:-$HOME/.cache/rules_sematic}/venv/bin/python

tools/bootstrap.sh
echo; echo "==== (a) incremental push";  "$python" benchmarks/incremental_push.py
echo; echo "==== (b) layer building";    benchmarks/layer_bench.sh
echo; echo "==== (c, d) push";           benchmarks/push_bench.sh
echo; echo "==== (e) cold build";        "$python" benchmarks/cold_build.py
echo; echo "==== (f) platforms";         "$python" benchmarks/platforms.py
echo; echo "==== (g) remote cache";      "$python" benchmarks/remote_cache.py
echo; echo "==== (h) torch scale";       "$python" benchmarks/torch_scale.py
echo; echo "==== (i) locked fetch";      "$python" benchmarks/locked_fetch.py
echo; echo "==== (j) round trip";        "$python" benchmarks/round_trip.py
echo; echo "==== (k) lazy pull";         "$python" benchmarks/lazy_pull.py
echo; echo "==== (l) local load";        "$python" benchmarks/local_load.py
echo; echo "==== (m) push over a link";  "$python" benchmarks/link_push.py
bazel shutdown
