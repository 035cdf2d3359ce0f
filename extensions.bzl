"""bzlmod module extension of rules_sematic.

    sematic = use_extension("@rules_sematic//:extensions.bzl", "sematic")
    sematic.base_images()                      # @sematic-worker-base, @sematic-worker-cuda, ...
    sematic.pull(name = "my_base", image = "ghcr.io/acme/base@sha256:…")
    sematic.debian_image(name = "my_debian", packages = ["python3"], lock = "//:my_debian.lock.json")
    sematic.requirements(name = "pypi", requirements_lock = "//:requirements_lock.txt", python_version = "3.11")
    use_repo(sematic, "sematic-worker-base", "my_base", "my_debian", "pypi")
"""

load("//images:bases.bzl", "DEBIAN_BASES", "SEMATIC_BASES")
load("//private:pull_repo.bzl", "PULL_ATTRS", "sematic_pull")
load("//private:toolchains_repo.bzl", "HOST_TOOLS_REPOSITORY", "prebuilt_tools_repository", "sematic_toolchains")
load("//private:tools_repo.bzl", "prebuilt_archives", "sematic_prebuilt_tools", "sematic_tools")
load("//private/debian:repositories.bzl", "DEBIAN_IMAGE_ATTRS", "debian_image")
load("//private/pypi:pip.bzl", "pip_repository")
load("//private/pypi:requirements.bzl", "REQUIREMENTS_ATTRS", "SETTINGS", "declare_hub")

def _named(attrs):
    return dict(attrs, name = attr.string(mandatory = True, doc = "Repository name."))

_REPOSITORY_TAGS = {
    "debian_image": (debian_image, DEBIAN_IMAGE_ATTRS),
    "pull": (sematic_pull, PULL_ATTRS),
}

def _requirements_hubs(module):
    """The requirements hubs a module declares.

    Tags of one name serve one Python version each and must agree on everything else.

    Args:
      module: a bazel_module.

    Returns:
      dict of name -> hub settings, with `locks`: Python version -> lock Label.
    """
    hubs = {}
    for tag in module.tags.requirements:
        settings = {key: getattr(tag, key) for key in SETTINGS}
        hub = hubs.setdefault(tag.name, {"locks": {}, "settings": settings})
        if hub["settings"] != settings:
            fail("sematic.requirements(%s): the tags of one name must agree on %s: they differ in module %s" % (tag.name, ", ".join(SETTINGS), module.name))
        if tag.python_version in hub["locks"]:
            fail("sematic.requirements(%s): Python %s is declared twice in module %s: one lock per python_version" % (tag.name, tag.python_version or "(the host's)", module.name))
        hub["locks"][tag.python_version] = tag.requirements_lock
    return hubs

def _sematic_impl(mctx):
    declared = {}

    def declare(module, rule, name, kwargs):
        if name in declared:
            if declared[name][1] != kwargs:
                fail("rules_sematic: repository %r is declared differently by modules %s and %s" % (name, declared[name][0], module.name))
            return
        declared[name] = (module.name, kwargs)
        rule(name = name, **kwargs)

    def requirements_hub(name, locks, settings):
        declare_hub(mctx, name, locks, settings)

    prebuilt_dir = ""
    for module in mctx.modules:
        if module.is_root:
            for tag in module.tags.tools:
                prebuilt_dir = tag.prebuilt_dir
    sematic_tools(name = HOST_TOOLS_REPOSITORY, prebuilt_dir = prebuilt_dir)
    for platform in prebuilt_archives():
        sematic_prebuilt_tools(name = prebuilt_tools_repository(platform), platform = platform)
    sematic_toolchains(name = "rules_sematic_toolchains")
    pip_repository()

    for module in mctx.modules:
        if module.tags.base_images:
            for name, kwargs in SEMATIC_BASES.items():
                declare(module, sematic_pull, name, kwargs)
            for name, kwargs in DEBIAN_BASES.items():
                declare(module, debian_image, name, kwargs)
        for tag_name, (rule, attrs) in _REPOSITORY_TAGS.items():
            for tag in getattr(module.tags, tag_name):
                declare(module, rule, tag.name, {key: getattr(tag, key) for key in attrs})
        for name, hub in _requirements_hubs(module).items():
            declare(module, requirements_hub, name, hub)
    return _metadata(mctx)

# What rules_sematic's own MODULE.bazel imports besides the bases: its tools and toolchains.
_OWN_REPOSITORIES = [HOST_TOOLS_REPOSITORY, "rules_sematic_pip", "rules_sematic_toolchains"]

def _metadata(mctx):
    """The root module's repositories, for `bazel mod tidy`.

    The extension is reproducible (its repositories follow from the tags and the files they
    name), so the lockfile need not record it.
    """
    direct, dev = [], []
    for module in mctx.modules:
        if not module.is_root:
            continue
        if module.name == "rules_sematic":
            direct += _OWN_REPOSITORIES
        for tag in module.tags.base_images:
            (dev if mctx.is_dev_dependency(tag) else direct).extend(list(SEMATIC_BASES) + list(DEBIAN_BASES))
        for tag_name in ["requirements"] + list(_REPOSITORY_TAGS):
            for tag in getattr(module.tags, tag_name):
                (dev if mctx.is_dev_dependency(tag) else direct).append(tag.name)
    dev = [name for name in dev if name not in direct]
    return mctx.extension_metadata(
        root_module_direct_deps = sorted({name: True for name in direct}),
        root_module_direct_dev_deps = sorted({name: True for name in dev}),
        reproducible = True,
    )

sematic = module_extension(
    implementation = _sematic_impl,
    tag_classes = {
        "base_images": tag_class(
            doc = "Declares the bases of @rules_sematic//images: `sematic-worker-base`, " +
                  "`sematic-worker-cuda`, `python_39` (Sematic's pins), `rules_sematic_python3` " +
                  "(Debian bookworm), `rules_sematic_python3_bullseye` and `rules_sematic_python3_trixie`.",
        ),
        "debian_image": tag_class(
            attrs = _named(DEBIAN_IMAGE_ATTRS),
            doc = "A base image `@<name>//image` made of Debian packages pinned by a lock, for " +
                  "amd64 and arm64, fetched through Bazel's downloader without apt; " +
                  "`bazel run @<name>//:lock` writes the lock.",
        ),
        "pull": tag_class(attrs = _named(PULL_ATTRS), doc = "A registry base image pinned by digest, fetched shallowly."),
        "requirements": tag_class(
            attrs = _named(REQUIREMENTS_ATTRS),
            doc = "A hash-pinned requirements lock as libraries (`@<name>//:requirements.bzl`'s " +
                  "`requirement()`), with wheels for each image's Python and CPU. Repeat with " +
                  "the same name and another `python_version` to serve several versions.",
        ),
        "tools": tag_class(
            doc = "How the rules_sematic tools are obtained. Only the root module's tag counts.",
            attrs = {
                "prebuilt_dir": attr.string(
                    doc = "Absolute path of a directory with prebuilt tool binaries; cargo is not run.",
                ),
            },
        ),
    },
)
