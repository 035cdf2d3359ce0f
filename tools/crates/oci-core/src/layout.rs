//! OCI image layouts on disk: reading one (choosing the image and platform) and writing one.
//!
//! A layout written by rules_sematic may be *sparse*: base-image layer blobs that were never
//! downloaded are absent, and the `index.json` entry names, in [`SOURCE_ANNOTATION`], the
//! repository they can be fetched from when the image is pushed.

use oci_spec::image::{Descriptor, MediaType};

use crate::digest::Digest;
use crate::error::Result;

mod read;
#[cfg(test)]
mod tests;
mod write;

pub use read::{choose_platform, Layout, ResolvedImage};
pub use write::LayoutWriter;

pub const LAYOUT_FILE: &str = "oci-layout";
pub const INDEX_FILE: &str = "index.json";

/// Annotation on an `index.json` entry: `registry/repository` holding the blobs a sparse
/// layout lacks.
pub const SOURCE_ANNOTATION: &str = "dev.rules-sematic.source";
/// The standard annotation tools such as skopeo and umoci use to name an image in a layout.
pub const REF_NAME_ANNOTATION: &str = "org.opencontainers.image.ref.name";

/// A descriptor with just media type, digest and size.
pub fn descriptor(media_type: &str, digest: &Digest, size: u64) -> Descriptor {
    Descriptor::new(MediaType::from(media_type), size, oci_digest(digest))
}

/// Our digest as oci-spec's type.
pub fn oci_digest(digest: &Digest) -> oci_spec::image::Digest {
    digest
        .to_string()
        .parse()
        .expect("a validated sha256 digest is a valid oci-spec digest")
}

/// The digest of a descriptor, validated as sha256.
pub fn descriptor_digest(descriptor: &Descriptor) -> Result<Digest> {
    Digest::parse(descriptor.digest().as_ref())
}
