"""Layer actions: a JSON list of entries in, a compressed layer blob and its descriptor out."""

load(":layer_entry.bzl", "layer_entry")
load(":paths.bzl", "display_label")
load(":toolchains.bzl", "BUILD_TOOLCHAIN", "BUILD_TOOLCHAIN_TYPE", "build_tools")

SematicLayerInfo = provider(
    doc = "One layer built by sematic-layer.",
    fields = {
        "blob": "File: the compressed layer",
        "descriptor": "File: JSON with mediaType, digest, size, diffId",
        "history": "string recorded in the image history for this layer",
        "native": "List of Files: reports of the ELF files in the layer (sematic-layer " +
                  "--native-report), checked against each image's CPU and C library; empty " +
                  "for layers whose native files are not checked.",
    },
)

# The values of every rule's `compression` attribute, with their blobs' file extensions.
# "estargz" is gzip that a stargz snapshotter can pull lazily (sematic-layer --help).
_EXTENSIONS = {"estargz": "gz", "gzip": "gz", "zstd": "zst"}
COMPRESSIONS = sorted(_EXTENSIONS)

def _run_layer_tool(ctx, prefix, compression, args, inputs, mnemonic, progress_message, native_report = False, prioritized = [], more_outputs = []):
    """Declares a sematic-layer action: `args` (its subcommand first) plus its outputs and compression.

    The outputs are `<prefix>.tar.<gz|zst>`, `<prefix>.descriptor.json` and, with
    `native_report`, `<prefix>.native.json`, returned as struct(blob, descriptor, native: File
    or None), plus `more_outputs` the arguments name. An eStargz layer writes `prioritized`
    (image paths; "/" is the whole layer) before its prefetch landmark.
    """
    blob = ctx.actions.declare_file("%s.tar.%s" % (prefix, _EXTENSIONS[compression]))
    descriptor = ctx.actions.declare_file(prefix + ".descriptor.json")
    outputs = [blob, descriptor] + more_outputs
    native = None
    if native_report:
        native = ctx.actions.declare_file(prefix + ".native.json")
        args.add("--native-report", native)
        outputs.append(native)
    args.add("--output", blob)
    args.add("--descriptor", descriptor)
    args.add("--compression", compression)
    if compression == "estargz":
        args.add_all(prioritized, before_each = "--prioritize")
    ctx.actions.run(
        executable = build_tools(ctx).layer,
        toolchain = BUILD_TOOLCHAIN_TYPE,
        arguments = [args],
        inputs = inputs,
        outputs = outputs,
        mnemonic = mnemonic,
        progress_message = progress_message,
    )
    return struct(blob = blob, descriptor = descriptor, native = native)

def build_layer(ctx, name, entries, inputs, compression, history, symlink_root = None, native_report = False, prioritized = []):
    """Declares the action that writes one layer.

    Args:
      ctx: the rule context; its rule must declare `toolchains = [BUILD_TOOLCHAIN]`.
      name: unique (within the target) name of the layer, used in output file names.
      entries: list of dicts, the entries of sematic-layer's manifest.
      inputs: depset or list of the Files the entries read.
      compression: "gzip", "zstd" or "estargz".
      history: the image history comment for the layer.
      symlink_root: image path symlink targets must stay within, or None.
      native_report: also report the layer's ELF files, for the image to check.
      prioritized: for eStargz, the image paths fetched before a lazily pulled container
        starts ("/" for the whole layer).

    Returns:
      SematicLayerInfo
    """
    layer = write_layer(ctx, name, entries, inputs, compression, symlink_root = symlink_root, native_report = native_report, prioritized = prioritized)
    return SematicLayerInfo(blob = layer.blob, descriptor = layer.descriptor, history = history, native = [layer.native] if layer.native else [])

