"""Container root filesystems as a node's containerd makes them with its overlay snapshotter:
each layer of an image unpacked once, by digest (GNU tar), and a container's root filesystem an
overlayfs mount of its image's layers under a writable directory of its own. The images of the
examples share most layers (base, third-party buckets), so a node pays for a second image only
the layers it adds, and a container starts without copying its image."""

import os
import shutil
import subprocess
from pathlib import Path


def unpack_layer(blob: Path, target: Path) -> None:
    """Extracts a layer (a tar, compressed or not) into the directory `target`, unless an
    earlier container's image already did."""
    if target.exists():
        return
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    subprocess.run(["tar", "-xf", str(blob), "-C", str(partial), "--numeric-owner"], check=True,
                   capture_output=True, text=True)
    for _, directories, files in os.walk(partial):
        if any(name.startswith(".wh.") for name in directories + files):
            raise ValueError(f"layer {blob.name} deletes files of the layers below (OCI whiteouts): "
                             "the fake node does not apply them")
    partial.rename(target)


def mount(layers: list, bundle: Path) -> None:
    """Mounts `layers` (directories side by side, the image's first layer first) as
    bundle/rootfs, the container's writes going to bundle/upper."""
    rootfs, upper, work = (bundle / name for name in ("rootfs", "upper", "work"))
    for directory in (rootfs, upper, work):
        directory.mkdir(parents=True)
    # Names relative to the layers' directory keep the options under the kernel's page size.
    lower = ":".join(layer.name for layer in reversed(layers))
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o", f"lowerdir={lower},upperdir={upper},workdir={work}",
                    str(rootfs)], cwd=layers[0].parent, check=True, capture_output=True, text=True)


def unmount(bundle: Path) -> None:
    """Unmounts bundle/rootfs if it is mounted (lazily if something still holds it)."""
    rootfs = bundle / "rootfs"
    if os.path.ismount(rootfs):
        if subprocess.run(["umount", str(rootfs)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "--lazy", str(rootfs)], capture_output=True)
