"""Bad inputs to the macro and the rules, in a scratch workspace that uses rules_sematic as an
outside module: each gets one clear error naming the problem and the fix, and builds nothing."""

import pytest

from harness.bazel import REPO, Bazel, consumer_module
from harness.fixtures import assert_one_line_error

# Uses 127.0.0.1:5000 or this checkout's Bazel server (tests/harness/pipeline_fixtures.py).
pytestmark = pytest.mark.checkout

EXTENSION = f"""
sematic.pull(name = "unpinned", image = "127.0.0.1:5000/base/python:latest")
sematic.debian_image(name = "no_packages", packages = [])
sematic.requirements(name = "no_python", python = "/nonexistent/python3.13", python_version = "3.11", requirements_lock = "//:incomplete_lock.txt")
sematic.requirements(name = "tiny", python = "/usr/bin/python3.13", python_version = "3.11", requirements_lock = "//:lock.txt")
sematic.requirements(name = "incomplete", python = "/usr/bin/python3.13", python_version = "3.11", requirements_lock = "//:incomplete_lock.txt")
sematic.requirements(name = "unknown_distribution", python = "/usr/bin/python3.13", python_version = "3.11", requirements_lock = "//:unknown_lock.txt")
sematic.pull(name = "unreachable", image = "127.0.0.1:1/base/python@sha256:{'0' * 64}")
sematic.debian_image(name = "no_lock", packages = ["python3"])
"""
REPOSITORIES = ["incomplete", "no_lock", "no_packages", "no_python", "tiny", "unknown_distribution",
                "unpinned", "unreachable"]

LOAD = 'load("@rules_sematic//:pipeline.bzl", "sematic_image", "sematic_layer", "sematic_pipeline")\n'

# Rules producing runfiles no real project should have, to feed the image rule bad trees.
DEFS = """\
def _root_symlink_impl(ctx):
    return [DefaultInfo(runfiles = ctx.runfiles(files = [ctx.file.real], root_symlinks = {ctx.attr.path: ctx.file.other}))]

root_symlink = rule(_root_symlink_impl, attrs = {
    "other": attr.label(allow_single_file = True),
    "path": attr.string(),
    "real": attr.label(allow_single_file = True),
})

def _tree_impl(ctx):
    tree = ctx.actions.declare_directory(ctx.label.name)
    ctx.actions.run_shell(outputs = [tree], command = 'cd "$1" && ' + ctx.attr.command, arguments = [tree.path])
    return [DefaultInfo(files = depset([tree]), runfiles = ctx.runfiles([tree]))]

tree = rule(_tree_impl, attrs = {"command": attr.string()})

def _layout_impl(ctx):
    layout = ctx.actions.declare_directory(ctx.label.name)
    ctx.actions.run_shell(outputs = [layout], arguments = [layout.path, ctx.attr.media_type], command = \"\"\"
cd "$1" && mkdir -p blobs/sha256 && printf '{"imageLayoutVersion":"1.0.0"}' > oci-layout
manifest='{"schemaVersion":2,"mediaType":"'$2'","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}'
printf '%s' "$manifest" > m && digest=$(sha256sum m | cut -c1-64) && mv m blobs/sha256/$digest
printf '{}' > blobs/sha256/44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a
printf '{"schemaVersion":2,"manifests":[{"mediaType":"%s","digest":"sha256:%s","size":%d}]}' "$2" "$digest" ${#manifest} > index.json
\"\"\")
    return [DefaultInfo(files = depset([layout]))]

oci_layout = rule(_layout_impl, attrs = {"media_type": attr.string()})
"""

IMAGE = """\
load("@rules_python//python:defs.bzl", "py_binary")
load("@rules_sematic//:pipeline.bzl", "sematic_image")
load("//:defs.bzl", "oci_layout", "root_symlink", "tree")

py_binary(name = "bin", srcs = ["bin.py"], data = [":data"], legacy_create_init = False)

sematic_image(name = "image", binary = ":bin")

"""
PIPELINE = 'sematic_pipeline(name = "main", deps = [], registry = "127.0.0.1:5000", repository = "bad", {})\n'

