//! The order entries are written in: prioritized files first, each preceded by its parent
//! directories and (for a hard link) its target, so the prefix before the landmark extracts on
//! its own; then every other entry in its original order. A prioritized directory brings
//! everything below it, in its original order; the root (`/`) brings the whole layer.

use std::collections::HashMap;

use crate::error::{Error, Result};
use crate::scan::{Entry, Kind};

/// Indexes into `entries`: the prioritized prefix, then the rest.
pub fn order(entries: &[Entry], prioritized: &[String]) -> Result<(Vec<usize>, Vec<usize>)> {
    let mut by_name: HashMap<String, Vec<usize>> = HashMap::new();
    for (index, entry) in entries.iter().enumerate() {
        by_name.entry(clean(&entry.name)).or_default().push(index);
    }
    let mut moved = vec![false; entries.len()];
    let mut first = Vec::new();
    for path in prioritized {
        let name = clean(path);
        if !name.is_empty() && !by_name.contains_key(&name) {
            return Err(Error::PrioritizedMissing { path: path.clone() });
        }
        move_with_parents(&name, entries, &by_name, &mut moved, &mut first);
        let below = |index: &usize| {
            let entry = clean(&entries[*index].name);
            name.is_empty()
                || entry
                    .strip_prefix(&name)
                    .is_some_and(|r| r.starts_with('/'))
        };
        for index in (0..entries.len()).filter(below) {
            move_with_parents(
                &clean(&entries[index].name),
                entries,
                &by_name,
                &mut moved,
                &mut first,
            );
        }
    }
    let rest = (0..entries.len()).filter(|&i| !moved[i]).collect();
    Ok((first, rest))
}

fn move_with_parents(
    name: &str,
    entries: &[Entry],
    by_name: &HashMap<String, Vec<usize>>,
    moved: &mut [bool],
    out: &mut Vec<usize>,
) {
    if !name.is_empty() {
        let parent = name.rsplit_once('/').map_or("", |(parent, _)| parent);
        move_with_parents(parent, entries, by_name, moved, out);
    }
    // Directories a tar leaves implicit are simply absent; the reader creates them.
    let Some(indexes) = by_name.get(name) else {
        return;
    };
    for &index in indexes {
        if moved[index] {
            continue;
        }
        moved[index] = true;
        if entries[index].kind == Kind::Hardlink {
            let target = clean(&entries[index].link_name);
            move_with_parents(&target, entries, by_name, moved, out);
        }
        out.push(index);
    }
}

/// A tar name as a path relative to the root: "./a//b/" and "/a/b" are both "a/b", as the
/// reader normalizes them; `.` and `..` are resolved lexically, as for any path in an image.
pub fn clean(name: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in name.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            _ => parts.push(part),
        }
    }
    parts.join("/")
}

#[cfg(test)]
mod tests {
    use super::clean;

    #[test]
    fn cleans_like_the_reader() {
        assert_eq!(clean("./usr//bin/"), "usr/bin");
        assert_eq!(clean("/a/../b/./c"), "b/c");
        assert_eq!(clean("./"), "");
        assert_eq!(clean("../x"), "x");
    }
}
