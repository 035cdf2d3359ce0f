"""Base images rules_sematic pins (declared by base_images() / sematic.base_images())."""

# Sematic's public worker bases, as Sematic's own bazel/pipeline.bzl pins them. Fetched shallowly
# (manifest and config only) the first time a target uses them.
SEMATIC_BASES = {
    "python_39": "index.docker.io/library/python@sha256:4169ae884e9e7d9bd6d005d82fc8682e7d34b7b962ee7c2ad59c42480657cb1d",
    "sematic-worker-base": "index.docker.io/sematicai/sematic-worker-base@sha256:e929213c8219562a48e82264569298e3ad79e97888e1e7521bd64587f37eceb3",
    "sematic-worker-cuda": "index.docker.io/sematicai/sematic-worker-base@sha256:bea3926876a3024c33fe08e0a6b2c0377a7eb600d7b3061a3f3f39d711152e3c",
}

# A small python3 base made from Debian packages (mmdebstrap): for offline work, the demo and
# the tests. Python 3.13 because sematic 0.41 supports < 3.14 and sid's python3 is 3.14; it is
# also the interpreter the examples' Bazel toolchain uses, so wheels resolved for one fit both.
PYTHON3_DEBIAN = {
    "name": "rules_sematic_python3",
    "packages": ["dash", "libmagic1t64", "python3.13"],
    "suite": "sid",
    "symlinks": {"/usr/bin/python3": "python3.13"},
}
