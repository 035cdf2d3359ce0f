"""Which dependency system this build runs under, for the golden digests.

The app layer holds the runfiles tree, whose directories are named after repositories, and
those are spelled differently under bzlmod (`_main~sematic~pypi__six_…`) and WORKSPACE
(`pypi__six_…`): each mode has its own golden app layer, config and manifest.
"""

BAZEL_MODE = "bzlmod" if str(Label("//:BUILD.bazel")).startswith("@@") else "workspace"
