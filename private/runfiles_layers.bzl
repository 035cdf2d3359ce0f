"""Splits a py_binary's runfiles into layers, from least to most often changed.

Without any configuration, the runfiles tree becomes:
  1. interpreter: the files of a hermetic Python toolchain (none when the toolchain uses the base
     image's interpreter by path);
  2. one layer per `image_layers` target (opt-in, Sematic's attribute: e.g. torch on its own);
  3. third-party: files of external repositories (pip packages, rule sets) in a fixed number of
     buckets, each distribution always in the same bucket, so bumping one dependency rewrites one
     bucket, not all of them;
  4. first-party: the main repository's files plus the tree's skeleton (launcher stub, repo
     mapping, symlinks) -- the only layer a code edit changes.
"""

load(":paths.bzl", "display_label", "runfiles_path")

# Enough to keep a dependency bump cheap, few enough to stay far below OCI's 127-layer limit
# on top of a CUDA base's dozens of layers.
THIRD_PARTY_BUCKETS = 8

def distribution_key(path):
    """The grouping key of an external runfiles path: its repository.

    rules_sematic's and rules_python's requirement repositories hold one distribution each.

    Args:
      path: runfiles path `repo/…` of a file of an external repository.

    Returns:
      `repo`.
    """
    return path.split("/", 1)[0]

def bucket(key):
    # Starlark's hash of a string is Java's String.hashCode: the same on every machine.
    return hash(key) % THIRD_PARTY_BUCKETS

def _file_entry(destination, file):
    if file.is_directory:
        return {"kind": "tree", "path": destination, "src": file.path}
    return {"kind": "file", "path": destination, "src": file.path}

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

def split_runfiles(ctx, binary, runtime_files, image_layer_targets, extra_entries = []):
    """Partitions the runfiles of `binary` into ordered layer groups.

    Args:
      ctx: rule context (for the workspace name).
      binary: the py_binary Target.
      runtime_files: depset of the Python toolchain's interpreter files (may be empty).
      image_layer_targets: targets whose runfiles get a layer of their own, in order.
      extra_entries: layer entries (no inputs) to add to the first-party layer.

    Returns:
      struct(binary_path, runfiles_root, groups) where groups is a list of
      struct(name, history, entries, inputs) in layer order, empty groups left out.
    """
    info = binary[DefaultInfo]
    executable = info.files_to_run.executable
    workspace = ctx.workspace_name
    binary_path = binary_image_path(workspace, binary)
    runfiles_root = binary_path + ".runfiles"
    runfiles = info.default_runfiles

    interpreter = {f: True for f in runtime_files.to_list()}
    claimed = {}
    user_groups = []
    for index, target in enumerate(image_layer_targets):
        files = [
            f
            for f in target[DefaultInfo].default_runfiles.files.to_list() + target[DefaultInfo].files.to_list()
            if f not in interpreter and f not in claimed
        ]
        for f in files:
            claimed[f] = True
        user_groups.append(struct(name = "image_layer_%d" % index, target = target, files = files))

    interpreter_files = []
    buckets = [[] for _ in range(THIRD_PARTY_BUCKETS)]
    first_party = []
    for f in runfiles.files.to_list():
        if f in claimed:
            continue
        path = runfiles_path(workspace, f)
        if f in interpreter:
            interpreter_files.append(f)
        elif f.short_path.startswith("../"):
            buckets[bucket(distribution_key(path))].append(f)
        else:
            first_party.append(f)

    def entries_for(files):
        return [_file_entry(runfiles_root + "/" + runfiles_path(workspace, f), f) for f in files]

    groups = []
    if interpreter_files:
        groups.append(struct(name = "interpreter", history = "rules_sematic: Python interpreter", entries = entries_for(interpreter_files), inputs = interpreter_files))
    for group in user_groups:
        if group.files:
            groups.append(struct(name = group.name, history = "rules_sematic: image_layers %s" % display_label(group.target.label), entries = entries_for(group.files), inputs = group.files))
    for index, files in enumerate(buckets):
        if files:
            groups.append(struct(name = "third_party_%d" % index, history = "rules_sematic: third-party code, bucket %d" % index, entries = entries_for(files), inputs = files))

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
            skeleton.append({"kind": "empty", "path": "%s/%s" % (runfiles_root, empty[len("external/"):])})
        else:
            skeleton.append({"kind": "empty", "path": "%s/%s/%s" % (runfiles_root, workspace, empty)})
    groups.append(struct(
        name = "first_party",
        history = "rules_sematic: first-party code of %s" % display_label(binary.label),
        entries = skeleton + extra_entries + entries_for(first_party),
        inputs = skeleton_inputs + first_party,
    ))
    return struct(binary_path = binary_path, runfiles_root = runfiles_root, groups = groups)
