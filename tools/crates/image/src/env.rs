//! Merging the image environment: the base's `Env` list is the starting point, and each new
//! value may refer to base variables as `$VAR` or `${VAR}`.

use std::collections::BTreeMap;

use serde_json::Value;

/// The `PATH` a Linux runtime assumes when the image sets none (Docker's and containerd's
/// default), so `PATH=/x:$PATH` on a base without `PATH` keeps the usual directories.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// A value refers to a variable the base image does not define: almost always a typo or a
/// variable of another image, which would silently expand to nothing.
#[derive(Debug, PartialEq, Eq)]
pub struct UndefinedVariable {
    /// The variable being set.
    pub variable: String,
    /// The `$NAME` it refers to.
    pub reference: String,
}

impl std::fmt::Display for UndefinedVariable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "env[\"{}\"] refers to ${}, which the base image does not define: set {} in env too, or remove the reference",
            self.variable, self.reference, self.reference
        )
    }
}

impl std::error::Error for UndefinedVariable {}

/// The value of `name` in an image config's `Env`, if set. The runtime lets a later duplicate
/// win; so does this.
pub fn config_value<'a>(config: &'a Value, name: &str) -> Option<&'a str> {
    let prefix = format!("{name}=");
    config
        .pointer("/config/Env")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter_map(|entry| entry.strip_prefix(prefix.as_str()))
        .next_back()
}

/// Applies `updates` to the `K=V` list `base`: an overridden variable keeps its position, new
/// ones are appended sorted by name. Values are expanded against the base environment only, so
/// the result does not depend on the order of `updates`. A reference to a variable the base
/// lacks is an error, except a variable's reference to itself (`X=/opt/lib:$X`, the usual way
/// to extend a list that may be unset, expands to nothing) and `$PATH` (the runtime default).
pub fn merge(
    base: &[String],
    updates: &BTreeMap<String, String>,
) -> Result<Vec<String>, UndefinedVariable> {
    let mut base_values: BTreeMap<&str, &str> = BTreeMap::new();
    for entry in base {
        if let Some((name, value)) = entry.split_once('=') {
            // A later duplicate wins, as it does when the runtime builds the environment.
            base_values.insert(name, value);
        }
    }
    let mut expanded: BTreeMap<&str, String> = BTreeMap::new();
    for (name, value) in updates {
        let undefined = std::cell::RefCell::new(None);
        let lookup = |reference: &str| -> String {
            match base_values.get(reference) {
                Some(value) => (*value).to_owned(),
                None if reference == "PATH" => DEFAULT_PATH.to_owned(),
                None => {
                    if reference != name {
                        undefined.borrow_mut().get_or_insert(reference.to_owned());
                    }
                    String::new()
                }
            }
        };
        let value = expand(value, lookup);
        if let Some(reference) = undefined.into_inner() {
            return Err(UndefinedVariable {
                variable: name.clone(),
                reference,
            });
        }
        expanded.insert(name.as_str(), value);
    }

    let mut merged = Vec::with_capacity(base.len() + updates.len());
    for entry in base {
        let name = entry
            .split_once('=')
            .map_or(entry.as_str(), |(name, _)| name);
        match expanded.get(name) {
            Some(value) => merged.push(format!("{name}={value}")),
            None => merged.push(entry.clone()),
        }
    }
    for (name, value) in &expanded {
        if !base_values.contains_key(name) {
            merged.push(format!("{name}={value}"));
        }
    }
    Ok(merged)
}

/// Replaces `$NAME` and `${NAME}` (NAME = `[A-Za-z_][A-Za-z0-9_]*`) with `lookup(NAME)`. A `$`
/// that starts neither form is kept as it is.
pub fn expand(value: &str, lookup: impl Fn(&str) -> String) -> String {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    while let Some(dollar) = rest.find('$') {
        out.push_str(&rest[..dollar]);
        let after = &rest[dollar + 1..];
        if let Some(braced) = after.strip_prefix('{') {
            let name_len = name_length(braced);
            if name_len > 0 && braced[name_len..].starts_with('}') {
                out.push_str(&lookup(&braced[..name_len]));
                rest = &braced[name_len + 1..];
                continue;
            }
        } else {
            let name_len = name_length(after);
            if name_len > 0 {
                out.push_str(&lookup(&after[..name_len]));
                rest = &after[name_len..];
                continue;
            }
        }
        out.push('$');
        rest = after;
    }
    out.push_str(rest);
    out
}

