//! Writing a plan into the layer's tar, reading file contents as it goes and noting the facts
//! of the ELF files it writes.

use std::fs::File;
use std::io::{self, BufReader};

use sematic_oci_core::archive::{Owner, TarWriter};
use sematic_oci_core::native_report::ElfFacts;

use super::{Node, Plan, FILE_MODE, READ_BUFFER};
use crate::elf;
use crate::error::{Context, Error, Result};
use crate::sniff::MagicSniffer;

impl Plan {
    /// Writes every node, in order, reading file contents as it goes. With `native`, the
    /// facts of every ELF file written are added to it.
    pub fn write<W: io::Write>(
        &self,
        tar: &mut TarWriter<W>,
        mut native: Option<&mut Vec<ElfFacts>>,
    ) -> Result<()> {
        for (name, planned) in &self.nodes {
            let context = || self.describe_origin(name, planned.origin);
            match &planned.node {
                Node::Dir { mode, .. } => tar
                    .directory(name.as_bytes(), Owner::root(*mode))
                    .map_err(Error::from),
                Node::Empty => tar
                    .file(name.as_bytes(), Owner::root(FILE_MODE), 0, io::empty())
                    .map_err(Error::from),
                Node::Symlink { target } => tar
                    .symlink(name.as_bytes(), target.as_bytes(), Owner::root(0o777))
                    .map_err(Error::from),
                Node::File { source, mode } => {
                    let file = File::open(source)
                        .with_context(|| format!("opening {}", source.display()))
                        .with_context(context)?;
                    let size = file
                        .metadata()
                        .with_context(|| format!("reading {}", source.display()))
                        .with_context(context)?
                        .len();
                    let mut content =
                        MagicSniffer::new(BufReader::with_capacity(READ_BUFFER, file));
                    tar.file(name.as_bytes(), Owner::root(*mode), size, &mut content)
                        .with_context(|| format!("copying {}", source.display()))
                        .with_context(context)?;
                    match native.as_deref_mut() {
                        Some(native) if content.is_elf() => {
                            let file = content.into_inner().into_inner();
                            elf::read_facts(format!("/{name}"), &file, size)
                                .map(|facts| native.push(facts))
                                .with_context(|| format!("reading {}", source.display()))
                                .map_err(Error::from)
                        }
                        _ => Ok(()),
                    }
                }
            }
            .with_context(context)?;
        }
        Ok(())
    }
}
