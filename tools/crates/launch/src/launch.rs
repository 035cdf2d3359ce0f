//! One launch from start to exec: everything that can be checked before a push is checked
//! first ([`Launch::prepare`]), so nothing is pushed for a launch that cannot happen; the
//! binary then pushes (or checks presence) with a client built from its flags, and
//! [`Launch::exec`] replaces the process with the launch script.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use sematic_cli::stamp::Status;
use sematic_cli::terminal_safe;
use sematic_oci_core::Digest;
use sematic_registry::push::{layout_digest, ImageSpec};

use crate::config::{check_executable, tls_settings, LaunchConfig};
use sematic_oci_core::error::Contextual;

use crate::error::{Context, Error, Result};
use crate::{environment, server, PROGRAM};

/// A launch whose config, images, script and server were found usable.
#[derive(Debug)]
pub struct Launch {
    runfiles: PathBuf,
    config: LaunchConfig,
    binary: PathBuf,
    /// One per image of the config, in its order.
    pub specs: Vec<ImageSpec>,
    /// The manifest digest each of `specs` pushes.
    pub digests: Vec<Digest>,
}

impl Launch {
    /// Reads the config (`config`, or that path under `runfiles_dir`), stamps its tags from
    /// `status`, checks the launch script and every image layout and, when `check_server`
    /// and there are images, that the Sematic server answers.
    pub fn prepare(
        runfiles_dir: &Path,
        config: &Path,
        status: &Status,
        check_server: bool,
    ) -> Result<Self> {
        let runfiles = std::path::absolute(runfiles_dir)
            .with_context(|| format!("resolving {}", runfiles_dir.display()))?;
        let config_path = if config.exists() {
            config.to_owned()
        } else {
            runfiles.join(config)
        };
        let config = LaunchConfig::read(&config_path)?;
        let specs = config.image_specs(&runfiles, status)?;
        let binary = runfiles.join(&config.launch_binary);
        check_executable(&binary)?;
        let digests = specs
            .iter()
            .map(|spec| {
                layout_digest(&spec.layout)
                    .map_err(Error::from)
                    .with_context(|| format!("image {}", spec.label))
            })
            .collect::<Result<Vec<_>>>()?;
        if check_server && !specs.is_empty() {
            server::check_reachable(PROGRAM)?;
        }
        Ok(Launch {
            runfiles,
            config,
            binary,
            specs,
            digests,
        })
    }

    /// The CA files the images' registries are trusted with, and the registries allowed
    /// plain HTTP and unverified TLS.
    pub fn tls_settings(&self) -> (Vec<PathBuf>, BTreeSet<String>) {
        tls_settings(&self.config, &self.runfiles, &self.specs)
    }

    /// `(key, URI)` of every image as its layout's digest names it, for a launch that pushes
    /// nothing.
    pub fn layout_uris(&self) -> Vec<(String, String)> {
        self.specs
            .iter()
            .zip(&self.digests)
            .map(|(spec, digest)| {
                let uri = spec.repository.with_digest(digest.clone()).to_string();
                (spec.label.clone(), uri)
            })
            .collect()
    }

    /// Runs the launch script in place of this process with `args`, the image `uris` in
    /// Sematic's environment variables and RUNFILES_DIR set. Returns only if it cannot run.
    pub fn exec(&self, uris: Vec<(String, String)>, args: &[OsString]) -> Error {
        let uris = environment::sorted_keys(uris);
        for (key, uri) in &uris {
            eprintln!("{}", terminal_safe(&format!("{PROGRAM}: {key} -> {uri}")));
        }
        let mut command = Command::new(&self.binary);
        command.args(args).env("RUNFILES_DIR", &self.runfiles);
        environment::apply(&mut command, &uris);
        let err = command.exec();
        Error::from(err).context(format!("executing {}", self.binary.display()))
    }
}