/// Length of the variable name at the start of `text` (0 if there is none).
fn name_length(text: &str) -> usize {
    let mut length = 0;
    for (index, byte) in text.bytes().enumerate() {
        let valid =
            byte == b'_' || byte.is_ascii_alphabetic() || (index > 0 && byte.is_ascii_digit());
        if !valid {
            break;
        }
        length = index + 1;
    }
    length
}

#[cfg(test)]
mod tests {
    use super::*;

    fn updates(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn expansion_forms() {
        let lookup = |name: &str| match name {
            "HOME" => "/root".to_owned(),
            "A_1" => "a".to_owned(),
            _ => String::new(),
        };
        assert_eq!(expand("$HOME/x:${A_1}y", lookup), "/root/x:ay");
        assert_eq!(expand("$UNSET-$", lookup), "-$");
        assert_eq!(
            expand("cost $5 ${oops ${} $$HOME", lookup),
            "cost $5 ${oops ${} $/root"
        );
        assert_eq!(expand("no dollars", lookup), "no dollars");
    }

    #[test]
    fn overrides_keep_position_and_new_names_are_sorted() {
        let base = strings(&["PATH=/usr/bin:/bin", "LANG=C.UTF-8", "NOVALUE"]);
        let merged = merge(
            &base,
            &updates(&[
                ("ZED", "z"),
                ("PATH", "/sematic/bin:$PATH"),
                ("BAZEL_BUILT_IMAGE", "1"),
                ("GREETING", "${LANG}-$GREETING"),
            ]),
        )
        .unwrap();
        assert_eq!(
            merged,
            strings(&[
                "PATH=/sematic/bin:/usr/bin:/bin",
                "LANG=C.UTF-8",
                "NOVALUE",
                "BAZEL_BUILT_IMAGE=1",
                "GREETING=C.UTF-8-",
                "ZED=z",
            ])
        );
    }

    #[test]
    fn path_defaults_when_the_base_has_none() {
        let merged = merge(
            &[],
            &updates(&[("PATH", "/sematic/bin:$PATH"), ("X", "$PATH")]),
        )
        .unwrap();
        assert_eq!(
            merged,
            vec![
                format!("PATH=/sematic/bin:{DEFAULT_PATH}"),
                format!("X={DEFAULT_PATH}"),
            ]
        );
    }

    #[test]
    fn expansion_uses_the_base_not_other_updates() {
        let base = strings(&["A=base"]);
        let merged = merge(&base, &updates(&[("A", "new"), ("B", "$A")])).unwrap();
        assert_eq!(merged, strings(&["A=new", "B=base"]));
    }

    #[test]
    fn a_reference_the_base_lacks_is_an_error_naming_both_variables() {
        let base = strings(&["HOME=/root"]);
        let error = merge(&base, &updates(&[("DATA", "$HOME/${DATA_DIRR}")])).unwrap_err();
        assert_eq!(
            error,
            UndefinedVariable {
                variable: "DATA".into(),
                reference: "DATA_DIRR".into()
            }
        );
        assert!(error.to_string().starts_with(
            "env[\"DATA\"] refers to $DATA_DIRR, which the base image does not define"
        ));
        let extended = merge(
            &base,
            &updates(&[("LD_LIBRARY_PATH", "/opt/lib:$LD_LIBRARY_PATH")]),
        );
        assert_eq!(
            extended.unwrap(),
            strings(&["HOME=/root", "LD_LIBRARY_PATH=/opt/lib:"])
        );
    }
}