def _manifest_args(ctx, prefix, entries, inputs, symlink_root = None):
    """The `manifest ENTRIES.json` arguments of a sematic-layer action, and its inputs."""
    manifest = ctx.actions.declare_file(prefix + ".json")
    content = {"entries": entries}
    if symlink_root:
        content["symlink_root"] = symlink_root
    ctx.actions.write(manifest, json.encode(content))
    args = ctx.actions.args()
    args.add("manifest", manifest)
    return args, depset([manifest], transitive = [inputs] if type(inputs) == "depset" else [depset(inputs)])

def write_layer(ctx, name, entries, inputs, compression, symlink_root = None, piece_root = None, native_report = False, prioritized = []):
    """Declares the sematic-layer action writing a layer, or a piece of one.

    Args:
      ctx: the rule context; its rule must declare `toolchains = [BUILD_TOOLCHAIN]`.
      name: unique (within the target and compression) name, used in output file names.
      entries: list of dicts, the entries of sematic-layer's manifest.
      inputs: depset or list of the Files the entries read.
      compression: "gzip", "zstd" or "estargz".
      symlink_root: image path symlink targets must stay within, or None.
      piece_root: write a piece (see tools/crates/layer/src/piece.rs) of what is below this
        image path, instead of a layer.
      native_report: also write the report of the ELF files it holds.
      prioritized: see build_layer (layers only).

    Returns:
      struct(blob, descriptor, native): the Files (native: None without native_report).
    """
    kind = "piece" if piece_root else "layer"
    prefix = "%s.%s.%s.%s" % (ctx.label.name, name, compression, kind)
    args, all_inputs = _manifest_args(ctx, prefix, entries, inputs, symlink_root)
    if piece_root:
        args.add("--piece", piece_root)
    return _run_layer_tool(
        ctx,
        prefix,
        compression,
        args,
        all_inputs,
        "SematicPiece" if piece_root else "SematicLayer",
        "Building %s %s of %%{label}" % (name, kind),
        native_report = native_report,
        prioritized = prioritized,
    )

def write_split_layer(ctx, name, entries, inputs, compression, parts, history):
    """Declares the sematic-layer action writing a layer split by file into `parts` layers.

    The parts are balanced by bytes, hold every file once (each with its parent directories)
    and depend only on the files' names and sizes (sematic-layer manifest --part). A push
    uploads them in parallel: a distribution of a GB is not held to one connection's rate.

    Args:
      ctx: the rule context; its rule must declare `toolchains = [BUILD_TOOLCHAIN]`.
      name: unique (within the target and compression) name, used in output file names.
      entries: list of dicts, the entries of sematic-layer's manifest.
      inputs: depset or list of the Files the entries read.
      compression: "gzip", "zstd" or "estargz".
      parts: how many layers, at least 2.
      history: the image history comment of the whole; each part's adds "(part i of n)".

    Returns:
      list of SematicLayerInfo, one per part; the first carries the native report of all.
    """
    prefix = "%s.%s.%s.layer" % (ctx.label.name, name, compression)
    args, all_inputs = _manifest_args(ctx, prefix, entries, inputs)
    more = []
    for index in range(2, parts + 1):
        part = "%s.part%d" % (prefix, index)
        blob = ctx.actions.declare_file("%s.tar.%s" % (part, _EXTENSIONS[compression]))
        descriptor = ctx.actions.declare_file(part + ".descriptor.json")
        args.add("--part", "%s=%s" % (descriptor.path, blob.path))
        more.append(struct(blob = blob, descriptor = descriptor, native = None))
    first = _run_layer_tool(
        ctx,
        prefix,
        compression,
        args,
        all_inputs,
        "SematicLayer",
        "Building %s layer of %%{label} in %d parts" % (name, parts),
        native_report = True,
        more_outputs = [f for part in more for f in (part.blob, part.descriptor)],
    )
    return [
        SematicLayerInfo(
            blob = part.blob,
            descriptor = part.descriptor,
            history = "%s (part %d of %d)" % (history, index + 1, parts),
            native = [part.native] if part.native else [],
        )
        for index, part in enumerate([first] + more)
    ]

