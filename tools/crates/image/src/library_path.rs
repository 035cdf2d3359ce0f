//! Libraries that one distribution's native code needs from another. Wheels find such libraries
//! through `$ORIGIN`-relative search paths written for a single site-packages directory: torch's
//! `libtorch_cuda.so` looks for `libcusparse.so.12` in `$ORIGIN/../../nvidia/cusparse/lib`,
//! where pip puts the nvidia-cusparse-cu12 wheel. In an image each distribution has its own
//! `/app/_ext/<key>/site`, so that directory does not exist and `import torch` fails in the
//! cluster. So a needed library that a search path names inside a site, and that another
//! distribution's site holds at that place, gets its directory appended to the image's
//! `LD_LIBRARY_PATH` unless the loader already finds it: the layout pip would have made, for
//! the loader.
//!
//! The check is lexical, over the native reports: the directories the loader searches for a
//! file (its `DT_RPATH` unless it has a `DT_RUNPATH`, then `LD_LIBRARY_PATH`, then its
//! `DT_RUNPATH`, with `$ORIGIN` expanded) and the paths of the layers' ELF files. Nothing else
//! is added: a library found elsewhere (the base's system libraries, or a wheel's copy of one)
//! must not shadow the base's for every process of the container.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::env;
use crate::error::{Error, Result};
use crate::native_check::EXTERNAL_ROOT;
use sematic_oci_core::native_report::ElfFacts;

const VARIABLE: &str = "LD_LIBRARY_PATH";

/// Appends to `config`'s `LD_LIBRARY_PATH` the directories of the layers' libraries that the
/// files needing them would not find, after what the base or the settings set.
pub fn extend(config: &mut Value, files: &[ElfFacts]) -> Result<()> {
    let current = env::config_value(config, VARIABLE)
        .unwrap_or_default()
        .to_owned();
    let searched: Vec<&str> = current.split(':').filter(|d| !d.is_empty()).collect();
    let missing = missing_directories(files, &searched)?;
    if missing.is_empty() {
        return Ok(());
    }
    let value = match current.as_str() {
        "" => missing.join(":"),
        current => format!("{current}:{}", missing.join(":")),
    };
    let prefix = format!("{VARIABLE}=");
    let mut env: Vec<Value> = match config.pointer("/config/Env") {
        Some(Value::Array(env)) => env.clone(),
        _ => Vec::new(),
    };
    env.retain(|e| !e.as_str().is_some_and(|e| e.starts_with(&prefix)));
    env.push(Value::String(format!("{prefix}{value}")));
    config["config"]["Env"] = Value::Array(env);
    Ok(())
}

/// The directories to add to `library_path` (the image's `LD_LIBRARY_PATH`), sorted: for each
/// file, each library it needs that its search paths name inside a site (`nvidia/cusparse/lib`)
/// where no layer has it, but another distribution's site has it there. Two distributions
/// holding it there is an error (pip would have let one overwrite the other).
pub fn missing_directories(files: &[ElfFacts], library_path: &[&str]) -> Result<Vec<String>> {
    let mut held: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for file in files {
        if let Some((directory, name)) = file.path.rsplit_once('/') {
            held.entry(name).or_default().insert(directory);
        }
    }
    let mut added: BTreeSet<String> = BTreeSet::new();
    for file in files {
        let origin = file.path.rsplit_once('/').map_or("/", |(d, _)| d);
        let own = |list: &[String]| -> Vec<String> {
            list.iter()
                .filter_map(|d| expand_origin(d, origin))
                .collect()
        };
        let (rpath, runpath) = (own(&file.rpath), own(&file.runpath));
        // The loader ignores DT_RPATH when there is a DT_RUNPATH.
        let before = if runpath.is_empty() { &rpath[..] } else { &[] };
        // Where the search paths point inside a site, as pip's one site-packages would have it.
        let wanted: BTreeSet<&str> = (before.iter().chain(&runpath))
            .filter_map(|d| in_a_site(d))
            .collect();
        for name in file.needed.iter().filter(|n| !n.contains('/')) {
            let Some(holders) = held.get(name.as_str()) else {
                continue;
            };
            let mut searched = (before.iter().map(String::as_str))
                .chain(library_path.iter().copied())
                .chain(added.iter().map(String::as_str))
                .chain(runpath.iter().map(String::as_str));
            if searched.any(|d| holders.contains(d)) {
                continue;
            }
            let chosen: Vec<&str> = (holders.iter().copied())
                .filter(|h| in_a_site(h).is_some_and(|r| wanted.contains(r)))
                .collect();
            match chosen[..] {
                [] => {}
                [holder] => {
                    added.insert(holder.to_owned());
                }
                _ => {
                    return Err(Error::Native(format!(
                        "{} needs {name}, which {} distributions install in the same place ({}): keep one of them in the lock",
                        file.path,
                        chosen.len(),
                        chosen.join(", "),
                    )))
                }
            }
        }
    }
    Ok(added.into_iter().collect())
}