# package -> (BUILD content, files, target to build, expected message)
CASES = {
    "ambiguous_default": (
        PIPELINE.format('base = ":a", bases = {"default": ":b"}'), {"main.py": ""}, "//ambiguous_default:all",
        "the default image is ambiguous: base = \":a\" but bases[\"default\"] = \":b\"; set only one of them"),
    "empty_bases": (
        PIPELINE.format("bases = {}"), {"main.py": ""}, "//empty_bases:all", "bases has no \"default\" key"),
    "no_default_key": (
        PIPELINE.format('bases = {"cuda": ":a"}'), {"main.py": ""}, "//no_default_key:all",
        "bases has no \"default\" key"),
    "separator_in_key": (
        PIPELINE.format('bases = {"default": ":a", "gpu::x": ":b"}'), {"main.py": ""}, "//separator_in_key:all",
        "contains '::' or '##'"),
    "hashes_in_key": (
        PIPELINE.format('bases = {"default": ":a", "gpu##x": ":b"}'), {"main.py": ""}, "//hashes_in_key:all",
        "contains '::' or '##'"),
    "invalid_tag_key": (
        PIPELINE.format('bases = {"default": ":a", "gpu/1": ":b"}'), {"main.py": ""}, "//invalid_tag_key:all",
        'makes the tag "main_gpu/1", which is not a valid registry tag'),
    "too_long_key": (
        PIPELINE.format('bases = {"default": ":a", "' + "k" * 124 + '": ":b"}'), {"main.py": ""}, "//too_long_key:all",
        "at most 128 characters"),
    "missing_launch_script": (
        PIPELINE.format('base = ":a"'), {}, "//missing_launch_script:all",
        "launch script main.py not found in package //missing_launch_script: create it or set main"),
    "base_not_an_image": (
        'filegroup(name = "notes", srcs = ["notes.txt"])\n' + PIPELINE.format('base = ":notes"'),
        {"main.py": "", "notes.txt": "not an image"}, "//base_not_an_image:main_default_image",
        "base //base_not_an_image:notes is not an image"),
    "unpinned_pull": (
        'alias(name = "x", actual = "@unpinned//image")\n', {}, "//unpinned_pull:x",
        "is not pinned: write it as registry/repository@sha256:<digest>"),
    "debian_without_packages": (
        'alias(name = "x", actual = "@no_packages//image")\n', {}, "//debian_without_packages:x",
        "packages is empty"),
    "requirements_without_python": (
        'alias(name = "x", actual = "@no_python//:flask")\n', {}, "//requirements_without_python:x",
        "requirements no_python: interpreter /nonexistent/python3.13 not found: install it or set python = "),
    "lock_without_hashes": (
        'alias(name = "x", actual = "@tiny//:six")\n', {}, "//lock_without_hashes:x",
        "//:lock.txt: six==1.17.0 has no --hash=sha256: generate the lock with hashes (pip-compile "
        "--generate-hashes, uv pip compile --generate-hashes)"),
    "requirement_not_in_lock": (
        'load("@tiny//:requirements.bzl", "requirement")\nalias(name = "x", actual = requirement("numpy"))\n', {},
        "//requirement_not_in_lock:x", '"numpy" is not in //:lock.txt: add it to the requirements and regenerate the lock'),
    "incomplete_lock": (
        'alias(name = "x", actual = "@incomplete//:flask")\n', {}, "//incomplete_lock:x",
        "//:incomplete_lock.txt is incomplete for Python 3.13 on linux x86_64 (flask requires blinker; "),
    "unknown_distribution": (
        'alias(name = "x", actual = "@unknown_distribution//:rules_sematic_no_such_distribution")\n', {},
        "//unknown_distribution:x",
        "//:unknown_lock.files.json does not exist: run `bazel run @unknown_distribution//:lock` to write it"),
    "unreachable_registry": (
        'alias(name = "x", actual = "@unreachable//image")\n', {}, "//unreachable_registry:x",
        "sematic-pull: error:"),
    "debian_without_lock": (
        'alias(name = "x", actual = "@no_lock//image")\n', {}, "//debian_without_lock:x",
        'debian_image(no_lock): no lock: set lock = "//:no_lock.lock.json" on the debian_image and run '
        "`bazel run @no_lock//:lock` to write it"),
    "pipeline_without_sematic": (
        'load("//:defs.bzl", "oci_layout")\nload("@rules_sematic//:pipeline.bzl", "sematic_base_image")\n'
        'oci_layout(name = "layout", media_type = "application/vnd.oci.image.manifest.v1+json")\n'
        'sematic_base_image(name = "a", base = ":layout", python_version = "3.11", python_interpreter = "/usr/bin/python3")\n'
        + PIPELINE.format('base = ":a"'), {"main.py": ""}, "//pipeline_without_sematic:main_default_image",
        "the pipeline's deps do not bring the sematic package (the worker would fail in the cluster with No module "
        "named 'sematic'): add requirement(\"sematic\") or your sematic py_library to deps"),
    "env_value_not_a_string": (
        PIPELINE.format('base = ":a", env = {"A": 1}'), {"main.py": ""}, "//env_value_not_a_string:all",
        "sematic_pipeline(main): env[\"A\"] = 1 is not a string: write \"1\""),
    "env_path_without_the_base_path": (
        PIPELINE.format('base = ":a", env = {"PATH": "/opt/mytools/bin"}'), {"main.py": ""},
        "//env_path_without_the_base_path:all",
        "sematic_pipeline(main): env[\"PATH\"] = \"/opt/mytools/bin\" drops the base image's PATH (python3 and "
        "/usr/bin would be gone): write \"/opt/mytools/bin:$PATH\""),
    "registry_with_scheme": (
        PIPELINE.replace('registry = "127.0.0.1:5000"', 'registry = "https://127.0.0.1:5000"').format('base = ":a"'),
        {"main.py": ""}, "//registry_with_scheme:all",
        'sematic_pipeline(main): registry "https://127.0.0.1:5000" has a scheme: write the host only, registry = '
        '"127.0.0.1:5000"'),
    "repository_not_an_oci_name": (
        PIPELINE.replace('repository = "bad"', 'repository = "Acme/Pipes"').format('base = ":a"'),
        {"main.py": ""}, "//repository_not_an_oci_name:all",
        'sematic_pipeline(main): repository "Acme/Pipes" is not a valid OCI repository name ("Acme" has uppercase '
        'letters): use lowercase letters and digits'),
    "data_glob_of_a_directory": (
        PIPELINE.format('base = ":a", data = glob(["models"], allow_empty = True)'),
        {"main.py": "", "models/weights.bin": "w"}, "//data_glob_of_a_directory:all",
        "sematic_pipeline(main): data is empty (a glob that matched nothing? globs match files, not directories): "
        'write glob(["models/**"]) for a directory\'s files, or leave data unset'),
    "data_directory": (
        PIPELINE.format('base = ":a", data = ["models"]'),
        {"main.py": "", "models/weights.bin": "w"}, "//data_directory:all",
        'sematic_pipeline(main): data has "models", a directory, whose files Bazel does not track: list them with '
        'glob(["models/**"]) or a filegroup'),
    "image_layers_not_in_deps": (
        'load("@rules_python//python:defs.bzl", "py_binary", "py_library")\n'
        'py_library(name = "big", srcs = ["big.py"])\n'
        'py_binary(name = "bin", srcs = ["bin.py"], legacy_create_init = False)\n'
        'sematic_image(name = "image", binary = ":bin", image_layers = [":big"])\n',
        {"bin.py": "", "big.py": ""}, "//image_layers_not_in_deps:image",
        "//image_layers_not_in_deps:image: image_layers has //image_layers_not_in_deps:big, which is not among the "
        "dependencies of //image_layers_not_in_deps:bin (image_layers_not_in_deps/big.py is not in its runfiles): "
        "add it to deps, or remove it from image_layers"),
    "tags_to_push_invalid": (
        PIPELINE.format('base = ":a", tags_to_push = ["{STABLE_GIT_COMMIT}", "v1/2"]'), {"main.py": ""},
        "//tags_to_push_invalid:all",
        "sematic_pipeline(main): tags_to_push has \"v1/2\", which is not a valid registry tag"),
    "layer_file_label_with_two_files": (
        'filegroup(name = "two", srcs = ["a.txt", "b.txt"])\nsematic_layer(name = "x", files = {":two": "/x"})\n',
        {"a.txt": "a", "b.txt": "b"}, "//layer_file_label_with_two_files:x",
        "sematic_layer: //layer_file_label_with_two_files:two must be exactly one file, not 2"),
}

