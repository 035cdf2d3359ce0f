//! A minimal ELF writer for the native report tests: a header, one `PT_LOAD` segment mapping the
//! whole file at [`BASE`] (so that addresses and file offsets differ, as in real files), an
//! optional `PT_INTERP`, and a `PT_DYNAMIC` with `DT_NEEDED`, `DT_RPATH`, `DT_RUNPATH`,
//! `DT_STRTAB`/`DT_STRSZ` and a version-needs table (`DT_VERNEED`/`DT_VERNEEDNUM`). No section headers: the dynamic loader
//! does not need them, and neither does the reader under test.

pub const EM_386: u16 = 3;
pub const EM_X86_64: u16 = 62;
pub const EM_AARCH64: u16 = 183;
pub const ET_REL: u16 = 1;
pub const ET_EXEC: u16 = 2;
pub const ET_DYN: u16 = 3;

/// Virtual address of the file's first byte.
const BASE: u64 = 0x40_0000;

pub struct Elf {
    pub elf64: bool,
    pub little_endian: bool,
    pub kind: u16,
    pub machine: u16,
    pub interpreter: Option<String>,
    pub needed: Vec<String>,
    /// `DT_RPATH` and `DT_RUNPATH` entries, each a colon-separated list.
    pub rpath: Vec<String>,
    pub runpath: Vec<String>,
    /// Version needs: (file, version names).
    pub versions: Vec<(String, Vec<String>)>,
    /// Leave out the dynamic segment (a static executable, or an object file).
    pub dynamic: bool,
}

impl Elf {
    /// A 64-bit little-endian shared object linked against glibc: it needs `libc.so.6` with
    /// `GLIBC_2.2.5` and `GLIBC_<glibc>`.
    pub fn glibc(machine: u16, glibc: &str) -> Self {
        let versions = names(&["GLIBC_2.2.5", &format!("GLIBC_{glibc}")]);
        Elf {
            elf64: true,
            little_endian: true,
            kind: ET_DYN,
            machine,
            interpreter: None,
            needed: names(&["libc.so.6"]),
            rpath: Vec::new(),
            runpath: Vec::new(),
            versions: vec![("libc.so.6".to_owned(), versions)],
            dynamic: true,
        }
    }

