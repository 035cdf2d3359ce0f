//! Packing an OCI image layout into one tar that both `docker load` and `podman load` accept
//! (`archive`), whole into a file (`pack`) or streamed without the blobs a runtime already
//! holds (sematic-load).

pub mod archive;
pub mod error;
pub mod pack;
