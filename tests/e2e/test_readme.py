"""The README's setup, pasted as written: every block marked `<!-- readme-test: VARIANT/PATH -->`
becomes PATH in a fresh workspace of that variant (`both` goes into each), with the one edit a
reader makes (the path to rules_sematic) and the examples' lock as requirements_lock.txt, whose
files list `bazel run @pypi//:lock` writes as the README says (reading the tests' index mirror:
it must be the examples' list, byte for byte). The bzlmod workspace builds `//...` (the image
included) and runs the pipeline locally; the WORKSPACE one resolves and analyses `//...`."""

import re

import pytest

from harness.bazel import REPO, Bazel

MARKED_BLOCK = re.compile(r"<!-- readme-test: (\w+)/(\S+) -->\n```[a-z]*\n(.*?)```", re.DOTALL)
VARIANTS = ("bzlmod", "workspace")


def readme_files() -> dict:
    """variant -> {path: content} from the README's marked blocks."""
    files = {variant: {} for variant in VARIANTS}
    for variant, path, content in MARKED_BLOCK.findall((REPO / "README.md").read_text()):
        for target in VARIANTS if variant == "both" else [variant]:
            assert path not in files[target], f"README: two blocks for {target}/{path}"
            files[target][path] = content.replace("/path/to/rules_sematic", str(REPO))
    return files


def test_readme_has_every_file_a_workspace_needs():
    files = readme_files()
    assert sorted(files["bzlmod"]) == ["BUILD.bazel", "MODULE.bazel", "main.py", "pipeline.py",
                                       "python/BUILD.bazel"]
    assert sorted(files["workspace"]) == [".bazelrc", "BUILD.bazel", "WORKSPACE", "main.py", "pipeline.py",
                                          "python/BUILD.bazel"]


@pytest.mark.parametrize("variant", VARIANTS)
def test_readme_setup_builds_and_runs(variant, tmp_path):
    workspace = tmp_path / variant
    for path, content in readme_files()[variant].items():
        (workspace / path).parent.mkdir(parents=True, exist_ok=True)
        (workspace / path).write_text(content)
    if variant == "bzlmod":
        (workspace / "WORKSPACE.bzlmod").write_text("")
    (workspace / "requirements_lock.txt").write_text((REPO / "examples" / "requirements_lock.txt").read_text())
    bazel = Bazel(workspace)
    try:
        bazel.run("run", "@pypi//:lock")
        written = (workspace / "requirements_lock.files.json").read_text()
        assert written == (REPO / "examples" / "requirements_lock.files.json").read_text().replace(
            "//examples:requirements_lock.txt", "//:requirements_lock.txt")
        if variant == "workspace":
            # The same BUILD file as bzlmod's: that WORKSPACE resolves every repository and
            # analyses is what this variant adds (building the same image again would not).
            bazel.run("build", "--nobuild", "//...")
            return
        bazel.run("build", "//...")
        # cquery builds nothing: the image's files exist because `//...` built them.
        image_files = bazel.output_files("//:main_default_image")
        assert image_files and all(f.exists() for f in image_files), image_files
        if variant == "bzlmod":
            # A root-package pipeline's tarball: its repo tag used to be the invalid `bazel/:main…`.
            bazel.run("build", "--output_groups=tarball", "//:main_default_image")
            (tarball,) = [f for f in bazel.output_files("//:main_default_image", "--output_groups=tarball")
                          if f.suffix == ".tar"]
            assert tarball.stat().st_size > 1_000_000
            ran = bazel.run("run", "//:main_local")
            assert "result: 6.0" in ran.stdout, ran.stdout[-2000:] + ran.stderr[-3000:]
    finally:
        bazel.shutdown()
