"""Analysis tests of the rule-level fail()s a BUILD file can trigger: each target below is
written the wrong way on purpose (tagged manual, so only its test analyses it) and its test
asserts the one-line message.

Not here: the fail()s of macros (sematic_pipeline's, in private/pipeline.bzl, run at loading,
before any analysis test can observe them: their messages are tested through the *_error
functions in rules_test.bzl), those of repository rules and module extensions (pull_repo.bzl,
tools_repo.bzl, debian/, pypi/: they run at fetch time), oci_platform's (platforms.bzl: every
rule calling it sets the target platform from its `platform` attribute, whose values are the
supported ones), the toolchains' (toolchains.bzl: a test can add toolchains, not take away the
ones rules_sematic registers; a target platform with another CPU did not make the run toolchain
missing either), image.bzl's wheel Python version check (it needs a requirements repository:
tests/e2e/test_platforms.py covers it) and image.bzl's missing Python toolchain (this
workspace registers one for both image platforms: an arm64 image with interpreter =
"toolchain" analyses without error).
"""

load("@bazel_skylib//lib:unittest.bzl", "analysistest", "asserts")
load("@rules_python//python:defs.bzl", "py_binary", "py_library")
load("//private:base.bzl", "sematic_base", "sematic_base_image")
load("//private:image.bzl", "sematic_image")
load("//private:index.bzl", "sematic_image_index")
load("//private:layer.bzl", "sematic_layer")
load("//private:push.bzl", "sematic_push")
load(":toolchains_test.bzl", "WITH_FAKE_TOOLCHAINS")

def _failure_test_impl(ctx):
    env = analysistest.begin(ctx)
    asserts.expect_failure(env, ctx.attr.message)
    return analysistest.end(env)

_ATTRS = {"message": attr.string(mandatory = True, doc = "What the failure must say.")}

failure_test = analysistest.make(
    _failure_test_impl,
    expect_failure = True,
    attrs = _ATTRS,
    config_settings = WITH_FAKE_TOOLCHAINS,
)

def _targets():
    """The wrongly written targets, and the helpers they use."""
    manual = ["manual"]
    native.filegroup(name = "two_files", srcs = ["fake_image.sh", "fake_index.sh"], tags = manual)
    py_binary(name = "worker", srcs = ["worker.py"], tags = manual)
    py_library(name = "unused", srcs = ["unused.py"], tags = manual)
    sematic_base(name = "amd64_only", index = "index.json", layout = ["index.json"], platforms = ["linux/amd64"], tags = manual)
    sematic_base_image(name = "python_base", python_interpreter = "/usr/bin/python3", python_version = "3.11", tags = manual)
    sematic_base_image(name = "python_base_arm64", platform = "linux/arm64", python_interpreter = "/usr/bin/python3", tags = manual)
    sematic_base_image(name = "python_base_again", python_interpreter = "/usr/bin/python3", tags = manual)
    sematic_base_image(name = "pythonless_base", tags = manual)
    sematic_image_index(name = "both_platforms", images = [":python_base", ":python_base_arm64"], tags = manual)

    # The targets that fail.
    sematic_base_image(name = "files_as_base", base = ":two_files", tags = manual)
    sematic_base_image(name = "arm64_on_amd64_only", base = ":amd64_only", platform = "linux/arm64", tags = manual)
    sematic_image_index(name = "index_of_index", images = [":both_platforms"], tags = manual)
    sematic_image_index(name = "twice_amd64", images = [":python_base", ":python_base_again"], tags = manual)
    sematic_layer(name = "two_files_as_one", files = {":two_files": "/x"}, tags = manual)
    sematic_push(name = "registry_with_scheme", image = ":python_base", registry = "https://ghcr.io/acme", repository = "p", tags = manual)
    sematic_image(name = "path_dropped", base = ":python_base", binary = ":worker", env = {"PATH": "/opt/bin"}, tags = manual)
    sematic_image(name = "without_sematic", base = ":python_base", binary = ":worker", requires_sematic = True, tags = manual)
    sematic_image(name = "unknown_python", base = ":pythonless_base", binary = ":worker", tags = manual)
    sematic_image(name = "foreign_image_layer", base = ":python_base", binary = ":worker", image_layers = [":unused"], tags = manual)

def failure_test_suite(name):
    """The targets that fail and a test per target, in one test_suite.

    Args:
      name: the test_suite's name.
    """
    _targets()
    here = "//" + native.package_name()
    tests = {
        "arm64_on_amd64_only": "%s:arm64_on_amd64_only: base %s:amd64_only has no linux/arm64 image (it has linux/amd64): use a base that has one" % (here, here),
        "files_as_base": "base %s:two_files is not an image: use a rules_sematic base" % here,
        "foreign_image_layer": "%s:foreign_image_layer: image_layers has %s:unused, which is not among the dependencies of %s:worker" % (here, here, here),
        "index_of_index": "%s:index_of_index: %s:both_platforms is already a multi-platform image: list single-platform images" % (here, here),
        "path_dropped": "%s:path_dropped: env[\"PATH\"] = \"/opt/bin\" drops the base image's PATH" % here,
        "registry_with_scheme": "%s:registry_with_scheme: registry \"https://ghcr.io/acme\" has a scheme" % here,
        "twice_amd64": "%s:twice_amd64: two images are for linux/amd64: list one image per platform" % here,
        "two_files_as_one": "sematic_layer: %s:two_files must be exactly one file, not 2" % here,
        "unknown_python": "%s:unknown_python: the base does not say which Python it has" % here,
        "without_sematic": "%s:without_sematic: the pipeline's deps do not bring the sematic package" % here,
    }
    for target, message in tests.items():
        failure_test(name = target + "_fails_test", target_under_test = ":" + target, message = message)
    native.test_suite(name = name, tests = [":%s_fails_test" % t for t in sorted(tests)])
