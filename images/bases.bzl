"""Base images rules_sematic pins (declared by base_images() / sematic.base_images())."""

# Sematic's public worker bases, as Sematic's own bazel/pipeline.bzl pins them: sematic_pull
# arguments by repository name. Fetched shallowly (manifest and config only) the first time a
# target uses them. The worker bases are Ubuntu 22.04 with deadsnakes' python3.9 linked from
# /usr/bin/python3 (sematic-ai/sematic docker/Dockerfile.worker at the time of these digests);
# python_39 is Docker's python:3.9-slim-bullseye, whose Python lives in /usr/local.
SEMATIC_BASES = {
    "python_39": {
        "image": "index.docker.io/library/python@sha256:4169ae884e9e7d9bd6d005d82fc8682e7d34b7b962ee7c2ad59c42480657cb1d",
        "python_interpreter": "/usr/local/bin/python3.9",
        "python_version": "3.9",
    },
    "sematic-worker-base": {
        "image": "index.docker.io/sematicai/sematic-worker-base@sha256:e929213c8219562a48e82264569298e3ad79e97888e1e7521bd64587f37eceb3",
        "python_interpreter": "/usr/bin/python3",
        "python_version": "3.9",
    },
    "sematic-worker-cuda": {
        "image": "index.docker.io/sematicai/sematic-worker-base@sha256:bea3926876a3024c33fe08e0a6b2c0377a7eb600d7b3061a3f3f39d711152e3c",
        "python_interpreter": "/usr/bin/python3",
        "python_version": "3.9",
    },
}

# Small python3 bases made from Debian packages, for amd64 and arm64: for offline work, the
# examples, the demo and the tests. Each is pinned by its lock (images/<name>.lock.json, written
# by `bazel run @<name>//:lock`): the images' digests change when a lock does, not with the
# archive. bookworm (python3.11) for the examples; bullseye's python3.9 is the Python of
# Sematic's worker images; trixie (Debian stable since 2025) has python3.13 (and libmagic1t64,
# libmagic's name since the 64-bit time_t transition).
# libstdc++6: the manylinux policy lets wheels assume it (google-crc32c's extension needs it).
# python3-distutils: Debian moves most of distutils out of the standard library, and setuptools
# before 60 (58.1 in sematic 0.41's requirements) imports it (Python 3.12 dropped distutils).
DEBIAN_BASES = {
    "rules_sematic_python3": {
        "lock": Label("//images:rules_sematic_python3.lock.json"),
        "packages": ["dash", "libmagic1", "libstdc++6", "python3", "python3-distutils"],
        "suite": "bookworm",
    },
    "rules_sematic_python3_bullseye": {
        "lock": Label("//images:rules_sematic_python3_bullseye.lock.json"),
        "packages": ["dash", "libmagic1", "libstdc++6", "python3", "python3-distutils"],
        "suite": "bullseye",
    },
    "rules_sematic_python3_trixie": {
        "lock": Label("//images:rules_sematic_python3_trixie.lock.json"),
        "packages": ["dash", "libmagic1t64", "libstdc++6", "python3"],
        "suite": "trixie",
    },
}
