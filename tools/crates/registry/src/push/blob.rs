//! Putting one blob in place: already there, mounted from another repository of the
//! registry, or transferred (uploaded from the layout, or streamed from its source registry).

use std::fs::File;
use std::path::Path;

use super::plan::Task;
use crate::blobs::{BlobReader, Mount};
use crate::error::{Error, Result};
use crate::progress::Progress;
use crate::pushable::Origin;
use crate::transport::{Attempt, Client};
use crate::upload::{Source, Upload};

/// How a blob came to be in its repository.
#[derive(Clone, Copy, Debug)]
pub(super) enum Outcome {
    Existed,
    Mounted,
    Uploaded(u64),
    Streamed,
}

pub(super) fn ensure_blob(
    client: &Client,
    task: &Task,
    mount_from: Option<&str>,
    progress: &Progress,
) -> Result<Outcome> {
    let registry = &task.registry;
    let (repository, digest) = (task.repository.as_str(), &task.digest);
    let target = format!("{}/{repository}", registry.name);
    if client.blob_exists(registry, repository, digest)? {
        progress.blob_done("existed", &format!("{target}: {digest} exists"));
        return Ok(Outcome::Existed);
    }
    // A sibling repository that just received the blob, else the sparse layout's source
    // when it lives on this registry.
    let same_registry_source = match &task.origin {
        Origin::Source(source)
            if source.registry == registry.name && source.repository != repository =>
        {
            Some(source.repository.as_str())
        }
        _ => None,
    };
    let mut session = None;
    if let Some(from) = mount_from.or(same_registry_source) {
        match client.mount_blob(registry, repository, digest, from) {
            Ok(Mount::Mounted) => {
                progress.blob_done(
                    "mounted",
                    &format!("{target}: {digest} mounted from {from}"),
                );
                return Ok(Outcome::Mounted);
            }
            // Declined: the registry opened an ordinary upload session instead.
            Ok(Mount::Session(location)) => session = Some(location),
            // Refused (no mounts here, or no read access to `from`): transfer it instead.
            Err(err) if err.status().is_some() => progress.event(&format!(
                "{target}: mounting {digest} from {from} was refused ({err}); transferring it"
            )),
            Err(err) => return Err(err),
        }
    }
    let transfer = progress.transfer(format!("{repository} {}", &digest.hex()[..12]), task.size);
    let upload = |source| Upload {
        digest,
        size: task.size,
        session,
        transfer: &transfer,
        source,
    };
    match &task.origin {
        Origin::File(path) => {
            let upload = upload(Source::File(path));
            client.upload_blob(registry, repository, upload, &mut || open_file(path))?;
            progress.blob_done(
                "uploaded",
                &format!("{target}: {digest} uploaded ({} bytes)", task.size),
            );
            Ok(Outcome::Uploaded(task.size))
        }
        Origin::Source(source) => {
            let source_registry = client.registry(source)?;
            let name = source.name();
            let upload = upload(Source::Registry(&name));
            client.upload_blob(registry, repository, upload, &mut || {
                client.open_blob(&source_registry, &source.repository, digest, task.size)
            })?;
            progress.blob_done(
                "streamed",
                &format!("{target}: {digest} streamed from {source}"),
            );
            Ok(Outcome::Streamed)
        }
    }
}

/// The layout's blob file.
fn open_file(path: &Path) -> Result<BlobReader, Attempt> {
    match File::open(path) {
        Ok(file) => Ok(Box::new(file)),
        Err(err) => Err(Attempt::Fail(Error::Local(format!(
            "opening {}: {err}",
            path.display()
        )))),
    }
}
