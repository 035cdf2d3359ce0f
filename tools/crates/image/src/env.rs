//! Merging the image environment: the base's `Env` list is the starting point, and each new
//! value may refer to base variables as `$VAR` or `${VAR}`.

use std::collections::BTreeMap;

/// The `PATH` a Linux runtime assumes when the image sets none (Docker's and containerd's
/// default), so `PATH=/x:$PATH` on a base without `PATH` keeps the usual directories.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Applies `updates` to the `K=V` list `base`: an overridden variable keeps its position, new
/// ones are appended sorted by name. Values are expanded against the base environment only, so
/// the result does not depend on the order of `updates`.
pub fn merge(base: &[String], updates: &BTreeMap<String, String>) -> Vec<String> {
    let mut base_values: BTreeMap<&str, &str> = BTreeMap::new();
    for entry in base {
        if let Some((name, value)) = entry.split_once('=') {
            // A later duplicate wins, as it does when the runtime builds the environment.
            base_values.insert(name, value);
        }
    }
    let lookup = |name: &str| -> String {
        match base_values.get(name) {
            Some(value) => (*value).to_owned(),
            None if name == "PATH" => DEFAULT_PATH.to_owned(),
            None => String::new(),
        }
    };
    let expanded: BTreeMap<&str, String> = updates
        .iter()
        .map(|(name, value)| (name.as_str(), expand(value, lookup)))
        .collect();

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
    merged
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
                ("GREETING", "${LANG}-$MISSING"),
            ]),
        );
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
        );
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
        let merged = merge(&base, &updates(&[("A", "new"), ("B", "$A")]));
        assert_eq!(merged, strings(&["A=new", "B=base"]));
    }
}
