//! What a push does: each image read and checked, and the blob transfers it needs, each blob
//! moved once per repository. The first transfer of a blob to a registry leads; the same blob
//! for another repository of that registry follows it and is mounted from the leader's
//! repository once the leader is done.

use std::cmp::Reverse;
use std::collections::HashMap;
use std::sync::Arc;

use sematic_oci_core::reference::validate_tag;
use sematic_oci_core::Digest;

use super::ImageSpec;
use crate::error::{Error, Result};
use crate::pushable::{read_pushable, Origin, Pushable};
use crate::transport::{Client, Registry};

/// An image read from its layout, its registry connected.
pub(super) struct Prepared {
    pub spec: ImageSpec,
    pub registry: Arc<Registry>,
    pub content: Pushable,
    /// The repository already has the image's manifest: nothing to transfer.
    pub manifest_existed: bool,
}

/// One blob to put in one repository.
pub(super) struct Task {
    pub registry: Arc<Registry>,
    pub repository: String,
    pub digest: Digest,
    pub size: u64,
    pub origin: Origin,
    /// The images (indices of the push) that need it; the first one counts it.
    pub images: Vec<usize>,
    /// Another task moving the same blob to another repository of the same registry; once
    /// it is done this one mounts from there.
    pub leader: Option<usize>,
}

/// Reads the layout, checks that every blob can be found, and connects to the registry.
pub(super) fn prepare(client: &Client, spec: &ImageSpec) -> Result<Prepared> {
    for tag in &spec.tags {
        validate_tag(tag).map_err(Error::local)?;
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

/// The transfers the prepared images need (images that failed to prepare, or whose manifest
/// the repository has, need none).
pub(super) fn plan(prepared: &[Result<Prepared>]) -> Vec<Task> {
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
    tasks
}

/// The order transfers start in: every leader, then the followers that mount from them, each
/// group largest blob first (ties in image order). A push ends with its last transfer, and one
/// connection carries less than a long link can (its TCP window over the round trip): begun
/// last, a big layer would go on alone while the other jobs sit idle.
pub(super) fn start_order(tasks: &[Task]) -> (Vec<usize>, Vec<usize>) {
    largest_first(tasks.iter().map(|task| (task.size, task.leader.is_some())))
}

/// Indices of `(size, follows)` items: those that do not follow, then those that do, each
/// by size descending, then index.
fn largest_first(items: impl Iterator<Item = (u64, bool)>) -> (Vec<usize>, Vec<usize>) {
    let items: Vec<(u64, bool)> = items.collect();
    let (mut leaders, mut followers): (Vec<usize>, Vec<usize>) =
        (0..items.len()).partition(|&i| !items[i].1);
    for group in [&mut leaders, &mut followers] {
        group.sort_by_key(|&i| (Reverse(items[i].0), i));
    }
    (leaders, followers)
}

#[cfg(test)]
mod tests {
    use super::largest_first;

    #[test]
    fn leaders_then_followers_each_largest_first() {
        let items = [
            (10, false),
            (300, true),
            (900, false),
            (10, false),
            (50, true),
        ];
        assert_eq!(
            largest_first(items.into_iter()),
            (vec![2, 0, 3], vec![1, 4])
        );
        assert_eq!(largest_first(std::iter::empty()), (vec![], vec![]));
    }
}