    pub fn build(&self) -> Vec<u8> {
        let (header, phentsize, dynentsize) = if self.elf64 {
            (64, 56, 16)
        } else {
            (52, 32, 8)
        };
        let mut strings = vec![0u8];
        let mut string = |text: &str| {
            let index = strings.len() as u64;
            strings.extend_from_slice(text.as_bytes());
            strings.push(0);
            index
        };
        let needed: Vec<u64> = self.needed.iter().map(|n| string(n)).collect();
        let rpath: Vec<u64> = self.rpath.iter().map(|n| string(n)).collect();
        let runpath: Vec<u64> = self.runpath.iter().map(|n| string(n)).collect();
        let versions: Vec<(u64, Vec<u64>)> = (self.versions.iter())
            .map(|(file, names)| (string(file), names.iter().map(|n| string(n)).collect()))
            .collect();

        let phnum = if self.dynamic { 2 } else { 1 } + usize::from(self.interpreter.is_some());
        let interp = header + phnum * phentsize;
        let strtab = interp + self.interpreter.as_ref().map_or(0, |i| i.len() + 1);
        let verneed = (strtab + strings.len()).next_multiple_of(4);
        let verneed_size: usize = versions
            .iter()
            .map(|(_, names)| 16 + 16 * names.len())
            .sum();
        let dynamic = (verneed + verneed_size).next_multiple_of(8);
        let mut tags: Vec<(u64, u64)> = needed.iter().map(|&n| (1, n)).collect();
        tags.extend(rpath.iter().map(|&n| (15, n)));
        tags.extend(runpath.iter().map(|&n| (29, n)));
        tags.extend([(5, BASE + strtab as u64), (10, strings.len() as u64)]);
        if !versions.is_empty() {
            tags.extend([
                (0x6fff_fffe, BASE + verneed as u64),
                (0x6fff_ffff, versions.len() as u64),
            ]);
        }
        tags.push((0, 0));
        let size = if self.dynamic {
            dynamic + tags.len() * dynentsize
        } else {
            strtab
        };

        let mut out = Writer {
            bytes: vec![0; size],
            elf64: self.elf64,
            little: self.little_endian,
        };
        out.bytes[..4].copy_from_slice(b"\x7fELF");
        out.bytes[4] = if self.elf64 { 2 } else { 1 };
        out.bytes[5] = if self.little_endian { 1 } else { 2 };
        out.bytes[6] = 1;
        out.half(16, self.kind);
        out.half(18, self.machine);
        out.word(20, 1);
        let (phoff, ehsize) = if self.elf64 { (32, 52) } else { (28, 40) };
        out.address(phoff, header as u64);
        out.half(ehsize, header as u16);
        out.half(ehsize + 2, phentsize as u16);
        out.half(ehsize + 4, phnum as u16);

        let mut segments = Vec::new();
        if let Some(interpreter) = &self.interpreter {
            out.bytes[interp..interp + interpreter.len()].copy_from_slice(interpreter.as_bytes());
            segments.push((3, interp, interpreter.len() + 1));
        }
        segments.push((1, 0, size));
        if self.dynamic {
            segments.push((2, dynamic, size - dynamic));
        }
        for (index, (kind, offset, length)) in segments.into_iter().enumerate() {
            let at = header + index * phentsize;
            let (offset, length) = (offset as u64, length as u64);
            out.word(at, kind);
            if self.elf64 {
                out.word(at + 4, 6);
                for (field, value) in [
                    (8, offset),
                    (16, BASE + offset),
                    (24, BASE + offset),
                    (32, length),
                    (40, length),
                    (48, 8),
                ] {
                    out.address(at + field, value);
                }
            } else {
                for (field, value) in [
                    (4, offset),
                    (8, BASE + offset),
                    (12, BASE + offset),
                    (16, length),
                    (20, length),
                    (28, 4),
                ] {
                    out.address(at + field, value);
                }
                out.word(at + 24, 6);
            }
        }
        if !self.dynamic {
            return out.bytes;
        }
        out.bytes[strtab..strtab + strings.len()].copy_from_slice(&strings);

        let mut at = verneed;
        for (index, (file, names)) in versions.iter().enumerate() {
            let last = index + 1 == versions.len();
            out.half(at, 1);
            out.half(at + 2, names.len() as u16);
            out.word(at + 4, *file as u32);
            out.word(at + 8, 16);
            out.word(
                at + 12,
                if last {
                    0
                } else {
                    16 + 16 * names.len() as u32
                },
            );
            at += 16;
            for (number, &name) in names.iter().enumerate() {
                out.word(at, 0); // vna_hash: unused by the reader
                out.half(at + 6, 2 + number as u16);
                out.word(at + 8, name as u32);
                out.word(at + 12, if number + 1 == names.len() { 0 } else { 16 });
                at += 16;
            }
        }
        for (index, (tag, value)) in tags.into_iter().enumerate() {
            let at = dynamic + index * dynentsize;
            out.address(at, tag);
            out.address(at + dynentsize / 2, value);
        }
        out.bytes
    }
}

struct Writer {
    bytes: Vec<u8>,
    elf64: bool,
    little: bool,
}

impl Writer {
    fn put(&mut self, at: usize, le: &[u8], be: &[u8]) {
        let bytes = if self.little { le } else { be };
        self.bytes[at..at + bytes.len()].copy_from_slice(bytes);
    }

    fn half(&mut self, at: usize, value: u16) {
        self.put(at, &value.to_le_bytes(), &value.to_be_bytes());
    }

    fn word(&mut self, at: usize, value: u32) {
        self.put(at, &value.to_le_bytes(), &value.to_be_bytes());
    }

    fn address(&mut self, at: usize, value: u64) {
        if self.elf64 {
            self.put(at, &value.to_le_bytes(), &value.to_be_bytes());
        } else {
            self.word(at, u32::try_from(value).unwrap());
        }
    }
}

pub fn names(items: &[&str]) -> Vec<String> {
    items.iter().map(|item| (*item).to_owned()).collect()
}
