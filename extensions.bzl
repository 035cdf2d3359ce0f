"""bzlmod module extension of rules_sematic.

    sematic = use_extension("@rules_sematic//:extensions.bzl", "sematic")
    sematic.base_images()                      # @sematic-worker-base, @sematic-worker-cuda, ...
    sematic.pull(name = "my_base", image = "ghcr.io/acme/base@sha256:…")
    sematic.requirements(name = "pypi", requirements_lock = "//:requirements_lock.txt", python = "/usr/bin/python3.13")
    use_repo(sematic, "sematic-worker-base", "my_base", "pypi")
"""

load("//images:bases.bzl", "PYTHON3_DEBIAN", "SEMATIC_BASES")
load("//private:debian_repo.bzl", "DEBIAN_IMAGE_ATTRS", "debian_image")
load("//private:pip_repo.bzl", "REQUIREMENTS_ATTRS", "python_requirements")
load("//private:pull_repo.bzl", "PULL_ATTRS", "sematic_pull")
load("//private:tools_repo.bzl", "sematic_tools")

def _named(attrs):
    return dict(attrs, name = attr.string(mandatory = True, doc = "Repository name."))

_REPOSITORY_TAGS = {
    "debian_image": (debian_image, DEBIAN_IMAGE_ATTRS),
    "pull": (sematic_pull, PULL_ATTRS),
    "requirements": (python_requirements, REQUIREMENTS_ATTRS),
}

def _sematic_impl(mctx):
    declared = {}

    def declare(module, rule, name, kwargs):
        if name in declared:
            if declared[name][1] != kwargs:
                fail("rules_sematic: repository %r is declared differently by modules %s and %s" % (name, declared[name][0], module.name))
            return
        declared[name] = (module.name, kwargs)
        rule(name = name, **kwargs)

    prebuilt_dir = ""
    for module in mctx.modules:
        if module.is_root:
            for tag in module.tags.tools:
                prebuilt_dir = tag.prebuilt_dir
    sematic_tools(name = "rules_sematic_tools", prebuilt_dir = prebuilt_dir)

    for module in mctx.modules:
        if module.tags.base_images:
            for name, image in SEMATIC_BASES.items():
                declare(module, sematic_pull, name, {"image": image})
            declare(module, debian_image, PYTHON3_DEBIAN["name"], {k: v for k, v in PYTHON3_DEBIAN.items() if k != "name"})
        for tag_name, (rule, attrs) in _REPOSITORY_TAGS.items():
            for tag in getattr(module.tags, tag_name):
                declare(module, rule, tag.name, {key: getattr(tag, key) for key in attrs})

sematic = module_extension(
    implementation = _sematic_impl,
    tag_classes = {
        "base_images": tag_class(
            doc = "Declares the bases of @rules_sematic//images: `sematic-worker-base`, " +
                  "`sematic-worker-cuda`, `python_39` (Sematic's pins) and `rules_sematic_python3`.",
        ),
        "debian_image": tag_class(attrs = _named(DEBIAN_IMAGE_ATTRS), doc = "A base image made of Debian packages."),
        "pull": tag_class(attrs = _named(PULL_ATTRS), doc = "A registry base image pinned by digest, fetched shallowly."),
        "requirements": tag_class(attrs = _named(REQUIREMENTS_ATTRS), doc = "A pinned requirements lock as py_libraries."),
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
