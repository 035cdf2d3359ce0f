//! File writes that never leave a half-written file at the destination: everything is written
//! to a temporary file in the destination's directory and renamed into place. Whole directories
//! (image layouts) get the same treatment through [`StagedDir`].
//!
//! Temporaries are named `.<destination>.tmp-<pid>-<random>` (`.old-` for a replaced
//! directory on its way out): a run killed midway leaves them behind, and the next write of the
//! same destination removes those whose process is gone.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::error::{Context, Result};
use tempfile::{NamedTempFile, TempDir};

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
        remove_stale_temporaries(destination);
        let temp = tempfile::Builder::new()
            .prefix(&temp_prefix(destination, "tmp"))
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

/// A directory that appears at its destination complete or not at all: it is built under a
/// temporary name next to the destination and renamed into place, replacing any old one.
pub struct StagedDir {
    temp: TempDir,
    destination: PathBuf,
}

impl StagedDir {
    /// Starts a directory for `destination`; dropping it without `commit` removes it.
    pub fn create(destination: &Path) -> Result<Self> {
        let parent = parent_dir(destination);
        fs::create_dir_all(parent)
            .with_context(|| format!("creating directory {}", parent.display()))?;
        remove_stale_temporaries(destination);
        let temp = tempfile::Builder::new()
            .prefix(&temp_prefix(destination, "tmp"))
            .tempdir_in(parent)
            .with_context(|| format!("creating a temporary directory in {}", parent.display()))?;
        Ok(StagedDir {
            temp,
            destination: destination.to_owned(),
        })
    }

    pub fn path(&self) -> &Path {
        self.temp.path()
    }

    /// Renames the directory into place. An existing destination is first moved aside (and
    /// put back if the rename fails), then deleted.
    pub fn commit(self) -> Result<()> {
        let destination = &self.destination;
        let old = match fs::symlink_metadata(destination) {
            Ok(_) => {
                // rename(2) replaces an empty directory, so a fresh temporary one can receive it.
                let aside = tempfile::Builder::new()
                    .prefix(&temp_prefix(destination, "old"))
                    .tempdir_in(parent_dir(destination))
                    .context("creating a temporary directory")?;
                fs::rename(destination, aside.path()).with_context(|| {
                    format!("moving the old {} out of the way", destination.display())
                })?;
                Some(aside)
            }
            Err(_) => None,
        };
        let built = self.temp.keep();
        if let Err(err) = fs::rename(&built, destination) {
            if let Some(old) = &old {
                // Best effort: leave the previous output as it was.
                let _ = fs::rename(old.path(), destination);
            }
            let _ = fs::remove_dir_all(&built);
            return Err(err).with_context(|| format!("renaming into {}", destination.display()));
        }
        // `old` (the previous output) is deleted when dropped here.
        Ok(())
    }
}

/// `.<file name of destination>.<kind>-<pid>-`, to which tempfile adds a random part.
fn temp_prefix(destination: &Path, kind: &str) -> String {
    let name = destination
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!(".{name}.{kind}-{}-", std::process::id())
}

/// Removes the temporaries of `destination` left by runs that were killed: those whose process
/// no longer exists. Best effort: a leftover that cannot be removed is no reason to fail.
fn remove_stale_temporaries(destination: &Path) {
    let name = destination
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let Ok(entries) = fs::read_dir(parent_dir(destination)) else {
        return;
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = file_name.strip_prefix(&format!(".{name}.")) else {
            continue;
        };
        let pid = rest
            .strip_prefix("tmp-")
            .or_else(|| rest.strip_prefix("old-"))
            .and_then(|r| r.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok());
        let Some(pid) = pid else { continue };
        if pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        let path = entry.path();
        let _ = if path.is_dir() {
            fs::remove_dir_all(&path)
        } else {
            fs::remove_file(&path)
        };
    }
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

    #[test]
    fn temporaries_of_dead_runs_are_removed_and_live_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("layout");
        // PID 2^22 + 1 is above Linux's pid_max: no process has it.
        let dead = dir.path().join(".layout.tmp-4194305-abc");
        let dead_old = dir.path().join(".layout.old-4194305-def");
        let live = dir.path().join(format!(
            ".layout.tmp-{}-ghi",
            std::os::unix::process::parent_id()
        ));
        let other = dir.path().join(".other.tmp-4194305-abc");
        for path in [&dead, &dead_old, &live, &other] {
            fs::create_dir(path).unwrap();
        }
        let staged = StagedDir::create(&target).unwrap();
        staged.commit().unwrap();
        assert!(!dead.exists() && !dead_old.exists());
        assert!(live.exists() && other.exists());
    }

    #[test]
    fn commit_replaces_and_drop_discards() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("layout");
        fs::create_dir(&target).unwrap();
        fs::write(target.join("stale"), b"old").unwrap();

        let staged = StagedDir::create(&target).unwrap();
        fs::write(staged.path().join("index.json"), b"{}").unwrap();
        drop(staged);
        assert!(target.join("stale").exists());

        let staged = StagedDir::create(&target).unwrap();
        fs::write(staged.path().join("index.json"), b"{}").unwrap();
        staged.commit().unwrap();
        assert!(target.join("index.json").exists());
        assert!(!target.join("stale").exists());
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec!["layout"]);
    }
}
