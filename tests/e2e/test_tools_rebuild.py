"""The sematic_tools repository rule re-runs cargo when a tool's source changes."""

import re

from harness.bazel import Bazel, copy_workspace

HELP = "//tests/tools:layer_tool_help"
OLD = "Build one reproducible OCI layer in a single streaming pass"
NEW = "Build one reproducible OCI layer (edited by test_tools_rebuild)"


def test_editing_a_tool_rebuilds_it(tmp_path):
    bazel = Bazel(copy_workspace(tmp_path / "clone"), output_base=tmp_path / "output_base")
    try:
        bazel.run("build", HELP)
        (output,) = bazel.output_files(HELP)
        assert OLD in output.read_text()

        source = bazel.workspace / "tools/crates/layer/src/main.rs"
        source.write_text(source.read_text().replace(OLD, NEW))
        bazel.run("build", HELP)
        assert NEW in output.read_text(), "the tool was not rebuilt after its source changed"

        source.write_text(source.read_text() + "\nthis is not Rust\n")
        broken = bazel.run("build", HELP, check=False)
        assert broken.returncode != 0
        # The one line names the command, where it ran and its exit; rustc's own report follows.
        assert re.search(r"rules_sematic: `cargo build --release --locked` in \S+ failed \(exit \d+\):", broken.stderr), \
            broken.stderr[-3000:]
        assert "crates/layer/src/main.rs" in broken.stderr, broken.stderr[-3000:]
    finally:
        bazel.shutdown()
