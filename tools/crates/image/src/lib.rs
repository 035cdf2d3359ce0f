//! Writing an image (config, manifest, OCI layout) from a base layout and layer descriptors.

pub mod assemble;
pub mod config;
pub mod env;
pub mod settings;
