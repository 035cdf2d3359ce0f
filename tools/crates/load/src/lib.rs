//! Loading an image layout into the machine's container runtime, sending only what the
//! runtime lacks: containerd gets an archive without the blobs its content store has, podman
//! copies only the layers its storage lacks; Docker (not incremental) gets everything.

pub mod command;
pub mod containerd;
pub mod docker;
pub mod error;
pub mod podman;
pub mod runtime;

use std::path::Path;

use sematic_oci_core::platform::Platform;
use sematic_tarball::archive::{Archive, RepoTag};

use crate::containerd::Containerd;
use crate::error::Result;
use crate::runtime::{Runtime, Summary};

/// Loads the image of `layout` (`platform`'s, from an index) into `runtime` as `tag`.
pub fn load(
    layout: &Path,
    platform: &Platform,
    tag: &RepoTag,
    runtime: Runtime,
    containerd: &Containerd,
) -> Result<Summary> {
    let open = || Archive::open(layout, platform, std::slice::from_ref(tag));
    match runtime {
        Runtime::Podman => podman::load(&open()?, &tag.full),
        Runtime::Containerd => containerd.load(layout, platform, tag),
        Runtime::Docker => docker::load(&open()?, &tag.full),
    }
}
