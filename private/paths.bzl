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
