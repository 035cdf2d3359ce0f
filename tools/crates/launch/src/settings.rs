//! SEMATIC_API_ADDRESS as Sematic's settings file holds it: `settings.yaml` in Sematic's
//! config directory (`$SEMATIC_CONFIG_DIR`, absolute or under the home directory; default
//! `~/.sematic`), under `profiles: default: settings: sematic.config.user_settings.UserSettings:`,
//! where `sematic settings set SEMATIC_API_ADDRESS URL` writes it (sematic 0.41's
//! `sematic/config/config_dir.py` and `settings.py`).
//!
//! Sematic writes the file with PyYAML's block style: nested `key: value` mappings indented
//! by two spaces, plain or quoted scalars, lists as `- item` lines. This reads that subset; an
//! address written in another form (flow style, anchors, tags, block or multi-line scalars) is
//! an error naming its line, never a wrong address.

use std::path::PathBuf;

/// Where the address sits in the file.
const ADDRESS_PATH: [&str; 5] = [
    "profiles",
    "default",
    "settings",
    "sematic.config.user_settings.UserSettings",
    "SEMATIC_API_ADDRESS",
];

/// What is wrong with a line of the file (1-based).
#[derive(Debug, PartialEq, Eq)]
pub struct LineError {
    pub line: usize,
    pub problem: String,
}

/// Sematic's settings file, as `get_config_dir()` finds it from the environment (`var`);
/// `None` when there is no home directory to look in.
pub fn settings_file(var: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let dir = PathBuf::from(var("SEMATIC_CONFIG_DIR").unwrap_or_else(|| ".sematic".to_owned()));
    let dir = if dir.is_absolute() {
        dir
    } else {
        PathBuf::from(var("HOME")?).join(dir)
    };
    Some(dir.join("settings.yaml"))
}

/// The SEMATIC_API_ADDRESS the file's text sets, if it sets one.
pub fn api_address(text: &str) -> Result<Option<String>, LineError> {
    // The keys of the mappings the current line is nested in, with their indentation.
    let mut keys: Vec<(usize, String)> = Vec::new();
    // Lines indented deeper than this continue the plain scalar of the key above them.
    let mut continued: Option<usize> = None;
    for (index, raw) in text.lines().enumerate() {
        let error = |problem: &str| LineError {
            line: index + 1,
            problem: problem.to_owned(),
        };
        let content = raw.trim_end();
        let trimmed = content.trim_start_matches(' ');
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed == "---" {
            continue;
        }
        let indent = content.len() - trimmed.len();
        if continued.is_some_and(|key_indent| indent > key_indent) {
            continue;
        }
        continued = None;
        if trimmed == "-" || trimmed.starts_with("- ") {
            continue; // an item of a list (the plug-ins of a scope)
        }
        if trimmed.starts_with('\t') {
            return Err(error("a tab in the indentation"));
        }
        let (key, value) = split_key(trimmed).ok_or_else(|| error("not a `key: value` line"))?;
        while keys.last().is_some_and(|(depth, _)| *depth >= indent) {
            keys.pop();
        }
        keys.push((indent, key));
        if value.is_empty() {
            continue; // a nested mapping follows
        }
        let at_address = keys.len() == ADDRESS_PATH.len()
            && keys
                .iter()
                .zip(ADDRESS_PATH)
                .all(|((_, key), want)| key == want);
        if at_address {
            return scalar(value).map(Some).map_err(|problem| error(&problem));
        }
        continued = Some(indent);
    }
    Ok(None)
}

/// A mapping line's key and the rest after its `:` (trimmed; empty when a mapping follows).
fn split_key(line: &str) -> Option<(String, &str)> {
    let (key, rest) = if line.starts_with(['\'', '"']) {
        let (key, length) = quoted(line).ok()?;
        (key, &line[length..])
    } else {
        let end = line.find(": ").unwrap_or_else(|| line.len() - 1);
        (line[..end].trim_end().to_owned(), &line[end..])
    };
    let value = rest.strip_prefix(':')?;
    if !value.is_empty() && !value.starts_with(' ') {
        return None;
    }
    Some((key, value.trim()))
}

/// A scalar value: plain (up to a comment), or single- or double-quoted on one line.
fn scalar(value: &str) -> Result<String, String> {
    if value.starts_with(['\'', '"']) {
        let (text, length) = quoted(value)?;
        let rest = value[length..].trim_start();
        if !rest.is_empty() && !rest.starts_with('#') {
            return Err("text after a quoted value".to_owned());
        }
        return Ok(text);
    }
    if value.starts_with(['&', '*', '!', '|', '>', '{', '[', '%', '@', '`']) {
        return Err(format!(
            "a value starting with {:?} is not read here: write a plain URL",
            &value[..1]
        ));
    }
    let plain = value.find(" #").map_or(value, |comment| &value[..comment]);
    Ok(plain.trim_end().to_owned())
}

