"""The entries of sematic-layer's manifest (docs/formats.md, "Layer manifest"), built in one
place so every rule writes the fields the tool accepts."""

# Each kind and the fields it takes besides `kind` and `path`: what
# tools/crates/layer/src/manifest.rs accepts, and what docs/formats.md lists (its test compares
# the three).
LAYER_ENTRY_FIELDS = {
    "dir": ["mode"],
    "empty": [],
    "file": ["src", "mode"],
    "link": ["src"],
    "symlink": ["target"],
    "tree": ["src"],
}

def layer_entry(kind, path, src = None, target = None, mode = None):
    """One entry of a layer manifest.

    Args:
      kind: one of LAYER_ENTRY_FIELDS's keys.
      path: the absolute, normalised image path.
      src: the input's exec path (file, tree, link).
      target: the symlink's relative target (symlink).
      mode: octal mode string such as "0755" (file, dir).

    Returns:
      The entry dict, with only the fields given, keys sorted.
    """
    if kind not in LAYER_ENTRY_FIELDS:
        fail("layer entry %s: unknown kind %r: use one of %s" % (path, kind, ", ".join(LAYER_ENTRY_FIELDS)))
    entry = {"kind": kind, "path": path}
    for field, value in (("src", src), ("target", target), ("mode", mode)):
        if value == None:
            continue
        if field not in LAYER_ENTRY_FIELDS[kind]:
            fail("layer entry %s: a %s entry takes no %s" % (path, kind, field))
        entry[field] = value

    # Sorted keys: the manifest bytes (an action input) do not depend on how a caller built it.
    return {key: entry[key] for key in sorted(entry)}
