//! A layer, a piece of one, or a layer split into parts, from a manifest: the plan built, then
//! written in one pass with its descriptor and, if asked for, the report of its native code.

use std::path::Path;

use sematic_oci_core::media_type::Compression;
use sematic_oci_core::native_report::NativeReport;

use crate::assemble::BlobArg;
use crate::error::Result;
use crate::manifest::Manifest;
use crate::plan::Plan;
use crate::stream::LayerStream;

/// Where and how a layer is written.
#[derive(Clone, Copy, Debug)]
pub struct Target<'a> {
    pub blob: &'a Path,
    pub descriptor: &'a Path,
    pub compression: Compression,
    /// Compression threads; the bytes do not depend on them.
    pub jobs: usize,
    /// For eStargz layers: paths (as in the tar) written before the prefetch landmark.
    pub prioritized: &'a [String],
}

impl Target<'_> {
    /// Starts writing the layer (not a piece) this target describes.
    pub fn layer_stream(&self) -> Result<LayerStream> {
        let (blob, compression, jobs) = (self.blob, self.compression, self.jobs);
        LayerStream::create_prioritized(blob, compression, jobs, self.prioritized)
    }
}

/// Writes the layer of `manifest` (only what is at or below `piece`, as a piece, if given)
/// and, with `native_report`, the facts of its ELF files (of every part, in one report). With
/// `parts`, the layer is split by file ([`Plan::split`]): `target` gets the first part, each
/// of `parts` one more, written like `target`. Nothing is renamed into place unless every
/// output is complete.
pub fn write(
    manifest: &Path,
    piece: Option<&str>,
    native_report: Option<&Path>,
    target: &Target,
    parts: &[BlobArg],
) -> Result<()> {
    let mut plan = Plan::build(&Manifest::read(manifest)?)?;
    let mut native = native_report.map(|_| NativeReport::default());
    let mut prepared = Vec::new();
    if let Some(root) = piece {
        plan.restrict_to(root)?;
        let mut stream = LayerStream::create_piece(target.blob, target.compression, target.jobs)?;
        plan.write(stream.tar(), native.as_mut().map(|report| &mut report.elf))?;
        let (first, last) = plan.first_and_last().unwrap_or(("", ""));
        let piece = stream.finish_piece(first, last)?;
        prepared.push((piece.blob, piece.descriptor.prepare(target.descriptor)?));
    } else {
        let targets = std::iter::once(*target).chain(parts.iter().map(|part| Target {
            blob: &part.blob,
            descriptor: &part.descriptor,
            ..*target
        }));
        let plans = if parts.is_empty() {
            vec![plan]
        } else {
            plan.split(1 + parts.len())?
        };
        for (plan, target) in plans.into_iter().zip(targets) {
            let mut stream = target.layer_stream()?;
            plan.write(stream.tar(), native.as_mut().map(|report| &mut report.elf))?;
            let layer = stream.finish()?;
            prepared.push((layer.blob, layer.descriptor.prepare(target.descriptor)?));
        }
    }
    let report = match (native, native_report) {
        (Some(native), Some(path)) => Some(native.prepare(path)?),
        _ => None,
    };
    let mut descriptors = Vec::new();
    for (blob, descriptor) in prepared {
        blob.commit()?;
        descriptors.push(descriptor);
    }
    if let Some(report) = report {
        report.commit()?;
    }
    for descriptor in descriptors {
        descriptor.commit()?;
    }
    Ok(())
}
