//! Loading into Docker: `docker load` of the whole archive. Not incremental: the classic
//! image store takes no partial archive, and Docker reads every byte of what it is given.

use std::process::Command;

use sematic_tarball::archive::Archive;

use crate::command::{feed, on_path, output};
use crate::error::{Error, Result};
use crate::runtime::{Runtime, Summary};

/// Fails unless the Docker client is installed and its daemon answers.
pub fn check() -> Result<()> {
    if on_path("docker").is_none() {
        return Err(Error::Runtime(
            "docker is not on PATH: install Docker, or choose --runtime podman or containerd"
                .to_owned(),
        ));
    }
    output(Command::new("docker").args(["version", "--format", "{{.Server.Version}}"]))
        .map_err(|err| {
            Error::Runtime(format!(
                "Docker's daemon does not answer ({err}): start it (or set $DOCKER_HOST), or choose --runtime podman or containerd"
            ))
        })?;
    Ok(())
}

/// `docker load` of every blob of the archive's image.
pub fn load(archive: &Archive, image: &str) -> Result<Summary> {
    check()?;
    archive.require(
        |_| true,
        "and docker load needs every layer: build on a base pulled with its layers (layers = \"all\"), or use --runtime podman or containerd",
    )?;
    let sent = feed(Command::new("docker").args(["load", "--quiet"]), |stdin| {
        Ok(archive.write(stdin, |_| true)?)
    })?;
    Ok(Summary::new(Runtime::Docker, image, archive.blobs(), sent))
}
