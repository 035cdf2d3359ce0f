//! The sorted, validated list of everything a manifest puts in a layer, built before any byte
//! is written: tree artifacts walked, duplicates merged, conflicts and escaping symlinks
//! rejected, missing parent directories added.
//!
//! Memory is one small record per entry (name, source path, mode); file contents are only read
//! while the tar stream is written.

use std::collections::btree_map::Entry as Slot;
use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::io::{self, BufReader, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};

use crate::elf;
use crate::manifest::{Entry, Kind, Manifest};
use crate::sniff::MagicSniffer;
use sematic_oci_core::archive::{Owner, TarWriter};
use sematic_oci_core::native_report::ElfFacts;

/// Mode of directories nobody gave a mode to (parents, tree directories) and of executables.
const DIR_MODE: u32 = 0o755;
const EXECUTABLE_MODE: u32 = 0o755;
/// Mode of regular files that are not owner-executable, and of `empty` entries.
const FILE_MODE: u32 = 0o644;
/// Read size for file contents: large reads keep the tar stream's per-call overhead low.
const READ_BUFFER: usize = 256 << 10;

/// What one path of the layer is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Node {
    /// `explicit` is false for directories only implied by a path below them or by a tree; an
    /// explicit `dir` entry overrides their mode.
    Dir {
        mode: u32,
        explicit: bool,
    },
    File {
        source: PathBuf,
        mode: u32,
    },
    Empty,
    Symlink {
        target: String,
    },
}

impl Node {
    fn describe(&self) -> &'static str {
        match self {
            Node::Dir { .. } => "a directory",
            Node::File { .. } | Node::Empty => "a regular file",
            Node::Symlink { .. } => "a symlink",
        }
    }
}

#[derive(Clone, Debug)]
struct Planned {
    node: Node,
    /// `None` for implied parent directories.
    origin: Option<u32>,
}

/// Every path of a layer, sorted by name (byte order), names relative to `/`.
#[derive(Debug, Default)]
pub struct Plan {
    nodes: BTreeMap<String, Planned>,
    /// `entries[N] (PATH)` of every manifest entry, for error messages.
    labels: Vec<String>,
}

impl Plan {
    pub fn build(manifest: &Manifest) -> Result<Self> {
        let mut plan = Plan::default();
        for (index, entry) in manifest.entries.iter().enumerate() {
            let label = format!("entries[{index}] ({})", entry.path);
            let origin = u32::try_from(index).context("too many entries")?;
            plan.labels.push(label.clone());
            plan.add_entry(entry, origin, manifest.symlink_root.as_deref())
                .with_context(|| label)?;
        }
        plan.add_parents()?;
        Ok(plan)
    }

    /// Keeps only what is at or below `root` (an absolute path): a piece of a layer, whose
    /// parent directories other pieces or the assembled layer provide. Entries the manifest put
    /// elsewhere are an error.
    pub fn restrict_to(&mut self, root: &str) -> Result<()> {
        let root = root
            .strip_prefix('/')
            .filter(|r| !r.is_empty() && !r.ends_with('/'))
            .with_context(|| {
                format!("--piece {root:?} is not an absolute path like /app/_ext/x")
            })?;
        let below = format!("{root}/");
        let mut outside = Vec::new();
        self.nodes.retain(|name, planned| {
            let inside = name == root || name.starts_with(&below);
            if !inside && planned.origin.is_some() {
                outside.push(name.clone());
            }
            inside
        });
        if let Some(name) = outside.first() {
            bail!("/{name} is outside the piece's root /{root}: a piece holds one directory tree");
        }
        Ok(())
    }

    /// Names of the first and last nodes, if any.
    pub fn first_and_last(&self) -> Option<(&str, &str)> {
        let first = self.nodes.keys().next()?;
        let last = self.nodes.keys().next_back()?;
        Some((first, last))
    }

