//! File writes that never leave a half-written file at the destination: everything is written
//! to a temporary file in the destination's directory and renamed into place.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use tempfile::NamedTempFile;

/// A file being written; it appears at its destination only when [`AtomicFile::commit`] runs.
/// Dropping it without committing removes the temporary file.
pub struct AtomicFile {
    temp: NamedTempFile,
    destination: PathBuf,
}

impl AtomicFile {
    /// Starts writing `destination`, creating its parent directories.
    pub fn create(destination: &Path) -> Result<Self> {
        let parent = parent_dir(destination);
        fs::create_dir_all(parent)
            .with_context(|| format!("creating directory {}", parent.display()))?;
        let temp = tempfile::Builder::new()
            .prefix(".tmp-")
            // Temporary files are private (0600) by default; what we write (blobs, layouts,
            // descriptors) must be readable like any other build output, e.g. by a runtime
            // loading the layout under another user.
            .permissions(fs::Permissions::from_mode(0o644))
            .tempfile_in(parent)
            .with_context(|| format!("creating a temporary file in {}", parent.display()))?;
        Ok(AtomicFile {
            temp,
            destination: destination.to_owned(),
        })
    }

    /// The final path this file will have.
    pub fn destination(&self) -> &Path {
        &self.destination
    }

    /// Flushes and renames the file into place.
    pub fn commit(mut self) -> Result<()> {
        self.temp
            .as_file_mut()
            .flush()
            .with_context(|| format!("writing {}", self.destination.display()))?;
        let destination = self.destination;
        self.temp
            .persist(&destination)
            .map_err(|err| err.error)
            .with_context(|| format!("renaming a temporary file to {}", destination.display()))?;
        Ok(())
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.temp.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.temp.flush()
    }
}

/// Writes `bytes` to `destination` atomically.
pub fn write_atomic(destination: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = AtomicFile::create(destination)?;
    file.write_all(bytes)
        .with_context(|| format!("writing {}", destination.display()))?;
    file.commit()
}

/// Makes `destination` have the content of `source`: a hard link when both are on one
/// filesystem (layer blobs can be gigabytes; copying them into every layout would double the
/// disk and cache footprint), otherwise an atomic copy.
pub fn link_or_copy(source: &Path, destination: &Path) -> Result<()> {
    let parent = parent_dir(destination);
    fs::create_dir_all(parent)
        .with_context(|| format!("creating directory {}", parent.display()))?;
    // Bazel hands inputs to sandboxed actions as symlinks; link the file they point at.
    let resolved =
        fs::canonicalize(source).with_context(|| format!("resolving {}", source.display()))?;
    if fs::symlink_metadata(destination).is_ok() {
        fs::remove_file(destination)
            .with_context(|| format!("replacing {}", destination.display()))?;
    }
    if fs::hard_link(&resolved, destination).is_ok() {
        return Ok(());
    }
    let mut input =
        fs::File::open(&resolved).with_context(|| format!("opening {}", resolved.display()))?;
    let mut output = AtomicFile::create(destination)?;
    io::copy(&mut input, &mut output).with_context(|| {
        format!(
            "copying {} to {}",
            resolved.display(),
            destination.display()
        )
    })?;
    output.commit()
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uncommitted_file_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("sub/out.json");
        {
            let mut file = AtomicFile::create(&target).unwrap();
            file.write_all(b"partial").unwrap();
        }
        assert!(!target.exists());
        assert_eq!(fs::read_dir(dir.path().join("sub")).unwrap().count(), 0);
    }

    #[test]
    fn write_atomic_replaces_existing_content() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.json");
        write_atomic(&target, b"one").unwrap();
        write_atomic(&target, b"two").unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"two");
        let mode = fs::metadata(&target).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o644, "{mode:o}");
    }

    #[test]
    fn link_or_copy_follows_symlinked_sources() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real");
        fs::write(&real, b"blob").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let target = dir.path().join("layout/blobs/sha256/abc");
        link_or_copy(&link, &target).unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"blob");
        assert!(!fs::symlink_metadata(&target)
            .unwrap()
            .file_type()
            .is_symlink());
    }
}
