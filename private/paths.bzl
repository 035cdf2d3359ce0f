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
    return "@%s%s" % (apparent_name(label.workspace_name), target)

def apparent_name(repository):
    """The name a user gave a repository: `pulled` for `rules_sematic~~sematic~pulled`.

    Args:
      repository: a canonical (or WORKSPACE) repository name, e.g. `repository_ctx.name`.

    Returns:
      Its last `~`- or `+`-separated part.
    """
    return [part for part in repository.replace("+", "~").split("~") if part][-1]

def relative_target(link, target):
    """The relative symlink target from `link` to `target` (both absolute image paths).

    Args:
      link: absolute path of the symlink.
      target: absolute path it points at.

    Returns:
      e.g. `../usr/bin/python3.11` for /sematic/python3 -> /usr/bin/python3.11.
    """
    link_dir = link.split("/")[1:-1]
    parts = target.split("/")[1:]
    common = 0
    for a, b in zip(link_dir, parts):
        if a != b:
            break
        common += 1
    return "/".join([".."] * (len(link_dir) - common) + parts[common:])
