"""Unit tests of the pure Starlark helpers behind sematic_pipeline and sematic_image."""

load("@bazel_skylib//lib:unittest.bzl", "asserts", "unittest")
load("//private:env.bzl", "env_error", "image_env")
load("//private:piece.bzl", "MAX_PARTS", "PART_BYTES", "split_parts")
load("//private:pipeline.bzl", "DEFAULT_BASE", "bases_error", "platforms_error", "resolve_bases", "tag_error")
load("//private:reference.bzl", "registry_error", "repository_error")
load("//private:third_party_layers.bzl", "MAX_OWN_LAYERS", "MAX_SPLIT_LAYERS", "OWN_LAYER_BYTES", "THIRD_PARTY_BUCKETS", "bucket", "plan_third_party")
load("//private/pypi:lock.bzl", "parse_lock")
load("//tests/pypi:tricky_lock.bzl", "TRICKY_LOCK_LINES", "TRICKY_PINS")

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

def _macro_errors_test(ctx):
    """The messages sematic_pipeline fails with, checked without loading a failing package."""
    env = unittest.begin(ctx)
    asserts.equals(env, None, bases_error("p", None, None))
    asserts.equals(env, "sematic_pipeline(p): the default image is ambiguous: base = \":a\" but bases[\"default\"] = \":b\"; set only one of them", bases_error("p", ":a", {"default": ":b"}))
    asserts.equals(env, "sematic_pipeline(p): bases has no \"default\" key (Sematic runs the pipeline's driver on it): add bases[\"default\"] or set base", bases_error("p", None, {"cuda": ":a"}))
    asserts.equals(env, "sematic_pipeline(p): base key \"gpu::x\" contains '::' or '##', which separate entries of SEMATIC_CONTAINER_IMAGE_URIS: rename the key", bases_error("p", ":a", {"gpu::x": ":b"}))
    asserts.equals(env, None, tag_error("p", "gpu.v2-a_b"))
    asserts.true(env, "which is not a valid registry tag" in tag_error("p", "gpu/1"))
    asserts.true(env, "at most 128 characters" in tag_error("p", "k" * 127))
    asserts.equals(env, None, platforms_error("p", None))
    asserts.equals(env, None, platforms_error("p", ["linux/amd64", "linux/arm64"]))
    asserts.equals(env, "sematic_pipeline(p): platforms is empty: list at least one, e.g. [\"linux/amd64\"]", platforms_error("p", []))
    asserts.equals(env, "sematic_pipeline(p): platforms lists \"linux/arm64\" twice", platforms_error("p", ["linux/arm64", "linux/arm64"]))
    asserts.true(env, platforms_error("p", ["linux/s390x"]).startswith("sematic_pipeline(p): platforms has \"linux/s390x\": use "))
    asserts.equals(env, None, env_error("o", {"PATH": "/opt/bin:$PATH", "A": "1"}))
    asserts.equals(env, None, env_error("o", {"PATH": "/opt/bin:/usr/bin:/bin"}))
    asserts.equals(env, "o: env[\"A\"] = 1 is not a string: write \"1\"", env_error("o", {"A": 1}))
    asserts.equals(env, "o: env[\"PATH\"] = \"/opt/bin\" drops the base image's PATH (python3 and /usr/bin would be gone): write \"/opt/bin:$PATH\"", env_error("o", {"PATH": "/opt/bin"}))
    return unittest.end(env)

macro_errors_test = unittest.make(_macro_errors_test)

def _reference_errors_test(ctx):
    """Registries and repositories that would fail only at push fail the build."""
    env = unittest.begin(ctx)
    for registry in ["ghcr.io", "127.0.0.1:5000", "localhost:5000", "registry-1.docker.io", "[::1]:5000", "[fd00::2]", "my-registry.internal:443"]:
        asserts.equals(env, None, registry_error("p", registry), registry)
    asserts.equals(env, "p: registry \"https://ghcr.io/acme\" has a scheme: write the host only, registry = \"ghcr.io\" (TLS is the default; insecure_repository = True allows plain HTTP)", registry_error("p", "https://ghcr.io/acme"))
    asserts.equals(env, "p: registry \"ghcr.io/acme\" has a path: the registry is host[:port] only; write registry = \"ghcr.io\" and put \"acme\" at the start of repository", registry_error("p", "ghcr.io/acme"))
    for registry, problem in [("ghcr.io:0", "port \"0\""), ("host:port", "port \"port\""), ("", "the host is empty"), ("a..b", "not a host name"), ("-a.io", "not a host name"), ("a_b.io", "not a host name"), ("[::1", "IPv6")]:
        asserts.true(env, problem in (registry_error("p", registry) or ""), registry)
    for repository in ["acme/pipelines", "a", "a0/b.c/d_e/f__g/h---i", "library/python"]:
        asserts.equals(env, None, repository_error("p", "ghcr.io", repository), repository)
    asserts.equals(env, "p: repository \"Acme/Pipes\" is not a valid OCI repository name (\"Acme\" has uppercase letters): use lowercase letters and digits, separated by '.', '_', '__' or '-', in components joined by '/', e.g. \"acme/pipes\"", repository_error("p", "ghcr.io", "Acme/Pipes"))
    for repository, problem in [("acme/Pipes", "uppercase"), ("acme//p", "empty component"), ("/acme", "empty component"), ("acme/", "empty component"), ("a._b", "separator \"._\""), ("a___b", "separator \"___\""), ("a b", "has \" \""), ("a:b", "has \":\""), ("-a", "must start")]:
        asserts.true(env, problem in (repository_error("p", "r.io", repository) or ""), repository)
    asserts.true(env, "longer than 255 characters" in repository_error("p", "r.io", "a" * 251))
    return unittest.end(env)

