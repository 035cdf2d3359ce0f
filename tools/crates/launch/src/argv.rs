//! What `bazel run //:pipeline -- ...` means: arguments for the launch script, with the
//! launcher's own flags before a second `--`.

use std::ffi::OsString;

/// The command line to parse. Launcher targets run `sematic-launch FIXED -- USER...`: USER are
/// the launch script's arguments unless they hold a second `--`, in which case those before it
/// are launcher flags. A lone `--help` is the launcher's (it must never push).
pub fn launcher_argv(argv: Vec<OsString>) -> Vec<OsString> {
    let Some(separator) = argv.iter().position(|arg| arg == "--") else {
        return argv;
    };
    let (fixed, user) = (&argv[..separator], &argv[separator + 1..]);
    let mut rewritten = fixed.to_vec();
    if let Some(second) = user.iter().position(|arg| arg == "--") {
        rewritten.extend_from_slice(&user[..second]);
        rewritten.push("--".into());
        rewritten.extend_from_slice(&user[second + 1..]);
        return rewritten;
    }
    if user.len() == 1 && (user[0] == "--help" || user[0] == "-h") {
        rewritten.push("--help".into());
        return rewritten;
    }
    argv
}

/// A one-line note when the launch script's arguments hold a flag the launcher knows (one of
/// `known`, long names without `--`) and no second `--` sets launcher flags apart: it goes to
/// the launch script, which is rarely what was meant (`bazel run //:x -- --jobs 8`).
pub fn misplaced_flag_note(argv: &[OsString], known: &[&str]) -> Option<String> {
    let separator = argv.iter().position(|arg| arg == "--")?;
    let user = &argv[separator + 1..];
    if user.iter().any(|arg| arg == "--") {
        return None;
    }
    let flag = user.iter().find_map(|arg| {
        let name = arg.to_str()?.strip_prefix("--")?;
        let name = name.split_once('=').map_or(name, |(name, _)| name);
        known.contains(&name).then_some(name)
    })?;
    Some(format!(
        "--{flag} is given to the launch script; a launcher flag goes before a second --: bazel run TARGET -- --{flag} ... -- [SCRIPT ARGS]"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<OsString> {
        items.iter().map(OsString::from).collect()
    }

    #[test]
    fn launcher_flags_go_before_a_second_separator() {
        let fixed = ["sematic-launch", "--config", "c.json", "--"];
        let argv = |user: &[&str]| strings(&[&fixed[..], user].concat());
        assert_eq!(launcher_argv(argv(&["--x", "1"])), argv(&["--x", "1"]));
        assert_eq!(
            launcher_argv(argv(&["--jobs", "8", "--", "--x"])),
            strings(&[
                "sematic-launch",
                "--config",
                "c.json",
                "--jobs",
                "8",
                "--",
                "--x"
            ])
        );
        assert_eq!(
            launcher_argv(argv(&["--help"])),
            strings(&["sematic-launch", "--config", "c.json", "--help"])
        );
        assert_eq!(
            launcher_argv(argv(&["--", "--help"])),
            strings(&["sematic-launch", "--config", "c.json", "--", "--help"])
        );
        let direct = strings(&["sematic-launch", "--config", "c.json"]);
        assert_eq!(launcher_argv(direct.clone()), direct);
    }

    #[test]
    fn a_launcher_flag_among_the_script_arguments_gets_a_note() {
        let known = ["jobs", "ca-cert"];
        let fixed = ["sematic-launch", "--config", "c.json", "--"];
        let note =
            |user: &[&str]| misplaced_flag_note(&strings(&[&fixed[..], user].concat()), &known);
        assert_eq!(
            note(&["--x", "--jobs", "0"]).as_deref(),
            Some("--jobs is given to the launch script; a launcher flag goes before a second --: bazel run TARGET -- --jobs ... -- [SCRIPT ARGS]")
        );
        assert!(note(&["--ca-cert=x.pem"])
            .unwrap()
            .starts_with("--ca-cert "));
        assert_eq!(note(&["--jobs", "8", "--", "--jobs"]), None);
        assert_eq!(note(&["--other", "jobs"]), None);
        assert_eq!(
            misplaced_flag_note(&strings(&["sematic-launch", "--jobs", "2"]), &known),
            None
        );
    }
}
