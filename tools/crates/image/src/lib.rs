//! Writing an image (config, manifest, OCI layout) from a base layout and layer descriptors, and
//! a multi-platform image index over such images.

pub mod assemble;
pub mod config;
pub mod env;
pub mod index;
pub mod settings;