def assemble_layer(ctx, name, pieces, directories, compression, history):
    """Declares the action that assembles a layer from pieces (without compressing again).

    Args:
      ctx: the rule context; its rule must declare `toolchains = [BUILD_TOOLCHAIN]`.
      name: unique (within the target) name of the layer.
      pieces: list of struct(blob, descriptor, native), in image path order.
      directories: the pieces' common parent directories, parents first.
      compression: "gzip", "zstd" or "estargz" (every piece's).
      history: the image history comment for the layer.

    Returns:
      SematicLayerInfo
    """
    args = ctx.actions.args()
    args.add("assemble")
    args.add_all(["%s=%s" % (piece.descriptor.path, piece.blob.path) for piece in pieces])
    args.add_all(directories, before_each = "--directory")
    layer = _run_layer_tool(
        ctx,
        "%s.%s.layer" % (ctx.label.name, name),
        compression,
        args,
        [f for piece in pieces for f in (piece.blob, piece.descriptor)],
        "SematicAssembleLayer",
        "Assembling %s layer of %%{label}" % name,
    )
    native = [piece.native for piece in pieces if piece.native]
    return SematicLayerInfo(blob = layer.blob, descriptor = layer.descriptor, history = history, native = native)

def build_rootfs_layer(ctx, rootfs, compression, history):
    """Declares the action that normalises a root filesystem tarball into a layer.

    Args:
      ctx: the rule context; its rule must declare `toolchains = [BUILD_TOOLCHAIN]`.
      rootfs: the tar File (e.g. from mmdebstrap).
      compression: "gzip", "zstd" or "estargz".
      history: the image history comment for the layer.

    Returns:
      SematicLayerInfo
    """
    args = ctx.actions.args()
    args.add("from-tar", rootfs)
    layer = _run_layer_tool(
        ctx,
        "%s.rootfs.layer" % ctx.label.name,
        compression,
        args,
        [rootfs],
        "SematicRootfsLayer",
        "Normalising root filesystem of %{label}",
    )
    return SematicLayerInfo(blob = layer.blob, descriptor = layer.descriptor, history = history, native = [])

def _sematic_layer_impl(ctx):
    entries = []
    for path, mode in ctx.attr.directories.items():
        entries.append(layer_entry("dir", path, mode = mode))
    for target, path in ctx.attr.files.items():
        files = target[DefaultInfo].files.to_list()
        if len(files) != 1:
            fail("sematic_layer: %s must be exactly one file, not %d" % (display_label(target.label), len(files)))
        entries.append(layer_entry("file", path, src = files[0].path))
    for path, link_target in ctx.attr.symlinks.items():
        entries.append(layer_entry("symlink", path, target = link_target))
    inputs = [f for target in ctx.attr.files for f in target[DefaultInfo].files.to_list()]
    layer = build_layer(
        ctx,
        "files",
        entries,
        inputs,
        ctx.attr.compression,
        # Not the label's canonical form: it depends on the consumer's repository names.
        ctx.attr.history or "rules_sematic layer //%s:%s" % (ctx.label.package, ctx.label.name),
    )
    return [
        DefaultInfo(files = depset([layer.blob, layer.descriptor])),
        layer,
    ]

sematic_layer = rule(
    implementation = _sematic_layer_impl,
    doc = "A reproducible layer of a few files, directories and symlinks at absolute image paths.",
    attrs = dict(
        compression = attr.string(default = "gzip", values = COMPRESSIONS, doc = "Layer compression: `gzip`, `zstd` or `estargz` (lazily pullable gzip, see sematic_pipeline)."),
        directories = attr.string_dict(doc = "Image path -> octal mode, e.g. {\"/tmp\": \"1777\"}."),
        files = attr.label_keyed_string_dict(allow_files = True, doc = "File label -> image path."),
        history = attr.string(doc = "History comment recorded in the image config."),
        symlinks = attr.string_dict(doc = "Image path -> symlink target."),
    ),
    toolchains = [BUILD_TOOLCHAIN],
)
