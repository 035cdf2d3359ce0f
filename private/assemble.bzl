"""Assembling an image from a base and layers: the sematic-image and sematic-tarball actions."""

load(":paths.bzl", "display_label")
load(":platforms.bzl", "cpu_constraint_attrs", "oci_platform")
load(":providers.bzl", "SematicBaseInfo", "SematicImageInfo")
load(":toolchains.bzl", "BUILD_TOOLCHAIN_TYPE", "build_tools")

def base_info(target):
    """The SematicBaseInfo a base target stands for.

    Args:
      target: the base Target: a rules_sematic base or image, or any target whose only output
        is an OCI image layout directory (e.g. rules_oci's `oci_image`).

    Returns:
      SematicBaseInfo (an unknown layout has no Python and no declared platforms).
    """
    if SematicBaseInfo in target:
        return target[SematicBaseInfo]
    files = target[DefaultInfo].files.to_list()
    if len(files) == 1 and files[0].is_directory:
        return SematicBaseInfo(
            files = depset(files),
            libc = None,
            platforms = None,
            python_interpreter = None,
            python_version = None,
            root = files[0].path,
        )
    fail("base %s is not an image: use a rules_sematic base (sematic_pull, base_images(), debian_image) or a target whose only output is an OCI image layout directory" % display_label(target.label))

def check_base_platform(label, base_target, base, platform):
    """Fails unless the base has an image for `platform`.

    Args:
      label: the image being built, for the message.
      base_target: the base Target.
      base: its SematicBaseInfo.
      platform: OCI platform of the image.
    """
    if base.platforms != None and platform not in base.platforms:
        fail("%s: base %s has no %s image (it has %s): use a base that has one, or pull it with that platform (sematic.pull(platforms = [...]))" % (
            display_label(label),
            display_label(base_target.label),
            platform,
            ", ".join(base.platforms),
        ))

def assemble_image(ctx, base_target, layers, settings, python_version = None, python_interpreter = None, libc = None, checks = None):
    """Declares the image and tarball actions; returns the providers of an image target.

    Args:
      ctx: rule context; the rule must include `image_tool_attrs()` and declare
        `toolchains = [BUILD_TOOLCHAIN]`.
      base_target: the base Target, or None for an empty base.
      layers: SematicLayerInfo list, appended to the base's layers in order.
      settings: config settings for sematic-image (entrypoint, cmd, env, workdir, user, labels).
      python_version: Python version of the result, for images built on it (default: the base's).
      python_interpreter: its interpreter path (default: the base's).
      libc: its C library (default: the base's).
      checks: struct(libc, python_version) or None: fail the image action if a layer's ELF
        file is for another CPU or needs a newer C library than `libc`, or if the base's
        config names another Python (`PYTHON_VERSION`) than `python_version` (each check only
        when its value is set).

    Returns:
      [DefaultInfo, OutputGroupInfo, SematicImageInfo, SematicBaseInfo]
    """
    platform = oci_platform(ctx)
    base = base_info(base_target) if base_target else None
    if base:
        check_base_platform(ctx.label, base_target, base, platform)
    settings_file = ctx.actions.declare_file(ctx.label.name + ".config.json")
    ctx.actions.write(settings_file, json.encode(dict(settings, layer_history = [layer.history for layer in layers])))

    layout = ctx.actions.declare_directory(ctx.label.name)
    digest = ctx.actions.declare_file(ctx.label.name + ".digest")
    args = ctx.actions.args()
    inputs = [settings_file]
    transitive = []
    if base:
        args.add("--base-layout", base.root)
        transitive.append(base.files)
    args.add("--platform", platform)
    for layer in layers:
        args.add("--layer", "%s=%s" % (layer.descriptor.path, layer.blob.path))
        inputs += [layer.descriptor, layer.blob]
    if checks:
        reports = [report for layer in layers for report in (getattr(layer, "native", None) or [])]
        args.add_all(reports, before_each = "--native-report")
        inputs += reports
        if checks.libc:
            args.add("--libc", checks.libc)
        if checks.python_version:
            args.add("--python-version", checks.python_version)
    args.add("--config-json", settings_file)
    args.add("--output-layout", layout.path)
    args.add("--digest-file", digest)
    ctx.actions.run(
        executable = build_tools(ctx).image,
        toolchain = BUILD_TOOLCHAIN_TYPE,
        arguments = [args],
        inputs = depset(inputs, transitive = transitive),
        outputs = [layout, digest],
        mnemonic = "SematicImage",
        progress_message = "Assembling %s image %%{label}" % platform,
    )

    tarball = write_tarball(ctx, layout, platform)
    return [
        DefaultInfo(files = depset([layout, digest])),
        OutputGroupInfo(tarball = depset([tarball])),
        SematicImageInfo(digest = digest, layout = layout, platforms = [platform]),
        SematicBaseInfo(
            files = depset([layout]),
            libc = libc or (base.libc if base else None),
            platforms = [platform],
            python_interpreter = python_interpreter or (base.python_interpreter if base else None),
            python_version = python_version or (base.python_version if base else None),
            root = layout.path,
        ),
    ]

def write_tarball(ctx, layout, platform):
    """Declares the action writing the `docker load` tarball of `layout`'s `platform` image.

    Args:
      ctx: rule context of a rule with `repo_tags` declaring `toolchains = [BUILD_TOOLCHAIN]`.
      layout: the image layout (tree artifact).
      platform: OCI platform of the image to load (the layout may be an index).

    Returns:
      The tarball File.
    """
    tarball = ctx.actions.declare_file(ctx.label.name + ".tar")
    args = ctx.actions.args()
    args.add("--layout", layout.path)
    args.add("--platform", platform)
    args.add("--output", tarball)
    args.add_all(ctx.attr.repo_tags or [default_repo_tag(ctx.label)], before_each = "--repo-tag")
    ctx.actions.run(
        executable = build_tools(ctx).tarball,
        toolchain = BUILD_TOOLCHAIN_TYPE,
        arguments = [args],
        inputs = [layout],
        outputs = [tarball],
        mnemonic = "SematicTarball",
        progress_message = "Writing docker-loadable tarball of %{label}",
    )
    return tarball

def default_repo_tag(label):
    """The tarball's default `repository:tag`: `bazel/<package>:<name>`.

    The root package gives `bazel/root:<name>` (a repository name may not end in `/`).

    Args:
      label: the image's Label.

    Returns:
      The `repository:tag` string.
    """
    return "bazel/%s:%s" % (label.package or "root", label.name)

def image_tool_attrs():
    """Attributes every rule calling `assemble_image` needs."""
    return dict(
        repo_tags = attr.string_list(
            doc = "`repository:tag` names of the image in the tarball output group " +
                  "(default `bazel/<package>:<name>`).",
        ),
        **cpu_constraint_attrs()
    )