/// The text of the quoted scalar `text` starts with, and how many bytes it takes.
fn quoted(text: &str) -> Result<(String, usize), String> {
    let quote = text.as_bytes()[0] as char;
    let mut out = String::new();
    let mut chars = text.char_indices().skip(1).peekable();
    while let Some((at, c)) = chars.next() {
        match c {
            '\'' if quote == '\'' => {
                if chars.next_if(|&(_, next)| next == '\'').is_none() {
                    return Ok((out, at + 1));
                }
                out.push('\'');
            }
            '"' if quote == '"' => return Ok((out, at + 1)),
            '\\' if quote == '"' => match chars.next().map(|(_, escaped)| escaped) {
                Some(escaped @ ('\\' | '"' | '/')) => out.push(escaped),
                _ => return Err("an escape other than \\\\, \\\" or \\/".to_owned()),
            },
            _ => out.push(c),
        }
    }
    Err("a quoted value that does not end on its line".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `sematic settings set` and `sematic server-settings set` wrote (sematic 0.41),
    /// with a scope's plug-in list and a value PyYAML quoted.
    const WRITTEN: &str = "\
profiles:
  default:
    scopes:
      STORAGE:
      - sematic.plugins.storage.local_storage.LocalStorage
    settings:
      sematic.config.server_settings.ServerSettings:
        KUBERNETES_NAMESPACE: default
        SEMATIC_API_ADDRESS: http://not-this-one
        __version__: 0.1.0
      sematic.config.user_settings.UserSettings:
        SEMATIC_API_KEY: 'a: b #c'
        SEMATIC_API_ADDRESS: http://127.0.0.1:5555
        __version__: 0.1.0
version: 1
";

    #[test]
    fn reads_the_address_sematic_wrote() {
        assert_eq!(
            api_address(WRITTEN),
            Ok(Some("http://127.0.0.1:5555".to_owned()))
        );
        let quoted = WRITTEN.replace("http://127.0.0.1:5555", "'http://h:1/it''s' # note");
        assert_eq!(api_address(&quoted), Ok(Some("http://h:1/it's".to_owned())));
        let double = WRITTEN.replace("http://127.0.0.1:5555", r#""http:\/\/h:2""#);
        assert_eq!(api_address(&double), Ok(Some("http://h:2".to_owned())));
    }

    #[test]
    fn no_address_is_none_and_other_plugins_do_not_count() {
        let without = WRITTEN.replace("        SEMATIC_API_ADDRESS: http://127.0.0.1:5555\n", "");
        assert_eq!(api_address(&without), Ok(None));
        assert_eq!(api_address(""), Ok(None));
        assert_eq!(api_address("version: 1\n"), Ok(None));
    }

    #[test]
    fn forms_it_does_not_read_are_errors_naming_the_line() {
        let anchored = WRITTEN.replace("http://127.0.0.1:5555", "&a http://x");
        assert_eq!(api_address(&anchored).unwrap_err().line, 13);
        let open = WRITTEN.replace("http://127.0.0.1:5555", "'http://x");
        assert_eq!(
            api_address(&open),
            Err(LineError {
                line: 13,
                problem: "a quoted value that does not end on its line".to_owned()
            })
        );
        let flow = "profiles: {default: {settings: {}}}\nstray\n";
        assert_eq!(api_address(flow).unwrap_err().line, 2);
    }

    #[test]
    fn the_file_is_in_sematic_config_dir_else_under_home() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                vars.iter()
                    .find(|(key, _)| *key == name)
                    .map(|(_, value)| (*value).to_owned())
            }
        };
        assert_eq!(
            settings_file(&env(&[("HOME", "/home/me")])),
            Some(PathBuf::from("/home/me/.sematic/settings.yaml"))
        );
        assert_eq!(
            settings_file(&env(&[
                ("HOME", "/home/me"),
                ("SEMATIC_CONFIG_DIR", "conf")
            ])),
            Some(PathBuf::from("/home/me/conf/settings.yaml"))
        );
        assert_eq!(
            settings_file(&env(&[("SEMATIC_CONFIG_DIR", "/etc/s")])),
            Some(PathBuf::from("/etc/s/settings.yaml"))
        );
        assert_eq!(settings_file(&env(&[])), None);
    }
}
