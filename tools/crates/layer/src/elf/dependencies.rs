//! What an ELF file needs from the dynamic loader, as read from its dynamic section, and the
//! report facts that follow from it.

use sematic_oci_core::native_report::{ElfFacts, Libc, Version};

/// What the dynamic loader would look at.
#[derive(Default)]
pub(super) struct Dependencies {
    pub(super) interpreter: Option<String>,
    pub(super) needed: Vec<String>,
    pub(super) versions: Vec<String>,
    pub(super) rpath: Vec<String>,
    pub(super) runpath: Vec<String>,
}

impl Dependencies {
    pub(super) fn apply(self, facts: &mut ElfFacts) {
        let musl = self.needed.iter().any(|n| n.starts_with("libc.musl-"))
            || self
                .interpreter
                .is_some_and(|i| i.starts_with("/lib/ld-musl-"));
        let glibc = self.versions.iter().any(|v| v.starts_with("GLIBC_"))
            || self.needed.iter().any(|n| n == "libc.so.6");
        facts.libc = match (musl, glibc) {
            (true, _) => Libc::Musl,
            (false, true) => Libc::Glibc,
            (false, false) => Libc::None,
        };
        facts.glibc = self.versions.iter().filter_map(|v| glibc_version(v)).max();
        facts.needed = self.needed;
        facts.rpath = self.rpath;
        facts.runpath = self.runpath;
    }
}

/// The glibc release a needed symbol version requires: `GLIBC_2.17` → 2.17, and
/// `GLIBC_ABI_DT_RELR` (packed relocations) → 2.36, the release that introduced it. Other
/// names, such as `GLIBC_PRIVATE`, say nothing about the release.
fn glibc_version(name: &str) -> Option<Version> {
    if name == "GLIBC_ABI_DT_RELR" {
        return "2.36".parse().ok();
    }
    name.strip_prefix("GLIBC_")?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glibc_versions_come_from_numbered_and_relr_names() {
        let version = |name: &str| glibc_version(name).map(|v| v.to_string());
        assert_eq!(version("GLIBC_2.2.5").as_deref(), Some("2.2.5"));
        assert_eq!(version("GLIBC_2.34").as_deref(), Some("2.34"));
        assert_eq!(version("GLIBC_ABI_DT_RELR").as_deref(), Some("2.36"));
        for other in [
            "GLIBC_PRIVATE",
            "GLIBCXX_3.4.29",
            "CXXABI_1.3",
            "GLIBC_",
            "GLIBC_2.x",
        ] {
            assert_eq!(version(other), None, "{other}");
        }
    }
}