    /// Writes every node, in order, reading file contents as it goes. With `native`, the
    /// facts of every ELF file written are added to it.
    pub fn write<W: io::Write>(
        &self,
        tar: &mut TarWriter<W>,
        mut native: Option<&mut Vec<ElfFacts>>,
    ) -> Result<()> {
        for (name, planned) in &self.nodes {
            let context = || self.describe_origin(name, planned.origin);
            match &planned.node {
                Node::Dir { mode, .. } => tar
                    .directory(name.as_bytes(), Owner::root(*mode))
                    .map_err(anyhow::Error::from),
                Node::Empty => tar
                    .file(name.as_bytes(), Owner::root(FILE_MODE), 0, io::empty())
                    .map_err(anyhow::Error::from),
                Node::Symlink { target } => tar
                    .symlink(name.as_bytes(), target.as_bytes(), Owner::root(0o777))
                    .map_err(anyhow::Error::from),
                Node::File { source, mode } => {
                    let file = File::open(source)
                        .with_context(|| format!("opening {}", source.display()))
                        .with_context(context)?;
                    let size = file
                        .metadata()
                        .with_context(|| format!("reading {}", source.display()))
                        .with_context(context)?
                        .len();
                    let mut content =
                        MagicSniffer::new(BufReader::with_capacity(READ_BUFFER, file));
                    tar.file(name.as_bytes(), Owner::root(*mode), size, &mut content)
                        .with_context(|| format!("copying {}", source.display()))
                        .with_context(context)?;
                    match native.as_deref_mut() {
                        Some(native) if content.is_elf() => {
                            let file = content.into_inner().into_inner();
                            elf::read_facts(format!("/{name}"), &file, size)
                                .map(|facts| native.push(facts))
                                .with_context(|| format!("reading {}", source.display()))
                        }
                        _ => Ok(()),
                    }
                }
            }
            .with_context(context)?;
        }
        Ok(())
    }

    fn describe_origin(&self, name: &str, origin: Option<u32>) -> String {
        match origin.and_then(|index| self.labels.get(index as usize)) {
            Some(label) if label.ends_with(&format!("(/{name})")) => label.clone(),
            Some(label) => format!("/{name} from {label}"),
            None => format!("parent directory /{name}"),
        }
    }

    fn add_entry(&mut self, entry: &Entry, origin: u32, symlink_root: Option<&str>) -> Result<()> {
        let name = &entry.path[1..];
        match &entry.kind {
            Kind::File { src, mode } => {
                let metadata = fs::metadata(src).with_context(|| missing_src(src))?;
                if metadata.is_dir() {
                    bail!(
                        "src {} is a source directory, whose files Bazel does not track: list them (glob([\"dir/**\"])) or use a filegroup",
                        src.display()
                    );
                }
                if !metadata.is_file() {
                    bail!("src {} is not a regular file", src.display());
                }
                let mode = mode.unwrap_or_else(|| default_file_mode(&metadata));
                self.insert(
                    name,
                    Node::File {
                        source: src.clone(),
                        mode,
                    },
                    Some(origin),
                )
            }
            Kind::Empty => self.insert(name, Node::Empty, Some(origin)),
            Kind::Dir { mode } => self.insert(
                name,
                Node::Dir {
                    mode: mode.unwrap_or(DIR_MODE),
                    explicit: true,
                },
                Some(origin),
            ),
            Kind::Symlink { target } => {
                check_symlink_target(&entry.path, target, symlink_root)?;
                self.insert(
                    name,
                    Node::Symlink {
                        target: target.clone(),
                    },
                    Some(origin),
                )
            }
            Kind::Link { src } => {
                let metadata = fs::symlink_metadata(src).with_context(|| missing_src(src))?;
                if !metadata.file_type().is_symlink() {
                    bail!(
                        "src {} is not a symlink: kind \"link\" is for declared symlink artifacts (ctx.actions.declare_symlink); use kind \"file\" for ordinary files",
                        src.display()
                    );
                }
                let target = fs::read_link(src)
                    .with_context(|| format!("reading symlink {}", src.display()))?;
                let target = target.to_str().ok_or_else(|| {
                    anyhow!(
                        "symlink {} has a target that is not valid UTF-8: {:?}",
                        src.display(),
                        target
                    )
                })?;
                check_symlink_target(&entry.path, target, symlink_root)?;
                self.insert(
                    name,
                    Node::Symlink {
                        target: target.to_owned(),
                    },
                    Some(origin),
                )
            }
            Kind::Tree { src } => {
                let metadata = fs::metadata(src).with_context(|| missing_src(src))?;
                if !metadata.is_dir() {
                    bail!(
                        "src {} is not a directory: kind \"tree\" is for directory (tree) artifacts; use kind \"file\"",
                        src.display()
                    );
                }
                self.insert(name, implied_dir(), Some(origin))?;
                let mut ancestors = vec![(metadata.dev(), metadata.ino())];
                self.walk_tree(src, name, origin, &mut ancestors)
            }
        }
    }

