//! Pushing image layouts: every blob confirmed present (HEAD, mount, or streamed upload), then
//! the manifests by digest (an index's images before the index), then the tags. Several images pushed together share one pool of
//! uploads, and a blob they share is transferred once.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::{bail, Context, Result};
use sematic_oci_core::reference::{validate_tag, Reference};
use sematic_oci_core::Digest;

use crate::blobs::{BlobReader, Mount};
use crate::error::Error;
use crate::pool::parallel;
use crate::progress::Progress;
use crate::pushable::{read_pushable, Origin, Pushable};
use crate::sync::{into_inner, lock};
use crate::transport::{Attempt, Client, Registry};
use crate::upload::{Source, Upload};

pub use crate::pushable::layout_digest;

/// One image to push.
#[derive(Clone, Debug)]
pub struct ImageSpec {
    /// Names the image in messages (a launch key, or the layout path).
    pub label: String,
    pub layout: PathBuf,
    /// `registry/repository`, without tag or digest.
    pub repository: Reference,
    pub tags: Vec<String>,
}

/// What happened to the blobs of one image.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Blobs uploaded from the layout, and their bytes.
    pub uploaded: u64,
    pub uploaded_bytes: u64,
    /// Blobs the repository already had.
    pub existed: u64,
    /// Blobs linked from another repository of the same registry.
    pub mounted: u64,
    /// Blobs copied from the source registry of a sparse layout (never touching disk).
    pub streamed: u64,
}

/// A pushed image.
#[derive(Clone, Debug)]
pub struct Pushed {
    /// `registry/repository@sha256:…`.
    pub reference: Reference,
    pub counts: Counts,
    /// The repository already had the manifest, so no blob needed checking.
    pub manifest_existed: bool,
    pub tags: Vec<String>,
}

impl Counts {
    /// `uploaded=N (B bytes) existed=N mounted=N streamed=N`.
    pub fn summary(&self) -> String {
        format!(
            "uploaded={} ({} bytes) existed={} mounted={} streamed={}",
            self.uploaded, self.uploaded_bytes, self.existed, self.mounted, self.streamed
        )
    }

    /// Adds the blobs of `other`.
    pub fn add(&mut self, other: &Counts) {
        self.uploaded += other.uploaded;
        self.uploaded_bytes += other.uploaded_bytes;
        self.existed += other.existed;
        self.mounted += other.mounted;
        self.streamed += other.streamed;
    }
}

impl Pushed {
    /// The stable summary format tests and scripts parse:
    /// `uploaded=N (B bytes) existed=N mounted=N streamed=N manifest=pushed|existed tags=a,b|-`.
    pub fn summary(&self) -> String {
        format!(
            "{} manifest={} tags={}",
            self.counts.summary(),
            if self.manifest_existed {
                "existed"
            } else {
                "pushed"
            },
            if self.tags.is_empty() {
                "-".to_owned()
            } else {
                self.tags.join(",")
            }
        )
    }
}

struct Prepared {
    spec: ImageSpec,
    registry: Arc<Registry>,
    content: Pushable,
    manifest_existed: bool,
}

#[derive(Clone, Copy, Debug)]
enum Outcome {
    Existed,
    Mounted,
    Uploaded(u64),
    Streamed,
}

struct Task {
    registry: Arc<Registry>,
    repository: String,
    digest: Digest,
    size: u64,
    origin: Origin,
    images: Vec<usize>,
    /// Another task moving the same blob to another repository of the same registry; once
    /// it is done this one mounts from there.
    leader: Option<usize>,
}

