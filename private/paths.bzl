"""Runfiles paths of files, as the runfiles tree lays them out."""

def runfiles_path(workspace_name, file):
    """The path of `file` relative to the runfiles root: `<repo>/<path>`.

    Args:
      workspace_name: the main repository's runfiles directory name (`ctx.workspace_name`).
      file: a File.

    Returns:
      The rlocation path, e.g. `_main/pkg/x.py` or `rules_python~0.22.1/python/x.py`.
    """
    if file.short_path.startswith("../"):
        return file.short_path[3:]
    return workspace_name + "/" + file.short_path

def display_label(label):
    """A label as users write it.

    `//pkg:name` in the main repository (not Bazel 7's `@@//…`), `@repo//pkg` for another
    repository, by its apparent name (`@pulled`, not the canonical
    `@@rules_sematic~~sematic~pulled`).

    Args:
      label: a Label.

    Returns:
      The label's text.
    """
    target = "//%s:%s" % (label.package, label.name)
    if label.package.split("/")[-1] == label.name:
        target = "//" + label.package
    if not label.workspace_name:
        return target
    repository = [part for part in label.workspace_name.replace("+", "~").split("~") if part][-1]
    return "@%s%s" % (repository, target)
