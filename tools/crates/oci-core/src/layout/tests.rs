use std::fs;

use super::*;
use crate::media_type::Family;
use crate::media_type::{DOCKER_MANIFEST, OCI_CONFIG, OCI_INDEX, OCI_MANIFEST};
use crate::platform::Platform;
use std::collections::HashMap;

fn write_image(writer: &LayoutWriter, media_type: &str) -> Descriptor {
    let config =
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
    let config_digest = writer.put_blob_bytes(config).unwrap();
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"{media_type}","config":{{"mediaType":"{OCI_CONFIG}","digest":"{config_digest}","size":{}}},"layers":[]}}"#,
        config.len()
    );
    let digest = writer.put_blob_bytes(manifest.as_bytes()).unwrap();
    descriptor(media_type, &digest, manifest.len() as u64)
}

#[test]
fn round_trip_single_image_with_source_annotation() {
    let dir = tempfile::tempdir().unwrap();
    let writer = LayoutWriter::create(dir.path()).unwrap();
    let mut entry = write_image(&writer, OCI_MANIFEST);
    entry.set_annotations(Some(HashMap::from([(
        SOURCE_ANNOTATION.to_owned(),
        "reg/base".to_owned(),
    )])));
    let layout = writer.finish(vec![entry.clone()]).unwrap();
    let image = layout
        .resolve(&Platform::parse("linux/amd64").unwrap(), None)
        .unwrap();
    assert_eq!(image.family, Family::Oci);
    assert_eq!(image.manifest_descriptor.digest(), entry.digest());
    assert_eq!(image.source.as_deref(), Some("reg/base"));
    assert!(image.chosen_from_index.is_none());
}

#[test]
fn index_entries_choose_the_requested_platform() {
    let dir = tempfile::tempdir().unwrap();
    let writer = LayoutWriter::create(dir.path()).unwrap();
    let image = write_image(&writer, DOCKER_MANIFEST);
    let nested = format!(
        r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[{{"mediaType":"{DOCKER_MANIFEST}","digest":"{}","size":{},"platform":{{"os":"linux","architecture":"amd64"}}}}]}}"#,
        image.digest(),
        image.size()
    );
    let digest = writer.put_blob_bytes(nested.as_bytes()).unwrap();
    let layout = writer
        .finish(vec![descriptor(OCI_INDEX, &digest, nested.len() as u64)])
        .unwrap();
    let resolved = layout
        .resolve(&Platform::parse("linux/amd64").unwrap(), None)
        .unwrap();
    assert_eq!(resolved.family, Family::Docker);
    assert_eq!(
        resolved.chosen_from_index,
        Some((digest, "linux/amd64".to_owned()))
    );
    let err = layout
        .resolve(&Platform::parse("linux/arm64").unwrap(), None)
        .unwrap_err();
    assert!(
        format!("{err:#}").contains("offers: linux/amd64"),
        "{err:#}"
    );
}

#[test]
fn tampered_or_unknown_blobs_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let writer = LayoutWriter::create(dir.path()).unwrap();
    let entry = write_image(&writer, "application/vnd.example.unknown+json");
    let layout = writer.finish(vec![entry.clone()]).unwrap();
    let err = layout
        .resolve(&Platform::parse("linux/amd64").unwrap(), None)
        .unwrap_err();
    assert!(
        format!("{err:#}").contains("unsupported manifest media type"),
        "{err:#}"
    );

    let digest = descriptor_digest(&entry).unwrap();
    fs::write(layout.blob_path(&digest), b"{}").unwrap();
    let err = layout.read_blob(&entry).unwrap_err().to_string();
    assert!(err.contains("does not match its digest"), "{err}");
}

#[test]
fn not_a_layout_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = Layout::open(dir.path()).unwrap_err().to_string();
    assert!(err.contains("is not an OCI image layout"), "{err}");
}
