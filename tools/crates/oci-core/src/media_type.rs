//! Media types of the two manifest families we read and write (OCI and Docker v2 schema 2).

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
pub const OCI_LAYER_NONDISTRIBUTABLE_GZIP: &str =
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";

pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
pub const DOCKER_FOREIGN_LAYER_GZIP: &str =
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";

/// Every manifest media type we understand, in the order a registry `Accept` header should list them.
pub const ACCEPTED_MANIFESTS: [&str; 4] = [
    OCI_INDEX,
    OCI_MANIFEST,
    DOCKER_MANIFEST_LIST,
    DOCKER_MANIFEST,
];

/// Which specification a manifest (and everything it references) follows. An image keeps the
/// family of its base: mixing them produces manifests some runtimes reject.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    Oci,
    Docker,
}

/// Whether a manifest describes one image or a list of per-platform images.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ManifestKind {
    Image(Family),
    Index(Family),
}

/// How a layer blob is compressed, named `gzip`, `zstd`, `estargz` or `none` in JSON, on
/// command lines (with the `clap` feature) and in Starlark.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// deflate level 6 in 1 MiB blocks: identical bytes for any number of threads
    Gzip,
    /// zstd level 3 with a content checksum; needs an OCI base (Docker v2 schema 2 has no zstd)
    Zstd,
    /// gzip members per file chunk with a TOC (lazily pullable by the stargz snapshotter,
    /// a plain gzip layer to everything else); needs an OCI base for its annotations
    Estargz,
    /// the tar as it is
    None,
}

impl Compression {
    /// Its name: `gzip`, `zstd`, `estargz`, `none`.
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
            Compression::Estargz => "estargz",
        }
    }
}

impl Family {
    pub fn manifest(self) -> &'static str {
        match self {
            Family::Oci => OCI_MANIFEST,
            Family::Docker => DOCKER_MANIFEST,
        }
    }

    pub fn index(self) -> &'static str {
        match self {
            Family::Oci => OCI_INDEX,
            Family::Docker => DOCKER_MANIFEST_LIST,
        }
    }

    pub fn config(self) -> &'static str {
        match self {
            Family::Oci => OCI_CONFIG,
            Family::Docker => DOCKER_CONFIG,
        }
    }

    /// The layer media type for `compression` in this family. Docker v2 schema 2 has no zstd
    /// or uncompressed-layer type that every runtime accepts, nor layer annotations (where
    /// eStargz keeps its TOC digest), so those are refused.
    pub fn layer(self, compression: Compression) -> Result<&'static str> {
        match (self, compression) {
            (Family::Oci, Compression::None) => Ok(OCI_LAYER_TAR),
            (Family::Oci, Compression::Gzip) => Ok(OCI_LAYER_GZIP),
            (Family::Oci, Compression::Zstd) => Ok(OCI_LAYER_ZSTD),
            // An eStargz blob is a gzip stream; its TOC is found through annotations.
            (Family::Oci, Compression::Estargz) => Ok(OCI_LAYER_GZIP),
            (Family::Docker, Compression::Gzip) => Ok(DOCKER_LAYER_GZIP),
            (Family::Docker, other) => Err(Error::Invalid(format!(
                "{} layers cannot go on a Docker v2 schema 2 base: use gzip, or an OCI base",
                match other {
                    Compression::None => "uncompressed",
                    other => other.name(),
                }
            ))),
        }
    }
}

/// Classifies a manifest media type; anything unknown is an error naming the type.
pub fn classify_manifest(media_type: &str) -> Result<ManifestKind> {
    Ok(match media_type {
        OCI_MANIFEST => ManifestKind::Image(Family::Oci),
        OCI_INDEX => ManifestKind::Index(Family::Oci),
        DOCKER_MANIFEST => ManifestKind::Image(Family::Docker),
        DOCKER_MANIFEST_LIST => ManifestKind::Index(Family::Docker),
        other => {
            return Err(Error::Invalid(format!(
                "unsupported manifest media type {other:?}: expected an OCI or Docker v2 schema 2 image manifest or index"
            )))
        }
    })
}

/// The compression of a layer media type, for both families.
pub fn layer_compression(media_type: &str) -> Result<Compression> {
    Ok(match media_type {
        OCI_LAYER_TAR => Compression::None,
        OCI_LAYER_GZIP
        | OCI_LAYER_NONDISTRIBUTABLE_GZIP
        | DOCKER_LAYER_GZIP
        | DOCKER_FOREIGN_LAYER_GZIP => Compression::Gzip,
        OCI_LAYER_ZSTD => Compression::Zstd,
        other => {
            return Err(Error::Invalid(format!(
                "unsupported layer media type {other:?}"
            )))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_round_trip_through_classify() {
        for family in [Family::Oci, Family::Docker] {
            assert_eq!(
                classify_manifest(family.manifest()).unwrap(),
                ManifestKind::Image(family)
            );
            assert_eq!(
                classify_manifest(family.index()).unwrap(),
                ManifestKind::Index(family)
            );
            let layer = family.layer(Compression::Gzip).unwrap();
            assert_eq!(layer_compression(layer).unwrap(), Compression::Gzip);
        }
    }

    #[test]
    fn unknown_and_unsupported_types_are_named_in_the_error() {
        let err = classify_manifest("application/vnd.docker.distribution.manifest.v1+prettyjws");
        assert!(err
            .unwrap_err()
            .to_string()
            .contains("manifest.v1+prettyjws"));
        let err = Family::Docker
            .layer(Compression::Zstd)
            .unwrap_err()
            .to_string();
        assert!(err.contains("zstd") && err.contains("Docker"), "{err}");
        let err = Family::Docker.layer(Compression::Estargz).unwrap_err();
        assert!(err.to_string().contains("estargz"), "{err}");
        assert_eq!(
            Family::Oci.layer(Compression::Estargz).unwrap(),
            OCI_LAYER_GZIP
        );
        for compression in [
            Compression::Gzip,
            Compression::Zstd,
            Compression::Estargz,
            Compression::None,
        ] {
            let json = serde_json::to_string(&compression).unwrap();
            assert_eq!(json, format!("\"{}\"", compression.name()));
        }
        assert!(serde_json::from_str::<Compression>("\"lz4\"").is_err());
    }
}
