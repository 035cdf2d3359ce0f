//! Sematic's image environment: which variables the launch script gets, and with what.

use std::process::Command;

/// `::KEY##URI` for every key: what Sematic's `get_image_uris()` parses.
pub const URIS_VAR: &str = "SEMATIC_CONTAINER_IMAGE_URIS";
/// One URI: read by Sematic in preference to the list.
pub const IMAGE_VAR: &str = "SEMATIC_CONTAINER_IMAGE";
/// The key of functions without `base_image_tag`, and of the pipeline run itself.
pub const DEFAULT_KEY: &str = "default";

/// `default` first, then the other keys in order.
pub fn sorted_keys(mut uris: Vec<(String, String)>) -> Vec<(String, String)> {
    uris.sort_by(|(a, _), (b, _)| (a != DEFAULT_KEY, a).cmp(&(b != DEFAULT_KEY, b)));
    uris
}

/// Sets (or removes) both variables on `command` for the URIs by key.
pub fn apply(command: &mut Command, uris: &[(String, String)]) {
    match image_env(uris) {
        (Some(all), single) => {
            command.env(URIS_VAR, all);
            match single {
                Some(uri) => command.env(IMAGE_VAR, uri),
                None => command.env_remove(IMAGE_VAR),
            };
        }
        (None, _) => {
            command.env_remove(URIS_VAR).env_remove(IMAGE_VAR);
        }
    }
}

/// The values of SEMATIC_CONTAINER_IMAGE_URIS and SEMATIC_CONTAINER_IMAGE (`None`: unset).
/// The single-image variable is only set when `default` is the sole key, because Sematic
/// reads it in preference to the list and would lose every other key.
fn image_env(uris: &[(String, String)]) -> (Option<String>, Option<String>) {
    if uris.is_empty() {
        return (None, None);
    }
    let all: String = uris
        .iter()
        .map(|(key, uri)| format!("::{key}##{uri}"))
        .collect();
    let single = match uris {
        [(key, uri)] if key == DEFAULT_KEY => Some(uri.clone()),
        _ => None,
    };
    (Some(all), single)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(key: &str, uri: &str) -> (String, String) {
        (key.to_owned(), uri.to_owned())
    }

    #[test]
    fn env_contract_for_default_only_multi_key_and_none() {
        let only = vec![pair("default", "r/a@sha256:1")];
        assert_eq!(
            image_env(&only),
            (
                Some("::default##r/a@sha256:1".into()),
                Some("r/a@sha256:1".into())
            )
        );
        let many = sorted_keys(vec![
            pair("cuda", "r/c@sha256:2"),
            pair("default", "r/a@sha256:1"),
            pair("arm", "r/b@sha256:3"),
        ]);
        assert_eq!(
            image_env(&many),
            (
                Some("::default##r/a@sha256:1::arm##r/b@sha256:3::cuda##r/c@sha256:2".into()),
                None
            )
        );
        let no_default = vec![pair("cuda", "r/c@sha256:2")];
        assert_eq!(
            image_env(&no_default),
            (Some("::cuda##r/c@sha256:2".into()), None)
        );
        assert_eq!(image_env(&[]), (None, None));
    }
}
