//! Packing an OCI image layout into one tar that both `docker load` and `podman load` accept:
//! an OCI layout (`oci-layout`, `index.json`, `blobs/sha256/…`) plus Docker's `manifest.json`,
//! the combination `docker save` itself writes since Docker 25.

pub mod error;
pub mod pack;