# Builds run with an environment that breaks how the tools are obtained: case -> (env, message).
TOOLS_CASES = {
    "prebuilt_dir_without_tools": (
        {"RULES_SEMATIC_PREBUILT_TOOLS": "/nonexistent/bin"},
        "prebuilt tools directory /nonexistent/bin has no sematic-image"),
    "no_cargo": (
        {"CARGO_HOME": "/nonexistent/cargo"},
        "has no prebuilt tools for linux_x86_64 and cargo is not on PATH or in /nonexistent/cargo/bin: "),
}


# package -> (data target, expected message or None for success)
IMAGE_CASES = {
    "escaping_runfiles_path": (
        'root_symlink(name = "data", path = "../../escaped.txt", real = "a.txt", other = "b.txt")',
        "escaped.txt"),
    "duplicate_destination": (
        'root_symlink(name = "data", path = "_main/duplicate_destination/a.txt", real = "a.txt", other = "b.txt")',
        "duplicate_destination/a.txt"),
    "unknown_base_media_type": (
        'filegroup(name = "data")\noci_layout(name = "base", media_type = "application/vnd.example.unknown+json")\n'
        'load("@rules_sematic//:pipeline.bzl", "sematic_base_image")\n'
        'sematic_base_image(name = "declared", base = ":base", python_version = "3.11", python_interpreter = "/usr/bin/python3")\n'
        'sematic_image(name = "image_on_bad_base", base = ":declared", binary = ":bin")',
        None),
    "undefined_env_reference": (
        'filegroup(name = "data")\nsematic_image(name = "with_env", binary = ":bin", env = {"DATA": "/data/${DATA_DIRR}"})',
        None),
    "base_config_python": (
        'filegroup(name = "data")\nload("@rules_sematic//:pipeline.bzl", "sematic_base_image")\n'
        'sematic_base_image(name = "declared", env = {"PYTHON_VERSION": "3.9.18"}, python_version = "3.11", python_interpreter = "/usr/bin/python3")\n'
        'sematic_image(name = "on_it", base = ":declared", binary = ":bin")',
        None),
    "hundred_thousand_files": (
        'tree(name = "data", command = "seq 1 100000 | xargs touch")',
        None),
}


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad-inputs")
    (root / "MODULE.bazel").write_text(
        consumer_module("bad_inputs", EXTENSION, REPOSITORIES, python_toolchain=False))
    (root / "WORKSPACE.bzlmod").write_text("")
    (root / "lock.txt").write_text("six==1.17.0\n")
    (root / "incomplete_lock.txt").write_text(
        "flask==3.1.3 \\\n    --hash=sha256:0ef0e52b8a9cd932855379197dd8f94047b359ca0a78695144304cb45f87c9eb \\\n"
        "    --hash=sha256:f4bcbefc124291925f1a26446da31a5178f9483862233b23c0c96a20701f670c\n")
    (root / "unknown_lock.txt").write_text(f"rules-sematic-no-such-distribution==1.0 --hash=sha256:{'0' * 64}\n")
    (root / "BUILD.bazel").write_text("")
    (root / "defs.bzl").write_text(DEFS)
    for package, (data, _) in IMAGE_CASES.items():
        (root / package).mkdir()
        (root / package / "BUILD.bazel").write_text(IMAGE + data + "\n")
        for name, content in {"bin.py": "print('hi')\n", "a.txt": "a\n", "b.txt": "b\n"}.items():
            (root / package / name).write_text(content)
    for package, (build, files, _, _) in CASES.items():
        (root / package).mkdir()
        (root / package / "BUILD.bazel").write_text(LOAD + build)
        for name, content in files.items():
            (root / package / name).parent.mkdir(parents=True, exist_ok=True)
            (root / package / name).write_text(content)
    bazel = Bazel(root)
    bazel.run("run", "@incomplete//:lock")  # flask's files, from the tests' index mirror
    yield bazel
    bazel.shutdown()


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_fails_with_a_clear_message(scratch, case):
    _, _, target, message = CASES[case]
    result = scratch.run("build", "--nobuild", target, check=False)
    assert result.returncode != 0
    assert message in result.stderr, result.stderr[-3000:]


