"""Writing (and reading back) OCI image layouts for tests, without the image tools under development."""

import gzip
import hashlib
import io
import json
import os
import random
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
SOURCE_ANNOTATION = "dev.rules-sematic.source"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def blob_path(layout: Path, digest: str) -> Path:
    """Where the blob `sha256:<hex>` lives in the OCI layout."""
    return layout / "blobs" / "sha256" / digest.split(":", 1)[1]


def read_blob_json(layout: Path, digest: str) -> dict:
    """A JSON blob (manifest, config, index) of the layout, by digest."""
    return json.loads(blob_path(layout, digest).read_text())


def layers_with_history(layout: Path, digest: str) -> list:
    """[(history text, layer descriptor)] of the image `digest`, in layer order (history entries
    marked empty_layer have no layer and are skipped)."""
    manifest = read_blob_json(layout, digest)
    config = read_blob_json(layout, manifest["config"]["digest"])
    history = [h["created_by"] for h in config["history"] if not h.get("empty_layer")]
    return list(zip(history, manifest["layers"]))


@dataclass
class Layer:
    blob: bytes
    diff_id: str

    @property
    def digest(self) -> str:
        return sha256(self.blob)

    def descriptor(self, media_type: str = OCI_LAYER) -> dict:
        return {"mediaType": media_type, "digest": self.digest, "size": len(self.blob)}


@dataclass
class FileLayer:
    """A layer whose blob is a file, for blobs too big to hold in memory."""
    path: Path
    digest: str
    size: int
    diff_id: str

    def descriptor(self, media_type: str = OCI_LAYER) -> dict:
        return {"mediaType": media_type, "digest": self.digest, "size": self.size}


def layer(files: dict) -> Layer:
    """A deterministic gzip'd tar layer holding `files` ({path: bytes})."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(files):
            info = tarfile.TarInfo(path)
            info.size = len(files[path])
            info.mode = 0o644
            info.mtime = 0
            tar.addfile(info, io.BytesIO(files[path]))
    tar_bytes = raw.getvalue()
    return Layer(gzip.compress(tar_bytes, mtime=0), sha256(tar_bytes))


def random_layer(size: int, seed: int) -> Layer:
    """A layer whose one file is `size` incompressible bytes."""
    return layer({f"data/blob-{seed}.bin": random.Random(seed).randbytes(size)})


@dataclass
class Image:
    layout: Path
    digest: str
    manifest: bytes
    config: bytes
    layers: list = field(default_factory=list)

    @property
    def config_digest(self) -> str:
        return sha256(self.config)


def write_layout(layout: Path, layers: list, *, base: Optional[Image] = None,
                 source: Optional[str] = None, media_type: str = OCI_MANIFEST,
                 config_extra: Optional[dict] = None) -> Image:
    """Writes a one-image layout. With `base`, its layers come first but their blobs are not
    written (a sparse layout); `source` is then the index annotation naming where they are.
    A Docker v2 schema 2 `media_type` gives Docker config and layer types too."""
    docker = media_type == DOCKER_MANIFEST
    layout = Path(layout)
    blobs = layout / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)
    all_layers = (base.layers if base else []) + list(layers)
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Env": ["PATH=/usr/bin:/bin"]},
        "rootfs": {"type": "layers", "diff_ids": [l.diff_id for l in all_layers]},
    }
    config.update(config_extra or {})
    config_bytes = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
    manifest = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": {"mediaType": DOCKER_CONFIG if docker else OCI_CONFIG,
                   "digest": sha256(config_bytes), "size": len(config_bytes)},
        "layers": [l.descriptor(DOCKER_LAYER if docker else OCI_LAYER) for l in all_layers],
    }
    manifest_bytes = json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()
    for data in [config_bytes, manifest_bytes] + [l.blob for l in layers if isinstance(l, Layer)]:
        (blobs / sha256(data)[7:]).write_bytes(data)
    for big in (l for l in layers if isinstance(l, FileLayer)):
        os.link(big.path, blob_path(layout, big.digest))
    entry = {"mediaType": media_type, "digest": sha256(manifest_bytes), "size": len(manifest_bytes)}
    if source:
        entry["annotations"] = {SOURCE_ANNOTATION: source}
    (layout / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (layout / "index.json").write_text(json.dumps(
        {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [entry]}))
    return Image(layout, sha256(manifest_bytes), manifest_bytes, config_bytes, all_layers)


@dataclass
class IndexImage:
    layout: Path
    digest: str
    index: bytes
    images: dict  # platform ("linux/arm64") -> Image

    @property
    def media_type(self) -> str:
        return json.loads(self.index)["mediaType"]


def write_index_layout(layout: Path, platforms: dict, *, bases: Optional[dict] = None,
                       source: Optional[str] = None, media_type: str = OCI_MANIFEST) -> IndexImage:
    """Writes a multi-platform layout: one image per platform ({"linux/arm64": [layers]}) with
    a config for that platform, and an image index over them (a Docker manifest list over Docker
    images) that index.json names. `bases` ({platform: Image}) and `source` make it shallow as in
    `write_layout`. The index is indented JSON, unlike anything the tools write, so a pusher that
    re-serialises it would change its digest."""
    images = {}
    for platform, layers in platforms.items():
        os_name, architecture = platform.split("/")[:2]
        images[platform] = write_layout(layout, layers, base=(bases or {}).get(platform),
                                        media_type=media_type,
                                        config_extra={"os": os_name, "architecture": architecture})
    docker = media_type == DOCKER_MANIFEST
    index_type = DOCKER_MANIFEST_LIST if docker else OCI_INDEX
    index = {"schemaVersion": 2, "mediaType": index_type, "manifests": [
        {"mediaType": media_type, "digest": image.digest, "size": len(image.manifest),
         "platform": {"os": platform.split("/")[0], "architecture": platform.split("/")[1]}}
        for platform, image in images.items()]}
    index_bytes = json.dumps(index, indent=1).encode()
    blob_path(layout, sha256(index_bytes)).write_bytes(index_bytes)
    entry = {"mediaType": index_type, "digest": sha256(index_bytes), "size": len(index_bytes)}
    if source:
        entry["annotations"] = {SOURCE_ANNOTATION: source}
    (layout / "index.json").write_text(json.dumps(
        {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [entry]}))
    return IndexImage(Path(layout), sha256(index_bytes), index_bytes, images)


def tree_snapshot(root: Path) -> dict:
    """{relative path: (size, mtime_ns)} of every file under root, to prove nothing changed."""
    snapshot = {}
    for directory, _, files in os.walk(root):
        for name in files:
            path = Path(directory) / name
            stat = path.stat()
            snapshot[str(path.relative_to(root))] = (stat.st_size, stat.st_mtime_ns)
    return snapshot
