"""The sematic_pipeline macro: images, pushes and launchers of a Sematic pipeline."""

load("@rules_python//python:defs.bzl", "py_binary")
load(":env.bzl", "check_env")
load(":image.bzl", "sematic_image")
load(":index.bzl", "sematic_image_index")
load(":launcher.bzl", "sematic_launcher")
load(":load.bzl", "sematic_load")
load(":platforms.bzl", "DEFAULT_PLATFORM", "IMAGE_PLATFORMS")
load(":push.bzl", "sematic_push")
load(":reference.bzl", "registry_error", "repository_error")

_DEFAULT_KEY = "default"

# Sematic's own default base (its pipeline.bzl uses @sematic-worker-base//image); through
# rules_sematic's alias, so it resolves in bzlmod workspaces that did not use_repo it.
DEFAULT_BASE = Label("//images:sematic_worker_base")
_TAG_FIRST = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_"
_TAG_REST = _TAG_FIRST + ".-"

def tag_error(name, key):
    """Why `<name>_<key>` cannot be a registry tag or `key` a Sematic image key, or None.

    Args:
      name: the pipeline name.
      key: a key of `bases`.

    Returns:
      A one-line message, or None if the key is fine.
    """
    if "::" in key or "##" in key:
        return "sematic_pipeline(%s): base key %r contains '::' or '##', which separate entries of SEMATIC_CONTAINER_IMAGE_URIS: rename the key" % (name, key)
    tag = "%s_%s" % (name, key)
    if not key or len(tag) > 128 or tag[0] not in _TAG_FIRST.elems() or [c for c in tag.elems() if c not in _TAG_REST.elems()]:
        return "sematic_pipeline(%s): base key %r makes the tag %r, which is not a valid registry tag: use letters, digits, '_', '.', '-' (at most 128 characters in all)" % (name, key, tag)
    return None

def _with_manual(tags):
    """`tags` plus `manual`: targets that talk to a registry or a Sematic server when run."""
    tags = list(tags or [])
    return tags if "manual" in tags else tags + ["manual"]

def platforms_error(name, platforms):
    """Why `platforms` cannot be a pipeline's platforms, or None.

    Args:
      name: the pipeline name.
      platforms: the `platforms` argument (None: the default).

    Returns:
      A one-line message, or None.
    """
    if platforms == None:
        return None
    if not platforms:
        return "sematic_pipeline(%s): platforms is empty: list at least one, e.g. [%r]" % (name, DEFAULT_PLATFORM)
    for platform in platforms:
        if platform not in IMAGE_PLATFORMS:
            return "sematic_pipeline(%s): platforms has %r: use %s" % (name, platform, " or ".join(["%r" % p for p in sorted(IMAGE_PLATFORMS)]))
        if len([p for p in platforms if p == platform]) > 1:
            return "sematic_pipeline(%s): platforms lists %r twice" % (name, platform)
    return None

def _data_error(what, data):
    """Why `data` would silently leave files out of the images, or None.

    A glob matches files only: `glob(["models"])` on a directory is empty, and a directory
    named as a label is not something Bazel tracks the files of.
    """
    if type(data) != "list":
        return None  # unset, or a select()
    if not data:
        return "%s: data is empty (a glob that matched nothing? globs match files, not directories): write glob([\"models/**\"]) for a directory's files, or leave data unset" % what
    for entry in data:
        if type(entry) != "string" or entry.startswith("@") or entry.startswith("//"):
            continue
        name = entry[1:] if entry.startswith(":") else entry
        if name and native.glob([name], exclude_directories = 0, allow_empty = True) and not native.glob([name], allow_empty = True) and not native.existing_rule(name):
            return "%s: data has %r, a directory, whose files Bazel does not track: list them with glob([\"%s/**\"]) or a filegroup" % (what, entry, name)
    return None

def _tags_error(what, tags):
    """Why `tags_to_push` has a tag no registry accepts, or None.

    Stamped tags (`{KEY}`) are checked once expanded, when pushing.
    """
    for tag in tags or []:
        if "{" in tag:
            continue
        if not tag or len(tag) > 128 or tag[0] not in _TAG_FIRST.elems() or [c for c in tag.elems() if c not in _TAG_REST.elems()]:
            return "%s: tags_to_push has %r, which is not a valid registry tag: use letters, digits, '_', '.', '-' (at most 128 characters, not starting with '.' or '-')" % (what, tag)
    return None

