//! Splitting a plan by file into balanced parts, each a layer of its own: the OCI distribution
//! API uploads one blob over one connection, so a distribution of a GB in one layer is pushed
//! at one connection's rate, however many uploads run in parallel. In parts it goes out over
//! several.
//!
//! Files go largest first to the part holding the fewest bytes so far (ties: the lower part),
//! which puts the parts within the largest file of each other. Every part holds the parent
//! directories of what it holds (so a part alone extracts with the right modes); a directory
//! with nothing below it goes to the first part. The split depends only on the plan's names
//! and file sizes: the same files give the same parts on any machine.

use std::collections::BTreeMap;
use std::fs;

use super::{Node, Plan, Planned};
use crate::error::{Context, Result};

/// What a tar header costs: what an empty file or symlink weighs, so they spread too.
const HEADER_BYTES: u64 = 512;

impl Plan {
    /// Splits the plan into `parts` plans (at least one) that together hold every node once,
    /// except directories, which each part holding something below them repeats. A part gets
    /// nothing but directories only if the plan has fewer files and symlinks than parts.
    pub fn split(self, parts: usize) -> Result<Vec<Plan>> {
        let parts = parts.max(1);
        let mut leaves = Vec::new();
        for (name, planned) in &self.nodes {
            let bytes = match &planned.node {
                Node::Dir { .. } => continue,
                Node::File { source, .. } => {
                    fs::metadata(source)
                        .with_context(|| format!("reading {}", source.display()))?
                        .len()
                        + HEADER_BYTES
                }
                Node::Empty | Node::Symlink { .. } => HEADER_BYTES,
            };
            leaves.push((bytes, name.as_str()));
        }
        leaves.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));

        let mut loads = vec![0u64; parts];
        let mut members: Vec<BTreeMap<String, Planned>> = vec![BTreeMap::new(); parts];
        for (bytes, name) in leaves {
            let lightest = (0..parts).min_by_key(|&part| loads[part]).unwrap_or(0);
            loads[lightest] += bytes;
            self.add_with_parents(&mut members[lightest], name);
        }
        let childless: Vec<&str> = self
            .nodes
            .iter()
            .filter(|(name, planned)| {
                matches!(planned.node, Node::Dir { .. })
                    && !members.iter().any(|part| part.contains_key(name.as_str()))
            })
            .map(|(name, _)| name.as_str())
            .collect();
        for name in childless {
            self.add_with_parents(&mut members[0], name);
        }
        Ok(members
            .into_iter()
            .map(|nodes| Plan {
                nodes,
                labels: self.labels.clone(),
            })
            .collect())
    }

    /// Copies `name` and every parent directory of it the part lacks into `part`.
    fn add_with_parents(&self, part: &mut BTreeMap<String, Planned>, name: &str) {
        let mut path = name;
        loop {
            if part.contains_key(path) {
                return;
            }
            if let Some(planned) = self.nodes.get(path) {
                part.insert(path.to_owned(), planned.clone());
            }
            match path.rfind('/') {
                Some(cut) => path = &path[..cut],
                None => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::manifest::Manifest;

    fn names(plan: &Plan) -> Vec<&str> {
        plan.nodes.keys().map(String::as_str).collect()
    }

    /// A plan of files of the given sizes under /app/x, and an empty directory /app/x/empty.
    fn plan_of(dir: &Path, files: &[(&str, usize)]) -> Plan {
        let mut entries = vec![r#"{"kind":"dir","path":"/app/x/empty"}"#.to_owned()];
        for (name, size) in files {
            let source = dir.join(name.replace('/', "_"));
            fs::write(&source, vec![b'x'; *size]).unwrap();
            entries.push(format!(
                r#"{{"kind":"file","path":"/app/x/{name}","src":"{}"}}"#,
                source.display()
            ));
        }
        let manifest = dir.join("manifest.json");
        fs::write(
            &manifest,
            format!(r#"{{"entries":[{}]}}"#, entries.join(",")),
        )
        .unwrap();
        Plan::build(&Manifest::read(&manifest).unwrap()).unwrap()
    }

    const FILES: &[(&str, usize)] = &[
        ("lib/huge.so", 12000),
        ("lib/big.so", 5000),
        ("lib/mid.so", 4000),
        ("pkg/a.py", 100),
        ("pkg/b.py", 100),
        ("pkg/c.py", 100),
    ];

    #[test]
    fn files_go_largest_first_to_the_lightest_part_with_their_parents() {
        let dir = tempfile::tempdir().unwrap();
        let parts = plan_of(dir.path(), FILES).split(2).unwrap();
        assert_eq!(
            names(&parts[0]),
            [
                "app",
                "app/x",
                "app/x/empty",
                "app/x/lib",
                "app/x/lib/huge.so"
            ]
        );
        assert_eq!(
            names(&parts[1]),
            [
                "app",
                "app/x",
                "app/x/lib",
                "app/x/lib/big.so",
                "app/x/lib/mid.so",
                "app/x/pkg",
                "app/x/pkg/a.py",
                "app/x/pkg/b.py",
                "app/x/pkg/c.py"
            ]
        );
    }

    #[test]
    fn every_node_is_in_some_part_and_only_directories_repeat() {
        let dir = tempfile::tempdir().unwrap();
        let whole = plan_of(dir.path(), FILES);
        let all: Vec<String> = whole.nodes.keys().cloned().collect();
        let parts = plan_of(dir.path(), FILES).split(4).unwrap();
        let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
        for part in &parts {
            for name in names(part) {
                *seen.entry(name).or_default() += 1;
            }
        }
        assert_eq!(seen.keys().copied().collect::<Vec<_>>(), all);
        for (name, count) in seen {
            let is_dir = matches!(whole.nodes[name].node, Node::Dir { .. });
            assert!(count == 1 || is_dir, "{name} is in {count} parts");
        }
    }

    #[test]
    fn one_part_is_the_whole_plan() {
        let dir = tempfile::tempdir().unwrap();
        let whole = plan_of(dir.path(), FILES);
        let all: Vec<String> = whole.nodes.keys().cloned().collect();
        let parts = plan_of(dir.path(), FILES).split(1).unwrap();
        assert_eq!(parts.len(), 1);
        assert_eq!(names(&parts[0]), all);
    }

    #[test]
    fn equal_sizes_split_by_name_the_same_way_every_time() {
        let dir = tempfile::tempdir().unwrap();
        let files: Vec<(String, usize)> = (0..8).map(|i| (format!("f{i}"), 10)).collect();
        let files: Vec<(&str, usize)> = files.iter().map(|(n, s)| (n.as_str(), *s)).collect();
        let parts = plan_of(dir.path(), &files).split(2).unwrap();
        let leaves = |plan: &Plan| -> Vec<String> {
            names(plan)
                .into_iter()
                .filter(|n| n.starts_with("app/x/f"))
                .map(str::to_owned)
                .collect()
        };
        assert_eq!(
            leaves(&parts[0]),
            ["app/x/f0", "app/x/f2", "app/x/f4", "app/x/f6"]
        );
        assert_eq!(
            leaves(&parts[1]),
            ["app/x/f1", "app/x/f3", "app/x/f5", "app/x/f7"]
        );
    }
}
