"""How an image's third-party distributions become layers.

Each distribution is a piece built once for every image that uses it (private/piece.bzl), at
`/app/_ext/<distribution>-<version>-<sha>/`; the binary's runfiles tree links to it. Then:

* a large distribution (torch, nvidia-*, jaxlib: at least OWN_LAYER_BYTES installed), or one
  listed in `image_layers`, is a layer of its own: its piece's own layer, shared as is;
* the others share THIRD_PARTY_BUCKETS layers, each distribution always in the same bucket
  (by its name, not its version), assembled from their pieces without compressing again:
  bumping one rewrites one bucket, about that distribution's size.

At most MAX_OWN_LAYERS own layers plus THIRD_PARTY_BUCKETS buckets: the image stays well under
OCI's 127 layers on a CUDA base with dozens of layers.
"""

load(":piece.bzl", "EXTERNAL_ROOT")

THIRD_PARTY_BUCKETS = 32
OWN_LAYER_BYTES = 64 * 1024 * 1024
MAX_OWN_LAYERS = 24

def bucket(distribution):
    """The bucket of a distribution, the same on every machine.

    Starlark's string hash is Java's String.hashCode.

    Args:
      distribution: its normalised name.

    Returns:
      An int in [0, THIRD_PARTY_BUCKETS).
    """
    return hash(distribution) % THIRD_PARTY_BUCKETS

def plan_third_party(wheels, own_keys):
    """Splits the image's wheels into layers of their own and buckets.

    Args:
      wheels: list of SematicWheelInfo.
      own_keys: piece keys that must get a layer of their own (from `image_layers`).

    Returns:
      struct(own: SematicWheelInfo list, in image order; buckets: list of (index,
      SematicWheelInfo list in image path order), empty buckets left out).
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
    return struct(
        own = sorted(own, key = lambda w: w.piece.key),
        buckets = sorted(buckets.items()),
    )

def external_path(wheel):
    """Image path of a wheel's files."""
    return "%s/%s" % (EXTERNAL_ROOT, wheel.piece.key)
