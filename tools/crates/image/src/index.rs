//! Writing a multi-platform image: one OCI image layout holding an image index over several
//! single-platform image layouts (those `sematic-image` writes), with every blob they have.
//!
//! The index lists the images in the order given, each with the platform of its index.json
//! entry. Images of one index must share a manifest family (an OCI index over OCI manifests,
//! a Docker manifest list over Docker v2 schema 2 manifests) and differ in platform.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use crate::error::{Context, Error, Result};
use oci_spec::image::Descriptor;
use sematic_oci_core::canonical::to_canonical_json;
use sematic_oci_core::fsutil::StagedDir;
use sematic_oci_core::layout::{Layout, LayoutWriter, REF_NAME_ANNOTATION, SOURCE_ANNOTATION};
use sematic_oci_core::media_type::{classify_manifest, Family, ManifestKind};
use sematic_oci_core::platform::describe;
use sematic_oci_core::Digest;
use serde_json::{json, Value};

use crate::assemble::Assembled;

/// One image of the index, as its layout's index.json entry describes it.
struct Member {
    entry: Descriptor,
    family: Family,
    platform: String,
    source: Option<String>,
}

/// Builds the index layout for `output` (committed by the caller) over `images`.
pub fn assemble_index(images: &[&Path], output: &Path, ref_name: &str) -> Result<Assembled> {
    if images.is_empty() {
        return Err(Error::Index(
            "no --image given: an index needs at least one image layout".into(),
        ));
    }
    let members = images
        .iter()
        .map(|path| read_member(path).with_context(|| format!("image {}", path.display())))
        .collect::<Result<Vec<_>>>()?;
    let family = members[0].family;
    let mut platforms = BTreeSet::new();
    for (member, path) in members.iter().zip(images) {
        if member.family != family {
            return Err(Error::Index(format!(
            "image {} is a {} but {} is a {}: the images of an index must share a manifest family (use bases of one kind)",
            path.display(),
            member.family.manifest(),
            images[0].display(),
            family.manifest(),
        )));
        }
        if !platforms.insert(member.platform.clone()) {
            return Err(Error::Index(format!(
                "two images are for {}: an index holds one image per platform",
                member.platform,
            )));
        }
    }
    let sources: BTreeSet<&str> = members.iter().filter_map(|m| m.source.as_deref()).collect();
    if sources.len() > 1 {
        return Err(Error::Index(format!(
            "the images take their base layers from different repositories ({}): the pusher can copy from one; use one base image index for every platform",
            sources.into_iter().collect::<Vec<_>>().join(", "),
        )));
    }

    let manifests: Vec<Value> = members
        .iter()
        .map(|member| {
            let entry = &member.entry;
            json!({
                "mediaType": entry.media_type().to_string(),
                "digest": entry.digest().to_string(),
                "size": entry.size(),
                "platform": entry.platform(),
            })
        })
        .collect();
    let index = json!({
        "schemaVersion": 2,
        "mediaType": family.index(),
        "manifests": manifests,
    });
    let index_bytes = to_canonical_json(&index)?;

    let staged = StagedDir::create(output)?;
    let writer = LayoutWriter::create(staged.path())?;
    for path in images {
        link_blobs(path, &writer)?;
    }
    let digest = writer.put_blob_bytes(&index_bytes)?;
    let mut annotations =
        serde_json::Map::from_iter([(REF_NAME_ANNOTATION.to_owned(), json!(ref_name))]);
    if let Some(source) = sources.into_iter().next() {
        annotations.insert(SOURCE_ANNOTATION.to_owned(), json!(source));
    }
    let entry = serde_json::from_value(json!({
        "mediaType": family.index(),
        "digest": digest,
        "size": index_bytes.len(),
        "annotations": annotations,
    }))
    .context("building the index.json entry")?;
    writer.finish(vec![entry])?;
    Ok(Assembled {
        digest,
        layout: staged,
        // Each platform's image said so when it was built.
        eager_base_layer: None,
    })
}

/// The single image of a layout written by `sematic-image`.
fn read_member(path: &Path) -> Result<Member> {
    let layout = Layout::open(path)?;
    let index = layout.index()?;
    let [entry] = index.manifests().as_slice() else {
        return Err(Error::Index(format!(
            "the layout lists {} entries; expected the one image sematic-image writes",
            index.manifests().len(),
        )));
    };
    let family = match classify_manifest(entry.media_type().as_ref())? {
        ManifestKind::Image(family) => family,
        ManifestKind::Index(_) => {
            return Err(Error::Index(
                "the layout holds an image index; an index can only list images".into(),
            ))
        }
    };
    let platform = entry
        .platform()
        .as_ref()
        .map(describe)
        .context("its index.json entry names no platform")?;
    let source = entry
        .annotations()
        .as_ref()
        .and_then(|a| a.get(SOURCE_ANNOTATION))
        .cloned();
    Ok(Member {
        entry: entry.clone(),
        family,
        platform,
        source,
    })
}

/// Links every blob of the layout at `path` into the new layout.
fn link_blobs(path: &Path, writer: &LayoutWriter) -> Result<()> {
    let blobs = path.join("blobs/sha256");
    let entries = fs::read_dir(&blobs).with_context(|| format!("reading {}", blobs.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("reading {}", blobs.display()))?;
        let name = entry.file_name();
        let digest = Digest::parse(&format!("sha256:{}", name.to_string_lossy()))
            .with_context(|| format!("{} is not a blob", entry.path().display()))?;
        writer.put_blob_file(&entry.path(), &digest)?;
    }
    Ok(())
}
