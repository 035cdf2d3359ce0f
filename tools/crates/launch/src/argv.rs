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
}
