"""Analysis tests of sematic_push's also_repositories: each becomes --also-repository in the
registry, and a bad one fails the build."""

load("@bazel_skylib//lib:unittest.bzl", "analysistest", "asserts")

def _also_repositories_test_impl(ctx):
    env = analysistest.begin(ctx)
    wrappers = [a.content for a in analysistest.target_actions(env) if a.mnemonic == "FileWrite"]
    asserts.equals(env, 1, len(wrappers), "the push target writes one wrapper")
    for also in ["registry.invalid/release/app", "registry.invalid/mirror/app"]:
        asserts.true(env, "'--also-repository' '%s'" % also in wrappers[0], "%s not passed: %s" % (also, wrappers[0]))
    return analysistest.end(env)

also_repositories_test = analysistest.make(_also_repositories_test_impl)

def _bad_also_repository_test_impl(ctx):
    env = analysistest.begin(ctx)
    asserts.expect_failure(env, "also_repositories: repository \"Release/App\" is not a valid OCI repository name")
    return analysistest.end(env)

bad_also_repository_test = analysistest.make(_bad_also_repository_test_impl, expect_failure = True)
