"""The sematic_pipeline macro: images, pushes and launchers of a Sematic pipeline."""

load("@rules_python//python:defs.bzl", "py_binary")
load(":image.bzl", "sematic_image")
load(":launcher.bzl", "sematic_launcher")
load(":push.bzl", "sematic_push")

_DEFAULT_KEY = "default"
_TAG_FIRST = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_"
_TAG_REST = _TAG_FIRST + ".-"

def _check_tag(name, key):
    """Fails unless `<name>_<key>` is a valid registry tag and `key` is safe in Sematic's env var."""
    if "::" in key or "##" in key:
        fail("sematic_pipeline(%s): base key %r contains '::' or '##', which separate entries of SEMATIC_CONTAINER_IMAGE_URIS: rename the key" % (name, key))
    tag = "%s_%s" % (name, key)
    if not key or len(tag) > 128 or tag[0] not in _TAG_FIRST.elems() or [c for c in tag.elems() if c not in _TAG_REST.elems()]:
        fail("sematic_pipeline(%s): base key %r makes the tag %r, which is not a valid registry tag: use letters, digits, '_', '.', '-' (at most 128 characters in all)" % (name, key, tag))

def resolve_bases(name, base, bases):
    """Sematic's rules for `base`/`bases`, without mutating the caller's dict.

    Args:
      name: the pipeline name, for messages.
      base: the default base or None.
      bases: dict of key -> base, or None.

    Returns:
      A new dict of key -> base that has a `default` key.
    """
    resolved = dict(bases or {})
    if base != None:
        if _DEFAULT_KEY in resolved and resolved[_DEFAULT_KEY] != base:
            fail("sematic_pipeline(%s): the default image is ambiguous: base = %r but bases[\"default\"] = %r; set only one of them" % (name, base, resolved[_DEFAULT_KEY]))
        resolved[_DEFAULT_KEY] = base
    if not resolved:
        fail("sematic_pipeline(%s): no base image: set base = \"@sematic-worker-base//image\" (from base_images()) or bases = {\"default\": ..., \"cuda\": ...}" % name)
    if _DEFAULT_KEY not in resolved:
        fail("sematic_pipeline(%s): bases has no \"default\" key (Sematic runs the pipeline's driver on it): add bases[\"default\"] or set base" % name)
    for key in resolved:
        _check_tag(name, key)
    return resolved

def sematic_pipeline(
        name,
        deps,
        registry,
        repository,
        base = None,
        bases = None,
        env = None,
        data = None,
        tags = ["manual"],
        insecure_repository = False,
        image_layers = None,
        main = None,
        compression = "gzip",
        platform = "linux/amd64",
        visibility = None):
    """Targets to build, push and launch a Sematic pipeline.

    Generates, for each key of `bases`: `<name>_<key>_image` (an OCI image: the base plus the
    pipeline's code in Python-aware layers, running Sematic's worker) and `<name>_<key>_push`
    (pushes it, tag `<name>_<key>`); and `<name>` (pushes every image in parallel, then runs the
    launch script with SEMATIC_CONTAINER_IMAGE_URIS), `<name>_binary` (runs it with the built
    images' digests, without pushing), `<name>_local` (runs it with no image: local execution).

    Args:
      name: pipeline name; the launch script is `<name>.py` unless `main` is set.
      deps: py_library dependencies of the pipeline, including `sematic` itself.
      registry: registry host[:port] the images are pushed to, e.g. `ghcr.io` or `127.0.0.1:5000`.
      repository: repository in the registry, e.g. `acme/pipelines`; every key's image goes there.
      base: base image of the `default` key: `bases = {"default": base}`.
      bases: dict of key -> base image, for functions with `@sematic.func(base_image_tag = key)`.
        Must contain `default` unless `base` is set; if both are set they must agree.
      env: environment variables of the images, merged over the base's (`$VAR` expands against
        the base's environment).
      data: data dependencies of the launch script and the images.
      tags: tags of every generated target (default `["manual"]`, so `//...` does not push).
      insecure_repository: allow plain HTTP and unverified TLS for `registry`.
      image_layers: dependencies to put in image layers of their own, e.g. a large framework.
      main: the launch script, if not `<name>.py`.
      compression: layer compression, `gzip` (default) or `zstd`.
      platform: image platform, taken from bases that are image indexes.
      visibility: visibility of the generated targets.
    """
    resolved = resolve_bases(name, base, bases)
    main = main or name + ".py"
    if ":" not in main and not native.glob([main], allow_empty = True):
        fail("sematic_pipeline(%s): launch script %s not found in package //%s: create it or set main = \"...\"" % (name, main, native.package_name()))
    common = {"tags": tags, "visibility": visibility}

    # Both binaries set legacy_create_init = False: Bazel's generated __init__.py files would
    # turn namespace packages shared by several distributions (`google.*`) into regular ones.
    for binary, source in [(name + "_script", main), (name + "_worker", Label("//private/worker:worker.py"))]:
        py_binary(
            name = binary,
            srcs = [source],
            main = source,
            deps = deps,
            data = data,
            legacy_create_init = False,
            **common
        )

    images = {}
    for key in sorted(resolved):
        image = "%s_%s_image" % (name, key)
        images[":" + image] = key
        sematic_image(
            name = image,
            base = resolved[key],
            binary = ":%s_worker" % name,
            compression = compression,
            env = env,
            image_layers = image_layers,
            platform = platform,
            **common
        )
        sematic_push(
            name = "%s_%s_push" % (name, key),
            image = ":" + image,
            insecure = insecure_repository,
            registry = registry,
            repository = repository,
            tags_to_push = ["%s_%s" % (name, key)],
            **common
        )

    launcher = {
        "images": images,
        "insecure": insecure_repository,
        "launch": ":%s_script" % name,
        "registry": registry,
        "repository": repository,
        "tag_prefix": name,
    }
    sematic_launcher(name = name, push = True, **dict(launcher, **common))
    sematic_launcher(name = name + "_binary", push = False, **dict(launcher, **common))
    sematic_launcher(name = name + "_local", launch = ":%s_script" % name, **common)
