//! The image config: the base's, edited as JSON so every field we do not change (including
//! Docker-only ones such as `container_config`) is kept byte for byte in meaning.

use crate::error::{Context, Error, Result};
use sematic_oci_core::platform::Platform;
use sematic_oci_core::Digest;
use serde_json::{json, Map, Value};

use crate::env;
use crate::settings::Settings;

/// Every timestamp we write: the Unix epoch, so the config (and the image digest) does not
/// change with the time of the build.
pub const EPOCH: &str = "1970-01-01T00:00:00Z";

/// A layer being added: its diff_id and history comment.
pub struct NewLayer {
    pub diff_id: Digest,
    pub comment: String,
}

/// The config of an image with no base: empty rootfs, the requested platform.
pub fn scratch(platform: &Platform) -> Value {
    let mut config = json!({
        "architecture": platform.architecture,
        "os": platform.os,
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": []},
        "history": [],
    });
    if let Some(variant) = &platform.variant {
        config["variant"] = json!(variant);
    }
    config
}

/// Checks that a base config is for `platform` and describes `base_layers` layers.
pub fn check_base(config: &Value, platform: &Platform, base_layers: usize) -> Result<()> {
    if let Some(found) = platform.config_mismatch(config) {
        return Err(Error::Base(format!(
            "the base image is for {found}, not {platform}: pass --platform {found} or use a base built for {platform}",
        )));
    }
    let diff_ids = config
        .pointer("/rootfs/diff_ids")
        .and_then(Value::as_array)
        .ok_or_else(|| Error::Base("the base config has no rootfs.diff_ids list".into()))?;
    if diff_ids.len() != base_layers {
        return Err(Error::Base(format!(
            "the base config lists {} diff_ids but its manifest has {base_layers} layers",
            diff_ids.len(),
        )));
    }
    Ok(())
}

/// Applies `settings` to `config` and appends `layers`.
pub fn apply(config: &mut Value, settings: &Settings, layers: &[NewLayer]) -> Result<()> {
    let root = config
        .as_object_mut()
        .ok_or_else(|| Error::Base("the base config is not a JSON object".into()))?;
    root.insert("created".into(), json!(EPOCH));

    let runtime = object_field(root, "config")?;
    if let Some(entrypoint) = &settings.entrypoint {
        runtime.insert("Entrypoint".into(), json!(entrypoint));
        // A base Cmd was written as arguments for the base entrypoint, not ours.
        if settings.cmd.is_none() {
            runtime.remove("Cmd");
        }
    }
    if let Some(cmd) = &settings.cmd {
        runtime.insert("Cmd".into(), json!(cmd));
    }
    if !settings.env.is_empty() {
        let base_env: Vec<String> = match runtime.get("Env") {
            None | Some(Value::Null) => Vec::new(),
            Some(list) => serde_json::from_value(list.clone())
                .context("the base config's Env is not a list of strings")?,
        };
        runtime.insert("Env".into(), json!(env::merge(&base_env, &settings.env)?));
    }
    if let Some(workdir) = &settings.workdir {
        runtime.insert("WorkingDir".into(), json!(workdir));
    }
    if let Some(user) = &settings.user {
        runtime.insert("User".into(), json!(user));
    }
    if !settings.labels.is_empty() {
        let labels = object_field(runtime, "Labels")?;
        for (name, value) in &settings.labels {
            labels.insert(name.clone(), json!(value));
        }
    }

    let rootfs = object_field(root, "rootfs")?;
    rootfs.insert("type".into(), json!("layers"));
    let diff_ids = array_field(rootfs, "diff_ids")?;
    diff_ids.extend(layers.iter().map(|layer| json!(layer.diff_id)));
    let history = array_field(root, "history")?;
    history.extend(
        layers
            .iter()
            .map(|layer| json!({"created": EPOCH, "created_by": layer.comment})),
    );
    Ok(())
}

