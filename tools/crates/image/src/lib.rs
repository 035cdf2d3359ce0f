//! Writing an image (config, manifest, OCI layout) from a base layout and layer descriptors,
//! once the layers' native code is known to run on it, and a multi-platform image index over
//! such images.

pub mod assemble;
pub mod config;
pub mod env;
pub mod error;
pub mod index;
pub mod library_path;
pub mod native_check;
pub mod settings;

pub use error::{Error, Result};
