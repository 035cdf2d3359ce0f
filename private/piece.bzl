"""A third-party distribution's layer piece: its files at `/app/_ext/<key>/`, compressed once.

The piece target lives in the wheel's repository and is built in one configuration whatever
image, platform or pipeline asks for it (a transition resets what images set), so every key,
pipeline and machine (through a remote cache) shares the same action and the same bytes. An
image either assembles pieces into shared layers or, for a large distribution, uses the
distribution's own layer, written by the same target: whole, or split by file into parts a
push uploads in parallel (split_parts). Only the outputs an image uses are built.
"""

load(":layer.bzl", "COMPRESSIONS", "SematicLayerInfo", "write_layer", "write_split_layer")
load(":layer_entry.bzl", "layer_entry")
load(":toolchains.bzl", "BUILD_TOOLCHAIN")
load(":transitions.bzl", "piece_transition")

# Where third-party distributions live in images; each binary's runfiles tree links to them.
EXTERNAL_ROOT = "/app/_ext"

# A part of a split layer holds about this much installed, or the largest file if that is more:
# ~100 MB compressed, a few seconds of one upload stream on a WAN link.
PART_BYTES = 256 * 1024 * 1024
MAX_PARTS = 4

def split_parts(size, largest):
    """How many layers a distribution's own layer is split into (1: not split).

    As many parts as its size holds, rounded to the nearest: a part is the larger of
    PART_BYTES and the largest file, since a file cannot be split. torch 2.5's 1.8 GB with a
    0.9 GB libtorch_cuda.so makes two parts; nvidia-cufft's 293 MB, nearly all one library,
    stays one layer (a second part would hold only its small files).

    Args:
      size: bytes of its installed files.
      largest: bytes of its largest file.

    Returns:
      An int in [1, MAX_PARTS].
    """
    part = max(largest, PART_BYTES)
    return max(1, min(MAX_PARTS, (2 * size + part) // (2 * part)))

SematicPieceInfo = provider(
    doc = "A distribution's files as a layer piece and as a layer of its own.",
    fields = {
        "key": "`<distribution>-<version>-<sha256 prefix of the wheel>`: its directory under /app/_ext.",
        "layers": "dict of compression -> SematicLayerInfo of a layer holding only this piece.",
        "parts": "dict of compression -> list of SematicLayerInfo: that layer split by file " +
                 "into split_parts() layers; empty when it is one.",
        "pieces": "dict of compression -> struct(blob, descriptor, native) of the piece " +
                  "(native: the report of its ELF files).",
        "size": "Bytes of the installed files: large distributions get a layer of their own.",
        "title": "`<distribution> <version>`, for image history.",
    },
)

def _sematic_wheel_piece_impl(ctx):
    root = "%s/%s" % (EXTERNAL_ROOT, ctx.attr.key)
    entries = [
        layer_entry("tree", "%s/%s" % (root, directory), src = "%s/%s" % (ctx.label.workspace_root, directory))
        for directory in ctx.attr.dirs
    ]
    inputs = ctx.files.files
    history = "rules_sematic: %s" % ctx.attr.title
    parts = split_parts(ctx.attr.size, ctx.attr.largest)
    pieces, layers, split = {}, {}, {}
    for compression in COMPRESSIONS:
        # All report their ELF files: an image checks the ones it uses against its CPU and libc.
        pieces[compression] = write_layer(ctx, "piece", entries, inputs, compression, piece_root = root, native_report = True)
        layer = write_layer(ctx, "layer", entries, inputs, compression, native_report = True)
        layers[compression] = SematicLayerInfo(blob = layer.blob, descriptor = layer.descriptor, history = history, native = [layer.native])
        split[compression] = write_split_layer(ctx, "split", entries, inputs, compression, parts, history) if parts > 1 else []
    return [
        DefaultInfo(files = depset([pieces["gzip"].blob, pieces["gzip"].descriptor])),
        SematicPieceInfo(key = ctx.attr.key, layers = layers, parts = split, pieces = pieces, size = ctx.attr.size, title = ctx.attr.title),
    ]

sematic_wheel_piece = rule(
    implementation = _sematic_wheel_piece_impl,
    cfg = piece_transition,
    doc = "The layer piece (and own layer) of one installed wheel, written by its repository.",
    attrs = dict(
        dirs = attr.string_list(mandatory = True, doc = "The repository's installed directories (site, bin, include)."),
        files = attr.label(mandatory = True, allow_files = True, doc = "Every installed file."),
        key = attr.string(mandatory = True, doc = "Directory name under /app/_ext."),
        largest = attr.int(mandatory = True, doc = "Bytes of the largest installed file."),
        size = attr.int(mandatory = True, doc = "Bytes of the installed files."),
        title = attr.string(mandatory = True, doc = "`<distribution> <version>`."),
        _allowlist_function_transition = attr.label(
            default = "@bazel_tools//tools/allowlists/function_transition_allowlist",
        ),
    ),
    provides = [SematicPieceInfo],
    toolchains = [BUILD_TOOLCHAIN],
)
