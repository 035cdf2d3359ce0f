//! Writing the loadable tarball to a file.

use std::io::BufWriter;
use std::path::Path;

use sematic_oci_core::fsutil::AtomicFile;
use sematic_oci_core::platform::Platform;

use crate::archive::{Archive, RepoTag};
use crate::error::{Context, Result};

const WRITE_BUFFER: usize = 1 << 20;

/// Writes the tarball for the image of `layout` (choosing `platform` from an index) to
/// `output`, atomically. Every blob must be in the layout.
pub fn pack(
    layout: &Path,
    platform: &Platform,
    repo_tags: &[RepoTag],
    output: &Path,
) -> Result<()> {
    let archive = Archive::open(layout, platform, repo_tags)?;
    archive.require(
        |_| true,
        "and a tarball needs every layer: build on a complete base layout (pulled with its layers) or push the image instead",
    )?;
    let mut file = AtomicFile::create(output)?;
    archive
        .write(BufWriter::with_capacity(WRITE_BUFFER, &mut file), |_| true)
        .with_context(|| format!("writing {}", output.display()))?;
    Ok(file.commit()?)
}