    /// Adds everything below the directory `dir` under `name`, in sorted order, following
    /// symlinks (in a sandbox every file of a tree artifact is a symlink into the execroot).
    fn walk_tree(
        &mut self,
        dir: &Path,
        name: &str,
        origin: u32,
        ancestors: &mut Vec<(u64, u64)>,
    ) -> Result<()> {
        let mut children = fs::read_dir(dir)
            .with_context(|| format!("listing {}", dir.display()))?
            .map(|child| child.map(|c| c.file_name()))
            .collect::<io::Result<Vec<_>>>()
            .with_context(|| format!("listing {}", dir.display()))?;
        children.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        for child in children {
            let source = dir.join(&child);
            let Some(child) = child.to_str() else {
                bail!(
                    "{} has a name that is not valid UTF-8 ({:?}): rename it, image paths must be UTF-8",
                    source.display(),
                    child
                );
            };
            let child_name = format!("{name}/{child}");
            let metadata = fs::metadata(&source).with_context(|| {
                format!(
                    "reading {} (a dangling symlink?): every file of a tree must exist",
                    source.display()
                )
            })?;
            if metadata.is_dir() {
                let id = (metadata.dev(), metadata.ino());
                if ancestors.contains(&id) {
                    bail!(
                        "{} leads back to one of its parent directories (a symlink loop): remove the loop",
                        source.display()
                    );
                }
                self.insert(&child_name, implied_dir(), Some(origin))?;
                ancestors.push(id);
                self.walk_tree(&source, &child_name, origin, ancestors)?;
                ancestors.pop();
            } else if metadata.is_file() {
                let mode = default_file_mode(&metadata);
                self.insert(&child_name, Node::File { source, mode }, Some(origin))?;
            } else {
                bail!(
                    "{} is neither a regular file nor a directory: trees may only hold files and directories",
                    source.display()
                );
            }
        }
        Ok(())
    }

    /// Adds `node` at `name`, merging it with what is there already: identical duplicates and
    /// implied directories are fine, anything else is a conflict.
    fn insert(&mut self, name: &str, node: Node, origin: Option<u32>) -> Result<()> {
        let slot = match self.nodes.entry(name.to_owned()) {
            Slot::Vacant(slot) => {
                slot.insert(Planned { node, origin });
                return Ok(());
            }
            Slot::Occupied(slot) => slot.into_mut(),
        };
        let earlier = slot
            .origin
            .and_then(|index| self.labels.get(index as usize))
            .map_or_else(|| "an implied parent directory".to_owned(), Clone::clone);
        match (&slot.node, &node) {
            (
                Node::Dir {
                    explicit: false, ..
                },
                Node::Dir { .. },
            ) => *slot = Planned { node, origin },
            (
                Node::Dir { .. },
                Node::Dir {
                    explicit: false, ..
                },
            ) => {}
            (Node::Dir { mode: a, .. }, Node::Dir { mode: b, .. }) => {
                if a != b {
                    bail!(
                        "/{name} is given twice as a directory with different modes ({a:o} in {earlier}, {b:o} here): keep one"
                    );
                }
            }
            (Node::Symlink { target: a }, Node::Symlink { target: b }) => {
                if a != b {
                    bail!(
                        "/{name} is given twice as symlinks to different targets ({a:?} in {earlier}, {b:?} here): keep one"
                    );
                }
            }
            (old, new) if old.describe() == new.describe() => {
                if !same_file(old, new)? {
                    bail!(
                        "/{name} is given twice with different content or mode (also in {earlier}): keep one"
                    );
                }
            }
            (old, new) => bail!(
                "/{name} is given twice, as {} in {earlier} and as {} here: keep one",
                old.describe(),
                new.describe()
            ),
        }
        Ok(())
    }

