//! Assembling an image: base (or scratch) + layer descriptors + settings → config, manifest and
//! an OCI image layout. Layer bytes are read once, to check them against their descriptors,
//! and blobs are hard-linked into the layout.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{Context, Error, Result};
use sematic_estargz::{TOC_DIGEST_ANNOTATION, UNCOMPRESSED_SIZE_ANNOTATION};
use sematic_oci_core::canonical::to_canonical_json;
use sematic_oci_core::digest::digest_file;
use sematic_oci_core::fsutil::StagedDir;
use sematic_oci_core::layer_descriptor::LayerDescriptor;
use sematic_oci_core::layout::{Layout, LayoutWriter, REF_NAME_ANNOTATION, SOURCE_ANNOTATION};
use sematic_oci_core::media_type::{layer_compression, Compression, Family};
use sematic_oci_core::platform::Platform;
use sematic_oci_core::Digest;
use serde_json::{json, Value};

use crate::config::{self, NewLayer};
use crate::library_path;
use crate::native_check::NativeCheck;
use crate::settings::Settings;

/// Docker and containerd refuse images with more layers than this (overlayfs lower-dir limit).
pub const MAX_LAYERS: usize = 127;

/// A `--layer DESCRIPTOR.json=BLOB` argument.
#[derive(Clone, Debug)]
pub struct LayerArg {
    pub descriptor: PathBuf,
    pub blob: PathBuf,
}

impl LayerArg {
    pub fn parse(text: &str) -> Result<Self> {
        match text.split_once('=') {
            Some((descriptor, blob)) if !descriptor.is_empty() && !blob.is_empty() => {
                Ok(LayerArg {
                    descriptor: descriptor.into(),
                    blob: blob.into(),
                })
            }
            _ => Err(Error::Arguments(format!(
                "expected DESCRIPTOR.json=BLOB, got {text:?}",
            ))),
        }
    }
}

/// Where the base image comes from.
pub struct Base<'a> {
    pub layout: &'a Path,
    pub ref_name: Option<&'a str>,
}

pub struct Request<'a> {
    pub base: Option<Base<'a>>,
    pub platform: Platform,
    pub layers: &'a [LayerArg],
    pub settings: Settings,
    pub ref_name: &'a str,
    pub native: &'a NativeCheck,
}

/// A layer of ours, checked.
struct OurLayer {
    arg: LayerArg,
    descriptor: LayerDescriptor,
}

/// The base image as far as assembly needs it.
struct BaseImage {
    layout: Option<Layout>,
    family: Family,
    /// Layer descriptors exactly as the base manifest has them (urls, annotations, …).
    layers: Vec<Value>,
    config: Value,
    source: Option<String>,
    /// The platform a base index gave the chosen image (it may name a variant the config
    /// lacks).
    platform: Option<Value>,
}

/// A built image: its manifest digest and the layout, not yet renamed into place.
pub struct Assembled {
    pub digest: Digest,
    pub layout: StagedDir,
    /// For an image with eStargz layers, the digest of the first base layer that is not
    /// eStargz, if any: containerd's unpacker fetches every layer whole from the first one its
    /// snapshotter cannot mount lazily, so such an image is not pulled lazily.
    pub eager_base_layer: Option<String>,
}