@pytest.mark.parametrize("case", sorted(IMAGE_CASES))
def test_image_of_bad_runfiles(scratch, case):
    _, message = IMAGE_CASES[case]
    result = scratch.run("build", f"//{case}:image", check=False)
    if message is None:
        assert result.returncode == 0, result.stderr[-3000:]
        return
    assert_one_line_error(result, "sematic-layer", message)
    # Nothing half-written: the failed layer left neither blob nor descriptor behind.
    # (Images build in their platform's configuration: look in every output directory.)
    failed = list((scratch.workspace / "bazel-out").glob(f"*/bin/{case}/image.first_party.gzip.layer.*"))
    assert [f.name for f in failed] == ["image.first_party.gzip.layer.json"], "partial output"


def test_image_on_a_base_with_an_unknown_manifest_media_type(scratch):
    result = scratch.run("build", "//unknown_base_media_type:image_on_bad_base", check=False)
    assert_one_line_error(result, "sematic-image", 'unsupported manifest media type "application/vnd.example.unknown+json"')


def test_env_reference_to_a_variable_the_base_lacks(scratch):
    result = scratch.run("build", "//undefined_env_reference:with_env", check=False)
    error = assert_one_line_error(result, "sematic-image")
    assert error.endswith('env["DATA"] refers to $DATA_DIRR, which the base image does not define: set DATA_DIRR '
                          'in env too, or remove the reference'), error


