"""The prebuilt tool archives of a rules_sematic release: one per platform (`<os>_<cpu>`), with
its URLs and sha256.

tools/release.py writes this file into the release archive. A checkout lists none (or lists
those of an older version, which are ignored), so its tools are built from source with cargo.
"""

PREBUILT_TOOLS = {
    "archives": {},
    "version": "",
}
