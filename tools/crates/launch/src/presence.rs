//! Launching without pushing (`<pipeline>_binary`) names images by digest; if the registry
//! does not hold them, the pipeline fails in the cluster when a worker pulls its image. One
//! `HEAD` per image says so here first: a warning, never a failure (the registry may be
//! unreachable from this machine and reachable from the cluster).

use sematic_oci_core::Digest;
use sematic_registry::push::ImageSpec;
use sematic_registry::Client;

use crate::PROGRAM;

/// Warns on stderr for every image the registry does not hold, or could not be asked about.
pub fn warn_unpushed(client: &Client, specs: &[ImageSpec], digests: &[Digest]) {
    for (spec, digest) in specs.iter().zip(digests) {
        let uri = spec.repository.with_digest(digest.clone());
        let held = client.registry(&spec.repository).and_then(|registry| {
            client.manifest_exists(&registry, &spec.repository.repository, digest)
        });
        let warning = match held {
            Ok(true) => continue,
            Ok(false) => format!(
                "{PROGRAM}: warning: image {} ({uri}) is not in the registry, so the cluster cannot pull it: push it first (bazel run the pipeline target, which pushes, or its _push targets)",
                spec.label
            ),
            Err(err) => format!(
                "{PROGRAM}: warning: could not check that image {} ({uri}) is in the registry: {err:#}",
                spec.label
            ),
        };
        eprintln!("{}", sematic_cli::terminal_safe(&warning));
    }
}
