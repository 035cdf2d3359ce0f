"""How an image's third-party distributions become layers.

Each distribution is a piece built once for every image that uses it (private/piece.bzl), at
`/app/_ext/<distribution>-<version>-<sha>/`; the binary's runfiles tree links to it. Then:

* a large distribution (torch, nvidia-*, jaxlib: at least OWN_LAYER_BYTES installed), or one
  listed in `image_layers`, is a layer of its own: its piece's own layer, shared as is; one
  far larger than its largest file is split by file into a few layers (piece.bzl's
  split_parts), largest distributions first, adding at most MAX_SPLIT_LAYERS layers, so a
  push uploads it over several connections;
* the others share THIRD_PARTY_BUCKETS layers, each distribution always in the same bucket
  (by its name, not its version), assembled from their pieces without compressing again:
  bumping one rewrites one bucket, about that distribution's size. The buckets are assembled
  by an aspect on the image's binary, so every image of that binary in one configuration (the
  keys of a pipeline) shares them; an image whose `image_layers` take distributions out of a
  bucket assembles that bucket itself.

At most MAX_OWN_LAYERS own layers, MAX_SPLIT_LAYERS more from splitting them, plus
THIRD_PARTY_BUCKETS buckets: the image stays well under OCI's 127 layers on a CUDA base with
dozens of layers.
"""

load(":layer.bzl", "COMPRESSIONS", "assemble_layer")
load(":piece.bzl", "EXTERNAL_ROOT")
load(":python_deps.bzl", "PythonDepsInfo")
load(":toolchains.bzl", "BUILD_TOOLCHAIN")

THIRD_PARTY_BUCKETS = 32
OWN_LAYER_BYTES = 64 * 1024 * 1024
MAX_OWN_LAYERS = 24
MAX_SPLIT_LAYERS = 12

# The parents of every piece, written once at the top of each assembled layer.
PIECE_PARENTS = ["/app", "/app/_ext"]

SharedBucketsInfo = provider(
    doc = "The bucket layers of a binary's wheels when no `image_layers` take any out.",
    fields = {
        "buckets": "dict: bucket index -> struct(keys: its pieces' keys, layer: SematicLayerInfo)",
    },
)

def bucket(distribution):
    """The bucket of a distribution, the same on every machine.

    Starlark's string hash is Java's String.hashCode.

    Args:
      distribution: its normalised name.

    Returns:
      An int in [0, THIRD_PARTY_BUCKETS).
    """
    return hash(distribution) % THIRD_PARTY_BUCKETS

def plan_third_party(wheels, own_keys, split = False):
    """Splits the image's wheels into layers of their own and buckets.

    Args:
      wheels: list of SematicWheelInfo.
      own_keys: piece keys that must get a layer of their own (from `image_layers`).
      split: split the largest own layers by file (their pieces' `parts`), adding at most
        MAX_SPLIT_LAYERS layers.

    Returns:
      struct(own: SematicWheelInfo list, in image order; buckets: list of (index,
      SematicWheelInfo list in image path order), empty buckets left out; split: dict of the
      keys of the own layers to use in parts).
    """
    unique = {wheel.piece.key: wheel for wheel in wheels}
    large = sorted(
        [w for w in unique.values() if w.piece.size >= OWN_LAYER_BYTES and w.piece.key not in own_keys],
        key = lambda w: (-w.piece.size, w.piece.key),
    )
    own = [unique[key] for key in own_keys if key in unique] + large[:max(0, MAX_OWN_LAYERS - len(own_keys))]
    own_set = {w.piece.key: True for w in own}
    buckets = {}
    for key in sorted(unique):
        if key not in own_set:
            buckets.setdefault(bucket(unique[key].distribution), []).append(unique[key])
    split_keys = {}
    if split:
        added = 0
        for wheel in sorted(own, key = lambda w: (-w.piece.size, w.piece.key)):
            more = max(0, len(wheel.piece.parts.get("gzip", [])) - 1)
            if more and added + more <= MAX_SPLIT_LAYERS:
                split_keys[wheel.piece.key] = True
                added += more
    return struct(
        own = sorted(own, key = lambda w: w.piece.key),
        buckets = sorted(buckets.items()),
        split = split_keys,
    )

def external_path(wheel):
    """Image path of a wheel's files."""
    return "%s/%s" % (EXTERNAL_ROOT, wheel.piece.key)

def bucket_history(index):
    """The image history comment of bucket `index`."""
    return "rules_sematic: third-party code, bucket %d" % index

def _shared_buckets_aspect_impl(target, ctx):
    compression = ctx.attr.compression
    buckets = {}
    for index, members in plan_third_party(target[PythonDepsInfo].wheels.to_list(), []).buckets:
        buckets[index] = struct(
            keys = [wheel.piece.key for wheel in members],
            layer = assemble_layer(
                ctx,
                "third_party_%d.%s" % (index, compression),
                [wheel.piece.pieces[compression] for wheel in members],
                PIECE_PARENTS,
                compression,
                bucket_history(index),
            ),
        )
    return [SharedBucketsInfo(buckets = buckets)]

shared_buckets_aspect = aspect(
    implementation = _shared_buckets_aspect_impl,
    doc = "Assembles the bucket layers of a binary's wheels once for all its images.",
    attrs = {"compression": attr.string(values = COMPRESSIONS)},
    required_aspect_providers = [PythonDepsInfo],
    toolchains = [BUILD_TOOLCHAIN],
)
