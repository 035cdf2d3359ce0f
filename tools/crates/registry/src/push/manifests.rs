//! Finishing a pushed image: its manifests by digest (an index's images, then the index), then
//! its tags.

use super::plan::Prepared;
use super::{Counts, Pushed};
use crate::error::{Context as _, Result};
use crate::progress::Progress;
use crate::transport::Client;

/// Pushes the manifests by digest (an index's images, then the index), then the tags.
pub(super) fn finish(
    client: &Client,
    prep: Prepared,
    counts: Counts,
    progress: &Progress,
) -> Result<Pushed> {
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
