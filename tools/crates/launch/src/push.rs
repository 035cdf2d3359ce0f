//! Pushing every image of a launch, and reporting the pushes.

use sematic_oci_core::Digest;
use sematic_registry::progress::Progress;
use sematic_registry::push::{push_images, Counts, ImageSpec};
use sematic_registry::Client;

use crate::{Error, Result, PROGRAM};

/// Pushes every image (`jobs` blobs at a time), then prints a summary per key (each blob
/// counted once, with the first key that needed it) and a total; the URIs by key, or an error
/// if any push failed or gave another digest than the layout's.
pub fn push_all(
    client: &Client,
    specs: &[ImageSpec],
    digests: &[Digest],
    jobs: usize,
    progress: &Progress,
) -> Result<Vec<(String, String)>> {
    let results = push_images(client, specs, jobs, progress);
    progress.finish();
    let mut uris = Vec::new();
    let mut total = Counts::default();
    let mut failed = false;
    for ((spec, expected), result) in specs.iter().zip(digests).zip(results) {
        let verified = result.map_err(Error::from).and_then(|pushed| {
            if pushed.reference.digest.as_ref() != Some(expected) {
                return Err(Error::Push(format!(
                    "the registry holds {} but the layout's manifest is {expected}",
                    pushed.reference
                )));
            }
            Ok(pushed)
        });
        match verified {
            Ok(pushed) => {
                let line = format!(
                    "{PROGRAM}: summary: key={} {}",
                    spec.label,
                    pushed.summary()
                );
                eprintln!("{}", sematic_cli::terminal_safe(&line));
                total.add(&pushed.counts);
                uris.push((spec.label.clone(), pushed.reference.to_string()));
            }
            Err(err) => {
                sematic_cli::error(PROGRAM, &format!("image {}: {err}", spec.label));
                failed = true;
            }
        }
    }
    if failed {
        return Err(Error::Push(
            "not launching: an image failed to push".to_owned(),
        ));
    }
    eprintln!(
        "{PROGRAM}: total: {} images={}",
        total.summary(),
        uris.len()
    );
    Ok(uris)
}