/// `/app/_ext/<key>/site/<relative>` → `<relative>`: where a directory is inside a site.
fn in_a_site(directory: &str) -> Option<&str> {
    let rest = directory.strip_prefix(EXTERNAL_ROOT)?;
    let (_, rest) = rest.split_once("/site/")?;
    Some(rest)
}

/// A search path directory with `$ORIGIN` (or `${ORIGIN}`) replaced by `origin` and `.` and
/// `..` resolved lexically; `None` for one the build cannot evaluate (relative to the working
/// directory, or with `$LIB` or `$PLATFORM`).
fn expand_origin(directory: &str, origin: &str) -> Option<String> {
    let expanded = directory
        .replace("${ORIGIN}", origin)
        .replace("$ORIGIN", origin);
    if !expanded.starts_with('/') || expanded.contains('$') {
        return None;
    }
    Some(format!("/{}", sematic_estargz::clean(&expanded)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const TORCH: &str = "/app/_ext/torch-2.5.0-0123456789ab/site";
    const CUSPARSE: &str = "/app/_ext/nvidia-cusparse-cu12-12.3.1.170-abcdefabcdef/site";
    const JITLINK: &str = "/app/_ext/nvidia-nvjitlink-cu12-12.4.127-aaaaaaaaaaaa/site";

    fn elf(path: &str, needed: &[&str], rpath: &[&str], runpath: &[&str]) -> ElfFacts {
        let strings = |list: &[&str]| list.iter().map(|s| s.to_string()).collect();
        ElfFacts {
            path: path.to_owned(),
            machine: "x86_64".to_owned(),
            kind: sematic_oci_core::native_report::ElfKind::Dyn,
            libc: sematic_oci_core::native_report::Libc::Glibc,
            glibc: None,
            needed: strings(needed),
            rpath: strings(rpath),
            runpath: strings(runpath),
        }
    }

    /// torch 2.5's layout: libtorch_cuda finds its own libraries by `$ORIGIN`, the nvidia ones
    /// by `$ORIGIN/../../nvidia/<x>/lib`; cusparse finds nvjitlink the same way.
    fn torch() -> Vec<ElfFacts> {
        vec![
            elf(
                &format!("{TORCH}/torch/lib/libtorch_cuda.so"),
                &[
                    "libc10.so",
                    "libcusparse.so.12",
                    "libc.so.6",
                    "libgone.so.1",
                ],
                &[
                    "$ORIGIN/../../nvidia/cusparse/lib",
                    "$ORIGIN/../../nvidia/gone/lib",
                    "$ORIGIN",
                ],
                &[],
            ),
            elf(
                &format!("{TORCH}/torch/lib/libc10.so"),
                &["libc.so.6"],
                &[],
                &[],
            ),
            elf(
                &format!("{CUSPARSE}/nvidia/cusparse/lib/libcusparse.so.12"),
                &["libnvJitLink.so.12"],
                &[],
                &["${ORIGIN}/../../nvjitlink/lib"],
            ),
            elf(
                &format!("{JITLINK}/nvidia/nvjitlink/lib/libnvJitLink.so.12"),
                &[],
                &[],
                &[],
            ),
        ]
    }

    #[test]
    fn a_library_another_site_holds_where_a_search_path_names_it_is_added() {
        assert_eq!(
            missing_directories(&torch(), &[]).unwrap(),
            [
                format!("{CUSPARSE}/nvidia/cusparse/lib"),
                format!("{JITLINK}/nvidia/nvjitlink/lib"),
            ]
        );
        let cusparse = format!("{CUSPARSE}/nvidia/cusparse/lib");
        assert_eq!(
            missing_directories(&torch(), &[cusparse.as_str()]).unwrap(),
            [format!("{JITLINK}/nvidia/nvjitlink/lib")]
        );
    }

    #[test]
    fn libraries_held_elsewhere_or_under_runpath_order_are_left_alone() {
        // A wheel's own libstdc++ must not shadow the base's for every process: found nowhere
        // a search path names, it is not added.
        let files = vec![
            elf(
                "/app/_ext/a-1-0123456789ab/site/a/_a.so",
                &["libstdc++.so.6"],
                &["$ORIGIN"],
                &[],
            ),
            elf(
                "/app/_ext/b-1-0123456789ab/site/b.libs/libstdc++.so.6",
                &[],
                &[],
                &[],
            ),
        ];
        assert!(missing_directories(&files, &[]).unwrap().is_empty());
        // DT_RPATH is ignored when DT_RUNPATH is set.
        let mut files = torch();
        files[0].runpath = vec!["$ORIGIN".to_owned()];
        let added = missing_directories(&files, &[]).unwrap();
        assert_eq!(added, [format!("{JITLINK}/nvidia/nvjitlink/lib")]);
    }

    #[test]
    fn two_distributions_installing_the_library_in_one_place_is_an_error() {
        let mut files = torch();
        let other = "/app/_ext/nvidia-cusparse-cu11-11.7.5.86-bbbbbbbbbbbb/site";
        files.push(elf(
            &format!("{other}/nvidia/cusparse/lib/libcusparse.so.12"),
            &[],
            &[],
            &[],
        ));
        let err = missing_directories(&files, &[]).unwrap_err().to_string();
        assert!(err.contains("libtorch_cuda.so needs libcusparse.so.12, which 2 distributions install in the same place"), "{err}");
        assert!(err.contains("keep one of them in the lock"), "{err}");
    }

    #[test]
    fn the_image_env_gets_the_directories_after_its_own() {
        let added = format!("{CUSPARSE}/nvidia/cusparse/lib:{JITLINK}/nvidia/nvjitlink/lib");
        let mut config =
            json!({"config": {"Env": ["LD_LIBRARY_PATH=/usr/local/nvidia/lib64", "PATH=/bin"]}});
        extend(&mut config, &torch()).unwrap();
        assert_eq!(
            config["config"]["Env"],
            json!([
                "PATH=/bin",
                format!("LD_LIBRARY_PATH=/usr/local/nvidia/lib64:{added}")
            ])
        );
        let mut config = json!({"config": null});
        extend(&mut config, &torch()).unwrap();
        assert_eq!(
            config["config"]["Env"],
            json!([format!("LD_LIBRARY_PATH={added}")])
        );
        // Nothing to add: the config is untouched, byte for byte.
        let mut config = json!({"config": {"Env": ["B=1", "A=2"]}});
        extend(&mut config, &torch()[1..2]).unwrap();
        assert_eq!(config, json!({"config": {"Env": ["B=1", "A=2"]}}));
    }

    #[test]
    fn origin_is_expanded_lexically_and_other_tokens_are_not_guessed() {
        let origin = "/app/_ext/t-1-0123456789ab/site/t/lib";
        let expand = |d: &str| expand_origin(d, origin);
        assert_eq!(
            expand("$ORIGIN/../../nvidia/x/lib").as_deref(),
            Some("/app/_ext/t-1-0123456789ab/site/nvidia/x/lib")
        );
        assert_eq!(expand("${ORIGIN}/./").as_deref(), Some(origin));
        assert_eq!(expand("/opt/lib").as_deref(), Some("/opt/lib"));
        for unknown in ["lib", "$LIB/x", "/opt/$PLATFORM"] {
            assert_eq!(expand(unknown), None, "{unknown}");
        }
        assert_eq!(
            in_a_site("/app/_ext/t-1-0123456789ab/site/nvidia/x/lib"),
            Some("nvidia/x/lib")
        );
        assert_eq!(in_a_site("/usr/lib"), None);
    }
}