/// Pushes `specs` with at most `jobs` blob transfers at a time. One result per spec, in
/// order; a failed image gets no manifest and no tag. A blob several images need in one
/// repository moves once and is counted with the first of them.
pub fn push_images(
    client: &Client,
    specs: &[ImageSpec],
    jobs: usize,
    progress: &Progress,
) -> Vec<Result<Pushed>> {
    let prepared: Vec<Result<Prepared>> = specs
        .iter()
        .map(|spec| {
            prepare(client, spec).with_context(|| format!("preparing {} for push", spec.label))
        })
        .collect();

    let mut tasks: Vec<Task> = Vec::new();
    let mut by_target: HashMap<(String, String, Digest), usize> = HashMap::new();
    let mut first_in_registry: HashMap<(String, Digest), usize> = HashMap::new();
    for (image, prep) in prepared.iter().enumerate() {
        let Ok(prep) = prep else { continue };
        if prep.manifest_existed {
            continue;
        }
        for blob in &prep.content.blobs {
            let repository = prep.spec.repository.repository.clone();
            let key = (
                prep.registry.name.clone(),
                repository.clone(),
                blob.digest.clone(),
            );
            if let Some(&task) = by_target.get(&key) {
                tasks[task].images.push(image);
                continue;
            }
            let leader = first_in_registry
                .entry((prep.registry.name.clone(), blob.digest.clone()))
                .or_insert(tasks.len());
            let leader = (*leader != tasks.len()).then_some(*leader);
            by_target.insert(key, tasks.len());
            tasks.push(Task {
                registry: prep.registry.clone(),
                repository,
                digest: blob.digest.clone(),
                size: blob.size,
                origin: blob.origin.clone(),
                images: vec![image],
                leader,
            });
        }
    }

    let failed: Vec<AtomicBool> = specs.iter().map(|_| AtomicBool::new(false)).collect();
    let outcomes: Vec<Mutex<Option<Result<Outcome>>>> =
        tasks.iter().map(|_| Mutex::new(None)).collect();
    let run = |index: &usize| {
        let task = &tasks[*index];
        if task
            .images
            .iter()
            .all(|&i| failed[i].load(Ordering::Relaxed))
        {
            return;
        }
        let mount_from = task.leader.and_then(|leader| {
            let done = matches!(*lock(&outcomes[leader]), Some(Ok(_)));
            done.then(|| tasks[leader].repository.clone())
        });
        let result =
            ensure_blob(client, task, mount_from.as_deref(), progress).with_context(|| {
                format!(
                    "pushing blob {} to {}/{}",
                    task.digest, task.registry.name, task.repository
                )
            });
        if result.is_err() {
            for &image in &task.images {
                failed[image].store(true, Ordering::Relaxed);
            }
        }
        *lock(&outcomes[*index]) = Some(result);
    };
    // Leaders first, so that followers can mount what the leaders put in place.
    progress.expect_blobs(tasks.len() as u64);
    let (leaders, followers): (Vec<usize>, Vec<usize>) =
        (0..tasks.len()).partition(|&t| tasks[t].leader.is_none());
    parallel(jobs, &leaders, run);
    parallel(jobs, &followers, run);

    let mut outcomes: Vec<Option<Result<Outcome>>> = outcomes.into_iter().map(into_inner).collect();
    prepared
        .into_iter()
        .enumerate()
        .map(|(image, prep)| {
            let prep = prep?;
            let mut counts = Counts::default();
            if prep.manifest_existed {
                counts.existed = prep.content.blobs.len() as u64;
            }
            let mine: Vec<usize> = (0..tasks.len())
                .filter(|&t| tasks[t].images.contains(&image))
                .collect();
            // The image's own failure first; an error shared by several images is reported
            // with the first of them, the others say why briefly.
            if let Some(&t) = mine.iter().find(|&&t| matches!(outcomes[t], Some(Err(_)))) {
                if let Some(Some(Err(err))) = outcomes.get_mut(t).map(Option::take) {
                    return Err(err);
                }
            }
            for &t in &mine {
                if tasks[t].images[0] != image {
                    // Counted with the first image that needed it: each blob once.
                    if outcomes[t].as_ref().is_some_and(|o| o.is_ok()) {
                        continue;
                    }
                }
                match &outcomes[t] {
                    Some(Ok(Outcome::Existed)) => counts.existed += 1,
                    Some(Ok(Outcome::Mounted)) => counts.mounted += 1,
                    Some(Ok(Outcome::Streamed)) => counts.streamed += 1,
                    Some(Ok(Outcome::Uploaded(bytes))) => {
                        counts.uploaded += 1;
                        counts.uploaded_bytes += *bytes;
                    }
                    Some(Err(_)) | None => {
                        bail!("not pushed: a blob it shares with another image failed to push")
                    }
                }
            }
            finish(client, prep, counts, progress)
        })
        .collect()
}

/// Pushes the manifests by digest (an index's images, then the index), then the tags.
fn finish(client: &Client, prep: Prepared, counts: Counts, progress: &Progress) -> Result<Pushed> {
    let registry = &prep.registry;
    let repository = &prep.spec.repository.repository;
    let top = prep.content.top();
    let reference = prep.spec.repository.with_digest(top.digest.clone());
    if !prep.manifest_existed {
        for manifest in &prep.content.manifests {
            client
                .put_manifest(
                    registry,
                    repository,
                    &manifest.digest.to_string(),
                    &manifest.media_type,
                    &manifest.bytes,
                    &manifest.digest,
                )
                .with_context(|| {
                    format!(
                        "pushing manifest {} to {}",
                        manifest.digest, prep.spec.repository
                    )
                })?;
            progress.event(&format!(
                "{}: manifest {} pushed",
                prep.spec.repository, manifest.digest
            ));
        }
    }
    for tag in &prep.spec.tags {
        client
            .put_manifest(
                registry,
                repository,
                tag,
                &top.media_type,
                &top.bytes,
                &top.digest,
            )
            .with_context(|| format!("tagging {reference} as {tag}"))?;
        progress.event(&format!("{}: tagged {tag}", prep.spec.repository));
    }
    Ok(Pushed {
        reference,
        counts,
        manifest_existed: prep.manifest_existed,
        tags: prep.spec.tags,
    })
}

/// Reads the layout, checks that every blob can be found, and connects to the registry.
fn prepare(client: &Client, spec: &ImageSpec) -> Result<Prepared> {
    for tag in &spec.tags {
        validate_tag(tag)?;
    }
    let content = read_pushable(&spec.layout)?;
    let registry = client.registry(&spec.repository)?;
    let manifest_existed = client.manifest_exists(
        &registry,
        &spec.repository.repository,
        &content.top().digest,
    )?;
    Ok(Prepared {
        spec: spec.clone(),
        registry,
        content,
        manifest_existed,
    })
}

fn ensure_blob(
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
        match client.mount_blob(registry, repository, digest, from)? {
            Mount::Mounted => {
                progress.blob_done(
                    "mounted",
                    &format!("{target}: {digest} mounted from {from}"),
                );
                return Ok(Outcome::Mounted);
            }
            // Declined: the registry opened an ordinary upload session instead.
            Mount::Session(location) => session = Some(location),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_format_is_stable() {
        let pushed = Pushed {
            reference: Reference::parse("127.0.0.1:5000/a/b").unwrap(),
            counts: Counts {
                uploaded: 2,
                uploaded_bytes: 1234,
                existed: 5,
                mounted: 1,
                streamed: 0,
            },
            manifest_existed: false,
            tags: vec!["main_default".into(), "v1".into()],
        };
        assert_eq!(
            pushed.summary(),
            "uploaded=2 (1234 bytes) existed=5 mounted=1 streamed=0 manifest=pushed tags=main_default,v1"
        );
        let none = Pushed {
            manifest_existed: true,
            tags: vec![],
            ..pushed
        };
        assert!(none.summary().ends_with("manifest=existed tags=-"));
    }
}