/// Builds the layout for `output` (committed by the caller) and returns the manifest digest.
pub fn assemble(request: &Request, output: &Path) -> Result<Assembled> {
    let layers = request
        .layers
        .iter()
        .map(check_layer)
        .collect::<Result<Vec<_>>>()?;
    let history = &request.settings.layer_history;
    if history.len() != layers.len() {
        return Err(Error::Arguments(format!(
            "layer_history has {} comments for {} --layer arguments: give one comment per layer",
            history.len(),
            layers.len(),
        )));
    }
    let base = match &request.base {
        Some(base) => open_base(base, &request.platform)?,
        None => BaseImage {
            layout: None,
            family: Family::Oci,
            layers: Vec::new(),
            config: config::scratch(&request.platform),
            source: None,
            platform: None,
        },
    };
    let native_files = request.native.run(&request.platform, &base.config)?;
    let total = base.layers.len() + layers.len();
    if total > MAX_LAYERS {
        return Err(Error::Layers(format!(
        "the image would have {total} layers ({} from the base); runtimes accept at most {MAX_LAYERS}: merge some layers",
        base.layers.len(),
    )));
    }

    let mut manifest_layers = base.layers.clone();
    for layer in &layers {
        let context = || format!("--layer {}", layer.arg.descriptor.display());
        let media_type = layer_compression(&layer.descriptor.media_type)
            .and_then(|compression| base.family.layer(compression))
            .with_context(context)?;
        let mut descriptor = json!({
            "mediaType": media_type,
            "digest": layer.descriptor.digest,
            "size": layer.descriptor.size,
        });
        if let Some(toc_digest) = &layer.descriptor.toc_digest {
            // Refuses a Docker base, whose manifests have no layer annotations.
            base.family
                .layer(Compression::Estargz)
                .with_context(context)?;
            descriptor["annotations"] = json!({
                TOC_DIGEST_ANNOTATION: toc_digest,
                UNCOMPRESSED_SIZE_ANNOTATION: layer.descriptor.uncompressed_size.to_string(),
            });
        }
        manifest_layers.push(descriptor);
    }

    let mut config = base.config.clone();
    let new_layers: Vec<NewLayer> = layers
        .iter()
        .zip(history)
        .map(|(layer, comment)| NewLayer {
            diff_id: layer.descriptor.diff_id.clone(),
            comment: comment.clone(),
        })
        .collect();
    config::apply(&mut config, &request.settings, &new_layers)?;
    library_path::extend(&mut config, &native_files)?;
    let config_bytes = to_canonical_json(&config)?;
    let config_digest = Digest::of_bytes(&config_bytes);
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": base.family.manifest(),
        "config": {
            "mediaType": base.family.config(),
            "digest": config_digest,
            "size": config_bytes.len(),
        },
        "layers": manifest_layers,
    });
    let manifest_bytes = to_canonical_json(&manifest)?;

    let staged = StagedDir::create(output)?;
    let writer = LayoutWriter::create(staged.path())?;
    link_base_blobs(&base, &writer)?;
    for layer in &layers {
        writer.put_blob_file(&layer.arg.blob, &layer.descriptor.digest)?;
    }
    writer.put_blob_bytes(&config_bytes)?;
    let manifest_digest = writer.put_blob_bytes(&manifest_bytes)?;
    let entry = index_entry(
        &base,
        &manifest_digest,
        manifest_bytes.len(),
        &config,
        request.ref_name,
    )?;
    writer.finish(vec![entry])?;
    Ok(Assembled {
        digest: manifest_digest,
        layout: staged,
        eager_base_layer: eager_base_layer(&base.layers, &layers),
    })
}

fn eager_base_layer(base_layers: &[Value], layers: &[OurLayer]) -> Option<String> {
    if !layers
        .iter()
        .any(|layer| layer.descriptor.toc_digest.is_some())
    {
        return None;
    }
    base_layers
        .iter()
        .find(|layer| layer["annotations"][TOC_DIGEST_ANNOTATION].is_null())
        .map(|layer| layer["digest"].as_str().unwrap_or("?").to_owned())
}

/// Reads a layer descriptor and checks it against its blob, digest included: a stale or
/// mismatched descriptor would otherwise make a layout whose manifest names bytes it does not
/// hold, found out only by a registry or a runtime.
fn check_layer(arg: &LayerArg) -> Result<OurLayer> {
    let label = || {
        format!(
            "--layer {}={}",
            arg.descriptor.display(),
            arg.blob.display()
        )
    };
    let descriptor = LayerDescriptor::read(&arg.descriptor).with_context(label)?;
    let (digest, size) = digest_file(&arg.blob).with_context(label)?;
    if size != descriptor.size || digest != descriptor.digest {
        return Err(Error::Layers(format!(
            "{}: the blob is {digest} ({size} bytes) but the descriptor says {} ({} bytes): pass the blob this descriptor was written with",
            label(),
            descriptor.digest,
            descriptor.size,
        )));
    }
    Ok(OurLayer {
        arg: arg.clone(),
        descriptor,
    })
}

