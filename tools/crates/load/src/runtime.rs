//! Which runtime to load into, and what a load did.

use std::fmt;

use sematic_tarball::archive::{Blob, Written};

use crate::command::on_path;
use crate::containerd::Containerd;
use crate::docker;
use crate::error::{Error, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Runtime {
    Podman,
    Containerd,
    Docker,
}

impl fmt::Display for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Runtime::Podman => "podman",
            Runtime::Containerd => "containerd",
            Runtime::Docker => "docker",
        })
    }
}

/// The first runtime of this machine that can take an image, and why it was chosen.
///
/// The incremental ones come first: podman (daemonless, so installed is enough), then a
/// containerd whose socket exists; Docker, whose `docker load` reads every byte, last.
pub fn detect(containerd: &Containerd) -> Result<(Runtime, String)> {
    if let Some(path) = on_path("podman") {
        return Ok((Runtime::Podman, format!("{} is on PATH", path.display())));
    }
    if on_path("ctr").is_some() && containerd.address.exists() {
        return Ok((
            Runtime::Containerd,
            format!("its socket {} exists", containerd.address.display()),
        ));
    }
    if on_path("docker").is_some() && docker::check().is_ok() {
        return Ok((Runtime::Docker, "its daemon answers".to_owned()));
    }
    Err(Error::Runtime(format!(
        "no container runtime found: install podman, start containerd (socket {}; --address or $CONTAINERD_ADDRESS names another), or start Docker",
        containerd.address.display()
    )))
}

/// The platform of this machine's images, the default one to load out of an index.
pub fn host_platform() -> &'static str {
    if cfg!(target_arch = "aarch64") {
        "linux/arm64"
    } else {
        "linux/amd64"
    }
}

/// What a load sent and what the runtime already had.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    pub runtime: Runtime,
    pub image: String,
    pub sent: Written,
    /// Blobs the runtime had, which were not read from the layout.
    pub present: usize,
}

impl Summary {
    /// The summary of sending `sent` out of `blobs`.
    pub fn new(runtime: Runtime, image: &str, blobs: &[Blob], sent: Written) -> Self {
        Summary {
            runtime,
            image: image.to_owned(),
            sent,
            present: blobs.len() - sent.blobs,
        }
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "summary: runtime={} sent={} ({} bytes) present={} image={}",
            self.runtime, self.sent.blobs, self.sent.bytes, self.present, self.image
        )
    }
}