    /// Adds every missing parent directory and checks that every parent is a directory.
    fn add_parents(&mut self) -> Result<()> {
        let mut missing = BTreeSet::new();
        for (name, planned) in &self.nodes {
            let mut parent = name.as_str();
            while let Some(cut) = parent.rfind('/') {
                parent = &parent[..cut];
                match self.nodes.get(parent) {
                    Some(Planned {
                        node: Node::Dir { .. },
                        ..
                    }) => break,
                    Some(other) => bail!(
                        "{} needs /{parent} to be a directory, but {} makes it {}: move one of them",
                        self.describe_origin(name, planned.origin),
                        self.describe_origin(parent, other.origin),
                        other.node.describe()
                    ),
                    None => {
                        if !missing.insert(parent.to_owned()) {
                            break;
                        }
                    }
                }
            }
        }
        for parent in missing {
            self.nodes.insert(
                parent,
                Planned {
                    node: implied_dir(),
                    origin: None,
                },
            );
        }
        Ok(())
    }
}

fn implied_dir() -> Node {
    Node::Dir {
        mode: DIR_MODE,
        explicit: false,
    }
}

fn missing_src(src: &Path) -> String {
    format!(
        "src {} does not exist: check the path (relative to the execroot) and that the action declares it as an input",
        src.display()
    )
}

/// 0755 for owner-executable sources, 0644 otherwise: the only bit of the host's mode that
/// matters (Bazel marks executables), so the host's umask never reaches the layer.
fn default_file_mode(metadata: &fs::Metadata) -> u32 {
    if metadata.permissions().mode() & 0o100 != 0 {
        EXECUTABLE_MODE
    } else {
        FILE_MODE
    }
}

/// Whether two regular-file nodes produce identical tar entries.
fn same_file(a: &Node, b: &Node) -> Result<bool> {
    let (mode_a, source_a) = file_parts(a);
    let (mode_b, source_b) = file_parts(b);
    if mode_a != mode_b {
        return Ok(false);
    }
    match (source_a, source_b) {
        (None, None) => Ok(true),
        (Some(source), None) | (None, Some(source)) => Ok(file_len(source)? == 0),
        (Some(a), Some(b)) => same_content(a, b),
    }
}

fn file_parts(node: &Node) -> (u32, Option<&Path>) {
    match node {
        Node::File { source, mode } => (*mode, Some(source.as_path())),
        _ => (FILE_MODE, None),
    }
}

fn file_len(path: &Path) -> Result<u64> {
    Ok(fs::metadata(path)
        .with_context(|| format!("reading {}", path.display()))?
        .len())
}

/// Compares two files byte by byte (only ever needed for duplicated paths).
fn same_content(a: &Path, b: &Path) -> Result<bool> {
    let canonical =
        |p: &Path| fs::canonicalize(p).with_context(|| format!("resolving {}", p.display()));
    if canonical(a)? == canonical(b)? {
        return Ok(true);
    }
    if file_len(a)? != file_len(b)? {
        return Ok(false);
    }
    let open = |p: &Path| {
        File::open(p)
            .map(|f| BufReader::with_capacity(READ_BUFFER, f))
            .with_context(|| format!("opening {}", p.display()))
    };
    let (mut a_reader, mut b_reader) = (open(a)?, open(b)?);
    let mut a_buf = vec![0u8; 64 << 10];
    let mut b_buf = vec![0u8; 64 << 10];
    loop {
        let read = a_reader
            .read(&mut a_buf)
            .with_context(|| format!("reading {}", a.display()))?;
        if read == 0 {
            return Ok(true);
        }
        b_reader
            .read_exact(&mut b_buf[..read])
            .with_context(|| format!("reading {}", b.display()))?;
        if a_buf[..read] != b_buf[..read] {
            return Ok(false);
        }
    }
}

/// Checks a symlink's target: relative, and resolved lexically from the link's directory it
/// must stay inside `symlink_root` (for links under it) or inside `/`. Absolute targets would
/// point at whatever the runtime happens to have at that path, and escaping targets break when
/// the runfiles tree is relocated; both are mistakes in a Bazel-built layer.
pub fn check_symlink_target(link: &str, target: &str, symlink_root: Option<&str>) -> Result<()> {
    if target.is_empty() {
        bail!("symlink target is empty: give the relative path it points to");
    }
    if target.starts_with('/') {
        bail!("symlink target {target:?} is absolute: use a path relative to the link's directory");
    }
    if target.contains('\0') {
        bail!("symlink target {target:?} contains a NUL byte");
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
            ".." if depth == floor => bail!(
                "symlink target {target:?} escapes {}: point inside it (or copy the file instead of linking)",
                root.unwrap_or("/")
            ),
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
