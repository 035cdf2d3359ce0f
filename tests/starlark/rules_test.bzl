"""Unit tests of the pure Starlark helpers behind sematic_pipeline and sematic_image."""

load("@bazel_skylib//lib:unittest.bzl", "asserts", "unittest")
load("//private:image.bzl", "image_env")
load("//private:pipeline.bzl", "DEFAULT_BASE", "resolve_bases")
load("//private:runfiles_layers.bzl", "THIRD_PARTY_BUCKETS", "bucket", "distribution_key")

def _resolve_bases_test(ctx):
    env = unittest.begin(ctx)
    asserts.equals(env, {"default": DEFAULT_BASE}, resolve_bases("p", None, None))
    asserts.equals(env, {"default": "//b:base"}, resolve_bases("p", "//b:base", None))

    callers = {"cuda": "//b:cuda"}
    resolved = resolve_bases("p", "//b:base", callers)
    asserts.equals(env, {"cuda": "//b:cuda", "default": "//b:base"}, resolved)
    asserts.equals(env, {"cuda": "//b:cuda"}, callers, "the caller's dict must not change")

    same = {"default": "//b:base"}
    asserts.equals(env, same, resolve_bases("p", "//b:base", same))
    asserts.equals(env, {"default": "//b:x", "gpu.v2-a_b": "//b:y"}, resolve_bases("p", None, {"default": "//b:x", "gpu.v2-a_b": "//b:y"}))
    return unittest.end(env)

resolve_bases_test = unittest.make(_resolve_bases_test)

def _image_env_test(ctx):
    env = unittest.begin(ctx)
    asserts.equals(
        env,
        {
            "BAZEL_BUILT_IMAGE": "1",
            "MODE": "prod",
            "PATH": "/sematic/bin:$PATH",
            "RULES_SEMATIC_PYTHON": "/sematic/python3",
            "RULES_SEMATIC_PYTHON_VERSION": "3.11",
            "RULES_SEMATIC_WORKER": "/app/p/w",
        },
        image_env({"MODE": "prod"}, "/app/p/w", "/sematic/python3", "3.11"),
    )
    asserts.false(env, "RULES_SEMATIC_PYTHON_VERSION" in image_env({}, "/w", "/py", None), "no version, no check")

    # The user's PATH is kept, with /sematic/bin put first (Sematic needs it there).
    asserts.equals(env, "/sematic/bin:/opt/conda/bin:$PATH", image_env({"PATH": "/opt/conda/bin:$PATH"}, "/w", "/py", None)["PATH"])
    asserts.equals(env, "/sematic/bin:/x", image_env({"PATH": "/sematic/bin:/x"}, "/w", "/py", None)["PATH"])

    # The contract wins over the user's values.
    asserts.equals(env, "1", image_env({"BAZEL_BUILT_IMAGE": "0"}, "/w", "/py", None)["BAZEL_BUILT_IMAGE"])
    return unittest.end(env)

image_env_test = unittest.make(_image_env_test)

def _layer_buckets_test(ctx):
    env = unittest.begin(ctx)

    # rules_sematic's and rules_python's requirement repositories: one distribution each.
    asserts.equals(env, "pypi__sematic_0_41_0_292a48b5", distribution_key("pypi__sematic_0_41_0_292a48b5/site/sematic/__init__.py"))
    asserts.equals(env, "rules_python~~pip~pypi_six", distribution_key("rules_python~~pip~pypi_six/site-packages/six.py"))
    asserts.equals(env, "rules_sematic~", distribution_key("rules_sematic~/private/worker/worker.py"))

    # Buckets must not depend on the machine: Starlark's string hash is Java's String.hashCode.
    asserts.equals(env, 5, bucket("pypi/site/sematic"))
    asserts.equals(env, 8, THIRD_PARTY_BUCKETS)
    return unittest.end(env)

layer_buckets_test = unittest.make(_layer_buckets_test)

def rules_test_suite(name):
    unittest.suite(
        name,
        resolve_bases_test,
        image_env_test,
        layer_buckets_test,
    )