reference_errors_test = unittest.make(_reference_errors_test)

def _wheel(name, version, size, parts = 1):
    key = "%s-%s-000000000000" % (name, version)
    split = {"gzip": ["part"] * parts} if parts > 1 else {"gzip": []}
    return struct(distribution = name, piece = struct(key = key, size = size, parts = split))

def _layer_buckets_test(ctx):
    env = unittest.begin(ctx)

    # Buckets must not depend on the machine: Starlark's string hash is Java's String.hashCode.
    asserts.equals(env, 8, bucket("sematic"))
    asserts.equals(env, 32, THIRD_PARTY_BUCKETS)

    big = _wheel("torch", "2.5.0", OWN_LAYER_BYTES)
    small = [_wheel("six", "1.17.0", 1000), _wheel("pyyaml", "6.0.3", 2000000)]
    plan = plan_third_party([small[0], big, small[1]], [])
    asserts.equals(env, ["torch-2.5.0-000000000000"], [w.piece.key for w in plan.own])
    asserts.equals(env, [(bucket("six"), [small[0]]), (bucket("pyyaml"), [small[1]])], plan.buckets)

    # A bump keeps a distribution in its bucket; image_layers makes a small one a layer.
    bumped = plan_third_party([_wheel("pyyaml", "6.0.4", 2000000)], [])
    asserts.equals(env, bucket("pyyaml"), bumped.buckets[0][0])
    forced = plan_third_party(small, ["six-1.17.0-000000000000"])
    asserts.equals(env, ["six-1.17.0-000000000000"], [w.piece.key for w in forced.own])

    # At most MAX_OWN_LAYERS large distributions get layers of their own, the largest.
    many = [_wheel("big%d" % i, "1", OWN_LAYER_BYTES + i) for i in range(MAX_OWN_LAYERS + 3)]
    capped = plan_third_party(many, [])
    asserts.equals(env, MAX_OWN_LAYERS, len(capped.own))
    asserts.false(env, "big0-1-000000000000" in [w.piece.key for w in capped.own])
    return unittest.end(env)

layer_buckets_test = unittest.make(_layer_buckets_test)

def _split_layers_test(ctx):
    env = unittest.begin(ctx)
    mib = 1024 * 1024

    # As many parts as the size holds, rounded, a part being the larger of PART_BYTES and the
    # largest file (torch 2.5: 1762 MB, libtorch_cuda.so 900 MB; nvidia-cufft: 293 MB, one
    # library of 292.9 MB), never more than MAX_PARTS.
    asserts.equals(env, 2, split_parts(1762 * 1000 * 1000, 900 * 1000 * 1000))
    asserts.equals(env, 1, split_parts(293 * 1000 * 1000, 292900 * 1000))
    asserts.equals(env, 1, split_parts(PART_BYTES * 3 // 2 - 1, mib))
    asserts.equals(env, 2, split_parts(PART_BYTES * 3 // 2, mib))
    asserts.equals(env, MAX_PARTS, split_parts(100 * PART_BYTES, mib))

    # Split only when asked, largest first, within MAX_SPLIT_LAYERS more layers.
    huge = [_wheel("huge%d" % i, "1", (1000 - i) * mib, parts = 4) for i in range(MAX_SPLIT_LAYERS // 3 + 1)]
    whole = _wheel("whole", "1", 999 * mib)
    asserts.equals(env, {}, plan_third_party(huge + [whole], []).split)
    plan = plan_third_party(huge + [whole], [], split = True)
    expected = {w.piece.key: True for w in huge[:MAX_SPLIT_LAYERS // 3]}
    asserts.equals(env, expected, plan.split)
    return unittest.end(env)

split_layers_test = unittest.make(_split_layers_test)

def _lock_parser_test(ctx):
    """lock.bzl reads tricky_lock.bzl as targets.py and fill_test_caches.py do (targets_test.py)."""
    env = unittest.begin(ctx)
    pins, problem = parse_lock("\n".join(TRICKY_LOCK_LINES) + "\n", "//:lock.txt")
    asserts.equals(env, None, problem)
    asserts.equals(env, TRICKY_PINS, {pin.name + "==" + pin.version: sorted(pin.hashes) for pin in pins.values()})
    return unittest.end(env)

lock_parser_test = unittest.make(_lock_parser_test)

def rules_test_suite(name):
    unittest.suite(
        name,
        resolve_bases_test,
        image_env_test,
        macro_errors_test,
        reference_errors_test,
        layer_buckets_test,
        split_layers_test,
        lock_parser_test,
    )