fn open_base(base: &Base, platform: &Platform) -> Result<BaseImage> {
    let context = || format!("base {}", base.layout.display());
    let layout = Layout::open(base.layout).with_context(context)?;
    let resolved = layout
        .resolve(platform, base.ref_name)
        .with_context(context)?;
    if let Some((index, chosen)) = &resolved.chosen_from_index {
        eprintln!(
            "sematic-image: base {} is an image index {index}; using its {chosen} image {}",
            base.layout.display(),
            resolved.manifest_descriptor.digest()
        );
    }
    let manifest: Value = serde_json::from_slice(&resolved.manifest_bytes)
        .context("reading the base manifest")
        .with_context(context)?;
    let layers = match manifest.get("layers") {
        Some(Value::Array(layers)) => layers.clone(),
        None | Some(Value::Null) => Vec::new(),
        Some(_) => {
            return Err(Error::Base(format!(
                "{}: the manifest's layers is not a list",
                context(),
            )))
        }
    };
    let config: Value = serde_json::from_slice(&resolved.config_bytes)
        .context("reading the base config")
        .with_context(context)?;
    config::check_base(&config, platform, layers.len()).with_context(context)?;
    let platform = match resolved.manifest_descriptor.platform() {
        Some(platform) => {
            Some(serde_json::to_value(platform).context("reading the base platform")?)
        }
        None => None,
    };
    Ok(BaseImage {
        layout: Some(layout),
        family: resolved.family,
        layers,
        config,
        source: resolved.source,
        platform,
    })
}

/// Links every base layer blob the base layout has. A sparse base lacks some; that is fine only
/// when its index entry names the repository holding them, for the pusher to copy from.
fn link_base_blobs(base: &BaseImage, writer: &LayoutWriter) -> Result<()> {
    let Some(layout) = &base.layout else {
        return Ok(());
    };
    for layer in &base.layers {
        let digest = layer
            .get("digest")
            .and_then(Value::as_str)
            .context("a base layer descriptor has no digest")
            .and_then(Digest::parse)
            .with_context(|| format!("base {}", layout.root().display()))?;
        let path = layout.blob_path(&digest);
        match fs::metadata(&path) {
            Ok(metadata) => {
                let expected = layer.get("size").and_then(Value::as_u64);
                if expected != Some(metadata.len()) {
                    return Err(Error::Base(format!(
                        "base blob {} is {} bytes but the base manifest says {expected:?}: the base layout is damaged, fetch it again",
                        path.display(),
                        metadata.len(),
                    )));
                }
                writer.put_blob_file(&path, &digest)?;
            }
            Err(_) if base.source.is_some() => {}
            Err(_) => {
                return Err(Error::Base(format!(
                    "base {} lacks layer blob {digest} and its index.json entry names no source ({SOURCE_ANNOTATION}) to fetch it from: use a complete base layout or one written by the pull tool",
                    layout.root().display(),
                )))
            }
        }
    }
    Ok(())
}

/// The index.json entry: the manifest, its platform (as the base index gave it, else from the
/// config), our ref name and the base's source.
fn index_entry(
    base: &BaseImage,
    digest: &Digest,
    size: usize,
    config: &Value,
    ref_name: &str,
) -> Result<oci_spec::image::Descriptor> {
    let mut annotations = BTreeMap::from([(REF_NAME_ANNOTATION, json!(ref_name))]);
    if let Some(source) = &base.source {
        annotations.insert(SOURCE_ANNOTATION, json!(source));
    }
    let platform = base.platform.clone().unwrap_or_else(|| {
        let mut platform = json!({
            "os": config.get("os").cloned().unwrap_or(Value::Null),
            "architecture": config.get("architecture").cloned().unwrap_or(Value::Null),
        });
        if let Some(variant) = config.get("variant") {
            platform["variant"] = variant.clone();
        }
        platform
    });
    let entry = json!({
        "mediaType": base.family.manifest(),
        "digest": digest,
        "size": size,
        "annotations": annotations,
        "platform": platform,
    });
    Ok(serde_json::from_value(entry).context("building the index.json entry")?)
}
