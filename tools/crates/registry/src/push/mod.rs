//! Pushing image layouts: every blob confirmed present (HEAD, mount, or streamed upload), then
//! the manifests by digest (an index's images before the index), then the tags. Several images
//! pushed together share one pool of uploads: a blob they share is transferred once, and an
//! image going to several repositories of one registry is uploaded to the first and mounted
//! into the others ([`plan`]). [`blob`] puts one blob in place, [`manifests`] finishes an image.

mod blob;
mod manifests;
mod plan;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use sematic_oci_core::reference::Reference;

use crate::error::{Context as _, Error, Result};
use crate::pool::parallel;
use crate::progress::Progress;
use crate::sync::{into_inner, lock};
use crate::transport::Client;
use blob::{ensure_blob, Outcome};
use manifests::finish;
use plan::{plan, prepare, start_order, Prepared, Task};

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
    let tasks = plan(&prepared);
    let outcomes = transfer(client, &tasks, specs.len(), jobs, progress);
    report(client, prepared, &tasks, outcomes, progress)
}

/// Runs every task, leaders first, so that followers can mount what the leaders put in
/// place, each group largest first ([`start_order`]); the outcome of each (`None`: not run,
/// every image needing it had failed).
fn transfer(
    client: &Client,
    tasks: &[Task],
    images: usize,
    jobs: usize,
    progress: &Progress,
) -> Vec<Option<Result<Outcome>>> {
    let failed: Vec<AtomicBool> = (0..images).map(|_| AtomicBool::new(false)).collect();
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
    progress.expect_blobs(tasks.len() as u64);
    let (leaders, followers) = start_order(tasks);
    parallel(jobs, &leaders, run);
    parallel(jobs, &followers, run);
    outcomes.into_iter().map(into_inner).collect()
}

/// Each image's counts, then its manifests and tags; or why it was not pushed.
fn report(
    client: &Client,
    prepared: Vec<Result<Prepared>>,
    tasks: &[Task],
    mut outcomes: Vec<Option<Result<Outcome>>>,
    progress: &Progress,
) -> Vec<Result<Pushed>> {
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
                        return Err(Error::Skipped(
                            "not pushed: a blob it shares with another image failed to push"
                                .to_owned(),
                        ))
                    }
                }
            }
            finish(client, prep, counts, progress)
        })
        .collect()
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
