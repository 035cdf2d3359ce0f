"""Splits a py_binary's runfiles into layers, from least to most often changed.

Without any configuration, the runfiles tree becomes:
  1. interpreter: the files of a hermetic Python toolchain (none when the image runs the base
     image's interpreter);
  2. one layer per `image_layers` target (opt-in, Sematic's attribute: e.g. torch on its own);
  3. third-party distributions (requirement() wheels): shared pieces, in layers of their own or
     stable buckets (private/third_party_layers.bzl), at /app/_ext; other external repositories
     (rule sets, http_archives) in one layer;
  4. the links from the runfiles tree to /app/_ext (change only when dependencies do);
  5. data: the main repository's files that `data` attributes bring (models, fixtures, configs),
     one layer per package (at most _MAX_DATA_LAYERS), so a code edit never re-pushes data and
     an edited data file re-pushes only its package's layer;
  6. first-party: the main repository's files plus the tree's skeleton (launcher stub, repo
     mapping, symlinks) -- the only layer a code edit changes.
"""

load(":layer_entry.bzl", "layer_entry")
load(":paths.bzl", "display_label", "relative_target", "runfiles_path")
load(":third_party_layers.bzl", "PIECE_PARENTS", "bucket_history", "external_path", "plan_third_party")

# Each layer costs a registry round trip and an overlay mount; past this, packages share the last.
_MAX_DATA_LAYERS = 8

def _file_entry(destination, file):
    if file.is_directory:
        return layer_entry("tree", destination, src = file.path)
    return layer_entry("file", destination, src = file.path)

def binary_image_path(workspace_name, binary):
    """The image path of a binary's executable: `/app/<package>/<name>`.

    Args:
      workspace_name: `ctx.workspace_name`.
      binary: the binary Target.

    Returns:
      The absolute path; its runfiles tree is that path plus `.runfiles`.
    """
    executable = binary[DefaultInfo].files_to_run.executable
    return "/app/" + runfiles_path(workspace_name, executable).split("/", 1)[1]

def _entries_group(name, history, entries, inputs, contained = True):
    return struct(kind = "entries", name = name, history = history, entries = entries, inputs = inputs, contained = contained)

def _data_groups(files):
    """The data files in layers by package: [(package, files)], sorted, at most _MAX_DATA_LAYERS."""
    by_package = {}
    for f in files:
        by_package.setdefault(f.owner.package, []).append(f)
    packages = sorted(by_package)
    groups = [(package, by_package[package]) for package in packages[:_MAX_DATA_LAYERS - 1]]
    rest = packages[_MAX_DATA_LAYERS - 1:]
    if rest:
        groups.append((rest[0] + " and later packages", [f for package in rest for f in by_package[package]]))
    return groups

def _check_image_layers(ctx, binary, image_layers, user_groups, runfiles, wheels):
    """Fails if an `image_layers` target is not among the binary's dependencies.

    Its layer would hold files the binary never imports, or nothing at all (a wheel it does not
    use).
    """
    in_runfiles = {f: True for f in runfiles}
    keys = {wheel.piece.key: True for wheel in wheels}
    for layer, group in zip(image_layers, user_groups):
        outside = [f for f in group.files if f not in in_runfiles]
        foreign = [w for w in layer.wheels if w.piece.key not in keys]
        if outside or foreign:
            fail("%s: image_layers has %s, which is not among the dependencies of %s (%s is not in its runfiles): add it to deps, or remove it from image_layers" % (
                display_label(ctx.label),
                display_label(layer.target.label),
                display_label(binary.label),
                outside[0].short_path if outside else "%s %s" % (foreign[0].distribution, foreign[0].version),
            ))