/// The object at `name`, created if missing or null (Docker writes `"config": null` for bases
/// without runtime settings).
fn object_field<'a>(
    parent: &'a mut Map<String, Value>,
    name: &str,
) -> Result<&'a mut Map<String, Value>> {
    let slot = parent.entry(name).or_insert(Value::Null);
    if slot.is_null() {
        *slot = Value::Object(Map::new());
    }
    slot.as_object_mut()
        .ok_or_else(|| Error::Base(format!("the base config's {name} is not a JSON object")))
}

fn array_field<'a>(parent: &'a mut Map<String, Value>, name: &str) -> Result<&'a mut Vec<Value>> {
    let slot = parent.entry(name).or_insert(Value::Null);
    if slot.is_null() {
        *slot = Value::Array(Vec::new());
    }
    slot.as_array_mut()
        .ok_or_else(|| Error::Base(format!("the base config's {name} is not a list")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(byte: char) -> Digest {
        Digest::parse(&format!("sha256:{}", byte.to_string().repeat(64))).unwrap()
    }

    #[test]
    fn unknown_fields_survive_and_settings_apply() {
        let mut config = json!({
            "architecture": "amd64", "os": "linux", "created": "2024-05-01T00:00:00Z",
            "container_config": {"Hostname": "abc"}, "docker_version": "24.0",
            "config": {"Cmd": ["bash"], "Env": ["PATH=/usr/bin", "LANG=C"], "Labels": {"a": "1"}, "StopSignal": "SIGINT"},
            "rootfs": {"type": "layers", "diff_ids": [digest('a')]},
            "history": [{"created_by": "base"}],
        });
        let settings = Settings {
            entrypoint: Some(vec!["/usr/bin/python3".into(), "/app/bin".into()]),
            env: [("PATH".to_owned(), "/sematic/bin:$PATH".to_owned())].into(),
            workdir: Some("/app".into()),
            labels: [("b".to_owned(), "2".to_owned())].into(),
            ..Settings::default()
        };
        let layers = [NewLayer {
            diff_id: digest('b'),
            comment: "rules_sematic: app".into(),
        }];
        apply(&mut config, &settings, &layers).unwrap();
        assert_eq!(
            config,
            json!({
                "architecture": "amd64", "os": "linux", "created": EPOCH,
                "container_config": {"Hostname": "abc"}, "docker_version": "24.0",
                "config": {
                    "Entrypoint": ["/usr/bin/python3", "/app/bin"],
                    "Env": ["PATH=/sematic/bin:/usr/bin", "LANG=C"],
                    "Labels": {"a": "1", "b": "2"}, "StopSignal": "SIGINT", "WorkingDir": "/app",
                },
                "rootfs": {"type": "layers", "diff_ids": [digest('a'), digest('b')]},
                "history": [{"created_by": "base"}, {"created": EPOCH, "created_by": "rules_sematic: app"}],
            })
        );
    }

    #[test]
    fn cmd_is_kept_when_given_with_the_entrypoint() {
        let mut config = scratch(&Platform::parse("linux/arm64/v8").unwrap());
        assert_eq!(config["variant"], "v8");
        let settings = Settings {
            entrypoint: Some(vec!["/bin/app".into()]),
            cmd: Some(vec!["--serve".into()]),
            user: Some("1000".into()),
            ..Settings::default()
        };
        apply(&mut config, &settings, &[]).unwrap();
        assert_eq!(
            config["config"],
            json!({"Entrypoint": ["/bin/app"], "Cmd": ["--serve"], "User": "1000"})
        );
    }

    #[test]
    fn base_checks_name_the_mismatch() {
        let config = scratch(&Platform::parse("linux/arm64").unwrap());
        let err = check_base(&config, &Platform::parse("linux/amd64").unwrap(), 0).unwrap_err();
        assert!(
            err.to_string().contains("for linux/arm64, not linux/amd64"),
            "{err}"
        );
        let err = check_base(&config, &Platform::parse("linux/arm64").unwrap(), 2).unwrap_err();
        assert!(
            err.to_string()
                .contains("0 diff_ids but its manifest has 2"),
            "{err}"
        );
    }
}