def bases_error(name, base, bases):
    """Why Sematic's rules reject this `base`/`bases` pair, or None.

    Args:
      name: the pipeline name, for messages.
      base: the default base or None.
      bases: dict of key -> base, or None.

    Returns:
      A one-line message, or None.
    """
    if base == None and bases == None:
        return None
    resolved = dict(bases or {})
    if base != None:
        if _DEFAULT_KEY in resolved and resolved[_DEFAULT_KEY] != base:
            return "sematic_pipeline(%s): the default image is ambiguous: base = %r but bases[\"default\"] = %r; set only one of them" % (name, base, resolved[_DEFAULT_KEY])
        resolved[_DEFAULT_KEY] = base
    if _DEFAULT_KEY not in resolved:
        return "sematic_pipeline(%s): bases has no \"default\" key (Sematic runs the pipeline's driver on it): add bases[\"default\"] or set base" % name
    for key in sorted(resolved):
        error = tag_error(name, key)
        if error:
            return error
    return None

def resolve_bases(name, base, bases):
    """Sematic's rules for `base`/`bases`, without mutating the caller's dict.

    Args:
      name: the pipeline name, for messages.
      base: the default base or None.
      bases: dict of key -> base, or None.

    Returns:
      A new dict of key -> base that has a `default` key; Sematic's worker base when neither
      `base` nor `bases` is set. Fails with bases_error's message on bad input.
    """
    error = bases_error(name, base, bases)
    if error:
        fail(error)
    if base == None and bases == None:
        return {_DEFAULT_KEY: DEFAULT_BASE}
    resolved = dict(bases or {})
    if base != None:
        resolved[_DEFAULT_KEY] = base
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
        tags = None,
        insecure_repository = False,
        image_layers = None,
        main = None,
        compression = "gzip",
        split_large_distributions = True,
        platforms = None,
        python_version = None,
        interpreter = "base",
        ca_certs = None,
        timeout = None,
        jobs = None,
        tags_to_push = None,
        visibility = None):
    """Targets to build, push and launch a Sematic pipeline.

    Generates, for each key of `bases`: `<name>_<key>_image` (an OCI image: the base plus the
    pipeline's code in Python-aware layers, running Sematic's worker) and `<name>_<key>_push`
    (pushes it, tag `<name>_<key>`), `<name>_<key>_load` (loads it into the local podman,
    containerd or Docker as `<registry>/<repository>:<name>_<key>`, sending only the layers the
    runtime lacks); and `<name>` (pushes every image in parallel, then runs the
    launch script with SEMATIC_CONTAINER_IMAGE_URIS), `<name>_binary` (runs it with the built
    images' digests, without pushing), `<name>_local` (runs it with no image: local execution).

    The launcher's other flags go before a second `--`:
    `bazel run //:x -- --min-rate 1000 -- ARGS`; `bazel run //:x -- --help` lists them.

    Args:
      name: pipeline name; the launch script is `<name>.py` unless `main` is set.
      deps: py_library dependencies of the pipeline, including `sematic` itself.
      registry: registry host[:port] the images are pushed to, e.g. `ghcr.io` or `127.0.0.1:5000`.
      repository: repository in the registry, e.g. `acme/pipelines`; every key's image goes there.
      base: base image of the `default` key: `bases = {"default": base}`. With neither `base`
        nor `bases`: Sematic's worker base, `@rules_sematic//images:sematic_worker_base`.
      bases: dict of key -> base image, for functions with `@sematic.func(base_image_tag = key)`.
        Must contain `default` unless `base` is set; if both are set they must agree.
      env: environment variables of the images, merged over the base's (`$VAR` expands against
        the base's environment).
      data: data dependencies of the launch script and the images.
      tags: tags of every generated target. The images and binaries are built by
        `bazel build //...` (so CI catches a broken pipeline); the push and launch targets
        are always `manual` as well. `["manual"]` keeps `//...` away from all of them.
      insecure_repository: allow plain HTTP and unverified TLS for `registry`.
      image_layers: dependencies to put in image layers of their own, e.g. a large framework.
      main: the launch script, if not `<name>.py`.
      compression: layer compression, `gzip` (default), `zstd` or `estargz` (gzip layers a
        stargz snapshotter pulls lazily, the interpreter and first-party layers fetched first;
        other runtimes pull them as plain gzip; needs an OCI base).
      split_large_distributions: split the layer of a distribution far larger than its
        largest file (torch, nvidia-cudnn…) into a few layers a push uploads in parallel
        (default True; see sematic_image).
      platforms: platforms of every key's image, e.g. `["linux/amd64", "linux/arm64"]`
        (default: `["linux/amd64"]`). With several, `<name>_<key>_image` is an image index
        over `<name>_<key>_image_<os>_<arch>`, each built for its platform: Python wheels for
        its CPU, the matching image of a multi-platform base.
      python_version: `major.minor` Python of the images, e.g. `3.11`: the version whose
        wheels the requirement() repository gives. Needed only when that repository serves
        several; every base must have it.
      interpreter: `base` (default): the worker runs on the base image's Python. `toolchain`:
        on the Python toolchain resolved for each platform (a hermetic one ships in the image).
      ca_certs: PEM files of CAs to trust for `registry` (a private CA), for every push.
      timeout: seconds the launcher waits for a connection or an answer (default 60).
      jobs: parallel uploads of the launcher (default 4).
      tags_to_push: more tags for every key's image, after `<name>_<key>`, e.g.
        `["{STABLE_GIT_COMMIT}"]`: `{KEY}` is a workspace status value, expanded when the
        push (or the launcher) runs under `--stamp` (see `sematic_push`).
      visibility: visibility of the generated targets.
    """
    resolved = resolve_bases(name, base, bases)
    what = "sematic_pipeline(%s)" % name
    check_env(what, env)
    error = registry_error(what, registry) or repository_error(what, registry, repository) or _data_error(what, data) or _tags_error(what, tags_to_push)
    if error:
        fail(error)
    main = main or name + ".py"
    if ":" not in main and not native.glob([main], allow_empty = True):
        fail("sematic_pipeline(%s): launch script %s not found in package //%s: create it or set main = \"...\"" % (name, main, native.package_name()))
    common = {"tags": tags or [], "visibility": visibility}
    manual = {"tags": _with_manual(tags), "visibility": visibility}

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

    error = platforms_error(name, platforms)
    if error:
        fail(error)
    platforms = list(platforms or [DEFAULT_PLATFORM])
    images = {}
    for key in sorted(resolved):
        image = "%s_%s_image" % (name, key)
        images[":" + image] = key
        image_kwargs = dict(
            base = resolved[key],
            binary = ":%s_worker" % name,
            compression = compression,
            env = env,
            split_large_distributions = split_large_distributions,
            image_layers = image_layers,
            interpreter = interpreter,
            python_version = python_version,
            requires_sematic = True,
            **common
        )
        if len(platforms) == 1:
            sematic_image(name = image, platform = platforms[0], **image_kwargs)
        else:
            per_platform = ["%s_%s" % (image, platform.replace("/", "_")) for platform in platforms]
            for platform_image, platform in zip(per_platform, platforms):
                sematic_image(name = platform_image, platform = platform, **image_kwargs)
            sematic_image_index(name = image, images = [":" + i for i in per_platform], **common)
        sematic_push(
            name = "%s_%s_push" % (name, key),
            image = ":" + image,
            ca_certs = ca_certs,
            insecure = insecure_repository,
            registry = registry,
            repository = repository,
            tags_to_push = ["%s_%s" % (name, key)] + list(tags_to_push or []),
            **manual
        )

        # Named as the push tags it, so a local run and a cluster run name the same image.
        sematic_load(
            name = "%s_%s_load" % (name, key),
            image = ":" + image,
            repo_tag = "%s/%s:%s_%s" % (registry, repository, name, key),
            **manual
        )

    launcher = {
        "launch": ":%s_script" % name,
        "pushes": {":%s_%s_push" % (name, key): key for key in images.values()},
        "jobs": jobs or 0,
        "timeout": timeout or 0,
    }
    sematic_launcher(name = name, push = True, **dict(launcher, **manual))
    sematic_launcher(name = name + "_binary", push = False, **dict(launcher, **manual))
    sematic_launcher(name = name + "_local", launch = ":%s_script" % name, **manual)
