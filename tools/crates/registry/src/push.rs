//! Pushing image layouts: every blob confirmed present (HEAD, mount, or streamed upload), then
//! the manifest by digest, then the tags. Several images pushed together share one pool of
//! uploads, and a blob they share is transferred once.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::{anyhow, bail, Context, Result};
use sematic_oci_core::layout::{descriptor_digest, Layout, ResolvedImage};
use sematic_oci_core::media_type::{classify_manifest, ManifestKind};
use sematic_oci_core::platform::Platform;
use sematic_oci_core::reference::{validate_tag, Reference};
use sematic_oci_core::Digest;

use crate::blobs::{BlobReader, Mount, Upload};
use crate::pool::parallel;
use crate::progress::Progress;
use crate::transport::{lock, Attempt, Client, Registry};

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

impl Pushed {
    /// The stable summary format tests and scripts parse:
    /// `uploaded=N (B bytes) existed=N mounted=N streamed=N manifest=pushed|existed tags=a,b|-`.
    pub fn summary(&self) -> String {
        let c = &self.counts;
        format!(
            "uploaded={} ({} bytes) existed={} mounted={} streamed={} manifest={} tags={}",
            c.uploaded,
            c.uploaded_bytes,
            c.existed,
            c.mounted,
            c.streamed,
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

/// Where the bytes of a blob come from.
#[derive(Clone, Debug)]
enum Origin {
    File(PathBuf),
    /// Absent from a sparse layout: in this repository (mount or stream).
    Source(Reference),
}

struct Prepared {
    spec: ImageSpec,
    registry: Arc<Registry>,
    digest: Digest,
    media_type: String,
    manifest: Vec<u8>,
    blobs: Vec<(Digest, u64, Origin)>,
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
/// order; a failed image gets no manifest and no tag.
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
        for (digest, size, origin) in &prep.blobs {
            let repository = prep.spec.repository.repository.clone();
            let key = (
                prep.registry.name.clone(),
                repository.clone(),
                digest.clone(),
            );
            if let Some(&task) = by_target.get(&key) {
                tasks[task].images.push(image);
                continue;
            }
            let leader = first_in_registry
                .entry((prep.registry.name.clone(), digest.clone()))
                .or_insert(tasks.len());
            let leader = (*leader != tasks.len()).then_some(*leader);
            by_target.insert(key, tasks.len());
            tasks.push(Task {
                registry: prep.registry.clone(),
                repository,
                digest: digest.clone(),
                size: *size,
                origin: origin.clone(),
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

    let mut outcomes: Vec<Option<Result<Outcome>>> = outcomes
        .into_iter()
        .map(|m| m.into_inner().unwrap_or_else(|p| p.into_inner()))
        .collect();
    prepared
        .into_iter()
        .enumerate()
        .map(|(image, prep)| {
            let prep = prep?;
            let mut counts = Counts::default();
            if prep.manifest_existed {
                counts.existed = prep.blobs.len() as u64;
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

/// Pushes the manifest by digest, then the tags.
fn finish(client: &Client, prep: Prepared, counts: Counts, progress: &Progress) -> Result<Pushed> {
    let registry = &prep.registry;
    let repository = &prep.spec.repository.repository;
    let reference = prep.spec.repository.with_digest(prep.digest.clone());
    if !prep.manifest_existed {
        client
            .put_manifest(
                registry,
                repository,
                &prep.digest.to_string(),
                &prep.media_type,
                &prep.manifest,
                &prep.digest,
            )
            .with_context(|| {
                format!(
                    "pushing manifest {} to {}",
                    prep.digest, prep.spec.repository
                )
            })?;
        progress.event(&format!(
            "{}: manifest {} pushed",
            prep.spec.repository, prep.digest
        ));
    }
    for tag in &prep.spec.tags {
        client
            .put_manifest(
                registry,
                repository,
                tag,
                &prep.media_type,
                &prep.manifest,
                &prep.digest,
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
    let (layout, image) = read_layout(&spec.layout)?;
    let source = image
        .source
        .as_deref()
        .map(|s| {
            Reference::parse_repository(s)
                .with_context(|| format!("the source annotation of {}", spec.layout.display()))
        })
        .transpose()?;
    let mut blobs: Vec<(Digest, u64, Origin)> = Vec::new();
    for descriptor in std::iter::once(image.manifest.config()).chain(image.manifest.layers()) {
        let digest = descriptor_digest(descriptor)?;
        if blobs.iter().any(|(d, _, _)| d == &digest) {
            continue;
        }
        let origin = local_blob(&layout, &digest, descriptor.size())?
            .map(Origin::File)
            .or_else(|| source.clone().map(Origin::Source))
            .with_context(|| {
                format!(
                    "blob {digest} is missing from layout {} and its index.json names no source repository ({} annotation) to take it from",
                    spec.layout.display(),
                    sematic_oci_core::layout::SOURCE_ANNOTATION
                )
            })?;
        blobs.push((digest, descriptor.size(), origin));
    }
    let digest = descriptor_digest(&image.manifest_descriptor)?;
    let registry = client.registry(&spec.repository)?;
    let manifest_existed =
        client.manifest_exists(&registry, &spec.repository.repository, &digest)?;
    Ok(Prepared {
        spec: spec.clone(),
        registry,
        digest,
        media_type: image.manifest_descriptor.media_type().to_string(),
        manifest: image.manifest_bytes,
        blobs,
        manifest_existed,
    })
}

/// Opens a layout holding one image manifest (an index is refused: we push one platform).
fn read_layout(path: &Path) -> Result<(Layout, ResolvedImage)> {
    let layout = Layout::open(path)?;
    let index = layout.index()?;
    if let [entry] = index.manifests().as_slice() {
        if let ManifestKind::Index(_) = classify_manifest(entry.media_type().as_ref())? {
            bail!(
                "{} holds an image index; push a single-platform image layout",
                path.display()
            );
        }
    }
    // The platform only matters for indexes, refused above.
    let image = layout.resolve(&Platform::parse("linux/amd64")?, None)?;
    Ok((layout, image))
}

/// The manifest digest a push of the layout at `path` produces.
pub fn layout_digest(path: &Path) -> Result<Digest> {
    let (_, image) = read_layout(path)?;
    descriptor_digest(&image.manifest_descriptor)
}

/// The path of a blob the layout has, after checking its size.
fn local_blob(layout: &Layout, digest: &Digest, size: u64) -> Result<Option<PathBuf>> {
    let path = layout.blob_path(digest);
    let metadata = match std::fs::metadata(&path) {
        Ok(metadata) => metadata,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(err).with_context(|| format!("reading {}", path.display())),
    };
    if metadata.len() != size {
        bail!(
            "{} has {} bytes but the manifest says {size}",
            path.display(),
            metadata.len()
        );
    }
    Ok(Some(path))
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
    let upload = Upload {
        digest,
        size: task.size,
        session,
        transfer: &transfer,
    };
    match &task.origin {
        Origin::File(path) => {
            client.upload_blob(registry, repository, upload, &mut || open_file(path))?;
            progress.blob_done(
                "uploaded",
                &format!("{target}: {digest} uploaded ({} bytes)", task.size),
            );
            Ok(Outcome::Uploaded(task.size))
        }
        Origin::Source(source) => {
            let source_registry = client.registry(source)?;
            client.upload_blob(registry, repository, upload, &mut || {
                client.open_blob(&source_registry, &source.repository, digest)
            })?;
            progress.blob_done(
                "streamed",
                &format!("{target}: {digest} streamed from {source}"),
            );
            Ok(Outcome::Streamed)
        }
    }
}

fn open_file(path: &Path) -> Result<BlobReader, Attempt> {
    match File::open(path) {
        Ok(file) => Ok(Box::new(file)),
        Err(err) => Err(Attempt::Fail(
            anyhow!(err).context(format!("opening {}", path.display())),
        )),
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
