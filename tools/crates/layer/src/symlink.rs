//! Where a layer's symlinks may point.

use crate::error::{Error, Result};

/// Checks a symlink's target: relative, and resolved lexically from the link's directory it
/// must stay inside `symlink_root` (for links under it) or inside `/`. Absolute targets would
/// point at whatever the runtime happens to have at that path, and escaping targets break when
/// the runfiles tree is relocated; both are mistakes in a Bazel-built layer.
pub fn check_symlink_target(link: &str, target: &str, symlink_root: Option<&str>) -> Result<()> {
    if target.is_empty() {
        return Err(Error::Entries(
            "symlink target is empty: give the relative path it points to".into(),
        ));
    }
    if target.starts_with('/') {
        return Err(Error::Entries(format!(
            "symlink target {target:?} is absolute: use a path relative to the link's directory"
        )));
    }
    if target.contains('\0') {
        return Err(Error::Entries(format!(
            "symlink target {target:?} contains a NUL byte"
        )));
    }
    let root = symlink_root.filter(|root| {
        link.strip_prefix(root)
            .is_some_and(|rest| rest.starts_with('/'))
    });
    let floor = root.map_or(0, |root| root.split('/').count() - 1);
    let mut depth = link.split('/').count() - 2; // components of the link's directory
    for component in target.split('/') {
        match component {
            "" | "." => {}
            ".." if depth == floor => {
                return Err(Error::Entries(format!(
                    "symlink target {target:?} escapes {}: point inside it (or copy the file instead of linking)",
                    root.unwrap_or("/"),
                )))
            }
            ".." => depth -= 1,
            _ => depth += 1,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlink_targets_must_stay_inside_their_root() {
        let root = Some("/app/bin.runfiles");
        let ok = [
            ("/app/bin.runfiles/_main/external", ".."),
            ("/app/bin.runfiles/_main/a/b", "../../other/c"),
            ("/app/bin.runfiles/x", "./y/./z"),
            ("/usr/bin/python", "../../opt/py/bin/python3"),
        ];
        for (link, target) in ok {
            check_symlink_target(link, target, root).unwrap();
        }
        let bad = [
            (
                "/app/bin.runfiles/_main/a",
                "../../x",
                "escapes /app/bin.runfiles",
            ),
            ("/app/bin.runfiles/a", "/usr/bin/x", "is absolute"),
            ("/usr/bin/python", "../../../x", "escapes /"),
            ("/a", "", "empty"),
        ];
        for (link, target, expected) in bad {
            let err = check_symlink_target(link, target, root)
                .unwrap_err()
                .to_string();
            assert!(err.contains(expected), "{link} -> {target}: {err}");
        }
        // Without a root only `/` bounds the target.
        check_symlink_target("/app/bin.runfiles/_main/a", "../../x", None).unwrap();
    }
}