def split_runfiles(ctx, binary, runtime_files, image_layers, wheels, data_files, extra_entries = []):
    """Partitions the runfiles of `binary` into ordered layer groups.

    Args:
      ctx: rule context (for the workspace name and the `compression` and
        `split_large_distributions` attributes).
      binary: the py_binary Target.
      runtime_files: depset of the Python toolchain's interpreter files (may be empty).
      image_layers: list of struct(target, wheels): targets whose runfiles get a layer of their
        own, in order, with the wheels each depends on.
      wheels: SematicWheelInfo list of every wheel the binary depends on.
      data_files: the files `data` attributes bring (layered apart when in the main repository).
      extra_entries: layer entries (no inputs) to add to the first-party layer.

    Returns:
      struct(binary_path, runfiles_root, groups): groups in layer order, each
      struct(kind = "entries", name, history, entries, inputs, contained: symlinks must stay in
      the runfiles tree), struct(kind = "layer", layer: SematicLayerInfo) or
      struct(kind = "pieces", name, index, keys, history, pieces, directories): a bucket.
    """
    info = binary[DefaultInfo]
    executable = info.files_to_run.executable
    workspace = ctx.workspace_name
    binary_path = binary_image_path(workspace, binary)
    runfiles_root = binary_path + ".runfiles"
    runfiles = info.default_runfiles
    wheel_repositories = {wheel.repository: wheel for wheel in wheels}

    def is_wheel_file(f):
        return runfiles_path(workspace, f).split("/", 1)[0] in wheel_repositories

    interpreter = {f: True for f in runtime_files.to_list()}
    claimed = {}
    user_groups = []
    own_keys = []
    for index, layer in enumerate(image_layers):
        own_keys += [w.piece.key for w in layer.wheels if w.piece.key not in own_keys]
        files = []
        for f in layer.target[DefaultInfo].default_runfiles.files.to_list() + layer.target[DefaultInfo].files.to_list():
            if f not in interpreter and f not in claimed and not is_wheel_file(f):
                claimed[f] = True
                files.append(f)
        user_groups.append(struct(name = "image_layer_%d" % index, target = layer.target, files = files))

    all_runfiles = runfiles.files.to_list()
    _check_image_layers(ctx, binary, image_layers, user_groups, all_runfiles, wheels)

    is_data = {f: True for f in data_files}
    interpreter_files = []
    other_external = []
    data = []
    first_party = []
    for f in all_runfiles:
        if f in claimed or is_wheel_file(f):
            continue
        if f in interpreter:
            interpreter_files.append(f)
        elif f.short_path.startswith("../"):
            other_external.append(f)
        elif f in is_data:
            data.append(f)
        else:
            first_party.append(f)

    def entries_for(files):
        return [_file_entry(runfiles_root + "/" + runfiles_path(workspace, f), f) for f in files]

    groups = []
    if interpreter_files:
        groups.append(_entries_group("interpreter", "rules_sematic: Python interpreter", entries_for(interpreter_files), interpreter_files))
    for group in user_groups:
        if group.files:
            groups.append(_entries_group(group.name, "rules_sematic: image_layers %s" % display_label(group.target.label), entries_for(group.files), group.files))
    third_party = plan_third_party(wheels, own_keys, split = ctx.attr.split_large_distributions)
    for wheel in third_party.own:
        if wheel.piece.key in third_party.split:
            groups += [struct(kind = "layer", layer = part) for part in wheel.piece.parts[ctx.attr.compression]]
        else:
            groups.append(struct(kind = "layer", layer = wheel.piece.layers[ctx.attr.compression]))
    for index, members in third_party.buckets:
        groups.append(struct(
            kind = "pieces",
            name = "third_party_%d" % index,
            index = index,
            keys = [wheel.piece.key for wheel in members],
            history = bucket_history(index),
            pieces = [wheel.piece.pieces[ctx.attr.compression] for wheel in members],
            directories = PIECE_PARENTS,
        ))
    if other_external:
        groups.append(_entries_group("other_external", "rules_sematic: other external repositories", entries_for(other_external), other_external))
    if wheels:
        links = [
            layer_entry("symlink", "%s/%s" % (runfiles_root, repository), target = relative_target("%s/%s" % (runfiles_root, repository), external_path(wheel)))
            for repository, wheel in sorted(wheel_repositories.items())
        ]
        groups.append(_entries_group("third_party_links", "rules_sematic: runfiles links to third-party code", links, [], contained = False))
    for index, (package, files) in enumerate(_data_groups(data)):
        groups.append(_entries_group("data_%d" % index, "rules_sematic: data of //%s" % package, entries_for(files), files))

    skeleton = [_file_entry(binary_path, executable)]
    skeleton_inputs = [executable]
    repo_mapping = getattr(info.files_to_run, "repo_mapping_manifest", None)
    if repo_mapping:
        skeleton.append(_file_entry(runfiles_root + "/_repo_mapping", repo_mapping))
        skeleton_inputs.append(repo_mapping)
    for link in runfiles.symlinks.to_list():
        skeleton.append(_file_entry("%s/%s/%s" % (runfiles_root, workspace, link.path), link.target_file))
        skeleton_inputs.append(link.target_file)
    for link in runfiles.root_symlinks.to_list():
        skeleton.append(_file_entry("%s/%s" % (runfiles_root, link.path), link.target_file))
        skeleton_inputs.append(link.target_file)
    for empty in runfiles.empty_filenames.to_list():
        # Bazel names them relative to the main repository's directory, external ones as
        # `external/<repo>/…` (the legacy layout); place them where the stub looks.
        if empty.startswith("external/"):
            skeleton.append(layer_entry("empty", "%s/%s" % (runfiles_root, empty[len("external/"):])))
        else:
            skeleton.append(layer_entry("empty", "%s/%s/%s" % (runfiles_root, workspace, empty)))
    groups.append(_entries_group(
        "first_party",
        "rules_sematic: first-party code of %s" % display_label(binary.label),
        skeleton + extra_entries + entries_for(first_party),
        skeleton_inputs + first_party,
    ))
    return struct(binary_path = binary_path, runfiles_root = runfiles_root, groups = groups)