def test_base_whose_config_names_another_python(scratch):
    """A base declared (or wrapped) as Python 3.11 whose config says PYTHON_VERSION=3.9.18."""
    result = scratch.run("build", "//base_config_python:on_it", check=False)
    error = assert_one_line_error(result, "sematic-image")
    assert error.endswith("the base's config says PYTHON_VERSION=3.9.18 but the image's wheels are for Python 3.11: "
                          'set python_version = "3.9" (or use a base with Python 3.11)'), error


@pytest.mark.parametrize("case", sorted(TOOLS_CASES))
def test_tools_cannot_be_obtained(scratch, case):
    env, message = TOOLS_CASES[case]
    # An image target: analysing it needs the tools repository.
    result = scratch.run("build", "--nobuild", "//hundred_thousand_files:image", check=False, env=env)
    assert result.returncode != 0
    assert message in result.stderr, result.stderr[-3000:]


def test_modules_declaring_one_repository_differently(tmp_path):
    """Two modules may both declare a repository of the `sematic` extension only identically."""
    other = tmp_path / "other"
    other.mkdir()
    (other / "BUILD.bazel").write_text("")
    root = tmp_path / "root"
    root.mkdir()
    (root / "BUILD.bazel").write_text("")
    (root / "WORKSPACE.bzlmod").write_text("")
    pin = f'sematic.pull(name = "shared_base", image = "127.0.0.1:5000/base@sha256:{"1" * 64}")'
    root_module = consumer_module("root", pin, ["shared_base"], python_toolchain=False) + (
        f'bazel_dep(name = "other")\nlocal_path_override(module_name = "other", path = "{other}")\n')
    (root / "MODULE.bazel").write_text(root_module)
    bazel = Bazel(root)

    def show_extension(other_pin):
        (other / "MODULE.bazel").write_text(
            'module(name = "other")\n\nbazel_dep(name = "rules_sematic")\n\n'
            'sematic = use_extension("@rules_sematic//:extensions.bzl", "sematic")\n'
            f'{other_pin}\nuse_repo(sematic, "shared_base")\n')
        return bazel.run("mod", "show_extension", "@rules_sematic//:extensions.bzl%sematic", check=False)

    try:
        same = show_extension(pin)
        assert same.returncode == 0, same.stderr[-3000:]
        assert "shared_base" in same.stdout, same.stdout
        different = show_extension(pin.replace("1" * 64, "2" * 64))
        assert different.returncode != 0
        assert 'rules_sematic: repository "shared_base" is declared differently by modules root and other' \
            in different.stderr, different.stderr[-3000:]
    finally:
        bazel.shutdown()


def test_a_workspace_without_base_images_gets_one_line_naming_it(tmp_path):
    """WORKSPACE users who forget base_images() got a toolchain-resolution error per target."""
    (tmp_path / "WORKSPACE").write_text(f'local_repository(name = "rules_sematic", path = "{REPO}")\n')
    (tmp_path / ".bazelrc").write_text("common --noenable_bzlmod\n")
    (tmp_path / "a.txt").write_text("a")
    (tmp_path / "BUILD.bazel").write_text(
        LOAD + 'sematic_layer(name = "layer", files = {"a.txt": "/a.txt"})\n'
        'sematic_layer(name = "other", files = {"a.txt": "/b.txt"})\n')
    bazel = Bazel(tmp_path)
    try:
        result = bazel.run("build", "--nobuild", "//...", check=False)
    finally:
        bazel.shutdown()
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if "no rules_sematic build toolchain" in line]
    assert errors and all("call base_images() or rules_sematic_dependencies()" in e for e in errors), result.stderr[-3000:]
    assert "No matching toolchains found" not in result.stderr, result.stderr[-3000:]


def test_base_images_from_pipeline_bzl_still_works_and_says_where_it_moved(tmp_path):
    """Sematic's pipeline.bzl exported base_images(): WORKSPACE files written for it still load."""
    (tmp_path / "WORKSPACE").write_text(f'local_repository(name = "rules_sematic", path = "{REPO}")\n'
                                        'load("@rules_sematic//:pipeline.bzl", "base_images")\nbase_images()\n')
    (tmp_path / ".bazelrc").write_text("common --noenable_bzlmod\n")
    (tmp_path / "BUILD.bazel").write_text("")
    bazel = Bazel(tmp_path)
    try:
        result = bazel.run("query", "@rules_sematic_python3//image:all")
    finally:
        bazel.shutdown()
    assert "load base_images from @rules_sematic//:repositories.bzl" in result.stderr, result.stderr[-2000:]
