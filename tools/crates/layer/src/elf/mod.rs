//! The facts of the native report (see `sematic_oci_core::native_report`): which CPU an ELF
//! file is for, what it needs from the C library, and where the loader looks for its libraries.
//!
//! ELF files are recognised by [`crate::sniff::MagicSniffer`] from the bytes already on their
//! way into the tar, and only those are read again: a few small structures, by positioned reads
//! (the file is in the page cache; a CUDA library is over a gigabyte, so nothing is read whole).
//! They are the ELF header, the program headers, the dynamic section, and the `DT_NEEDED`,
//! `DT_RPATH`, `DT_RUNPATH` and version-needs (`DT_VERNEED`) entries with their names from
//! `DT_STRTAB`, found through the `PT_LOAD` segments as the dynamic loader finds them (section
//! headers may be stripped).

use std::io;
use std::os::unix::fs::FileExt;

use sematic_oci_core::native_report::{machine_name, ElfFacts, ElfKind, Libc};

use dependencies::Dependencies;

mod dependencies;

/// Bytes fetched per positioned read: the ELF header and program headers, a dynamic section,
/// a run of names, each in one read.
const WINDOW: usize = 8 << 10;
/// More dynamic entries or needed versions than any real file has: a malformed file.
const MAX_ENTRIES: u64 = 1 << 16;

const PT_LOAD: u32 = 1;
const PT_DYNAMIC: u32 = 2;
const PT_INTERP: u32 = 3;
const DT_NULL: u64 = 0;
const DT_NEEDED: u64 = 1;
const DT_STRTAB: u64 = 5;
const DT_STRSZ: u64 = 10;
const DT_RPATH: u64 = 15;
const DT_RUNPATH: u64 = 29;
const DT_VERNEED: u64 = 0x6fff_fffe;
const DT_VERNEEDNUM: u64 = 0x6fff_ffff;

/// The facts of the ELF file `file` of `len` bytes, at `path` in the image. A file that cannot
/// be read as ELF is reported as `invalid`; only an I/O error is an error.
pub fn read_facts<F: FileExt>(path: String, file: &F, len: u64) -> io::Result<ElfFacts> {
    let mut facts = ElfFacts {
        path,
        machine: "unknown".to_owned(),
        kind: ElfKind::Invalid,
        libc: Libc::None,
        glibc: None,
        needed: Vec::new(),
        rpath: Vec::new(),
        runpath: Vec::new(),
    };
    let mut elf = match Elf::open(file, len) {
        Ok(elf) => elf,
        Err(Problem::Malformed) => return Ok(facts),
        Err(Problem::Io(err)) => return Err(err),
    };
    facts.machine = machine_name(elf.machine, elf.elf64, elf.little_endian);
    facts.kind = match elf.kind {
        0 => ElfKind::None,
        1 => ElfKind::Rel,
        2 => ElfKind::Exec,
        3 => ElfKind::Dyn,
        4 => ElfKind::Core,
        _ => ElfKind::Other,
    };
    if matches!(facts.kind, ElfKind::Exec | ElfKind::Dyn) {
        match elf.dependencies() {
            Ok(dependencies) => dependencies.apply(&mut facts),
            Err(Problem::Malformed) => facts.kind = ElfKind::Invalid,
            Err(Problem::Io(err)) => return Err(err),
        }
    }
    Ok(facts)
}

/// Why facts could not be read: a malformed file (reported as `invalid`), or an I/O error.
enum Problem {
    Malformed,
    Io(io::Error),
}

impl From<io::Error> for Problem {
    fn from(err: io::Error) -> Self {
        // The file ended before its length: it shrank after it was streamed.
        if err.kind() == io::ErrorKind::UnexpectedEof {
            Problem::Malformed
        } else {
            Problem::Io(err)
        }
    }
}

type Parse<T> = Result<T, Problem>;

/// An ELF file read through a window of positioned reads.
struct Elf<'a, F> {
    file: &'a F,
    len: u64,
    window: Vec<u8>,
    window_start: u64,
    elf64: bool,
    little_endian: bool,
    kind: u16,
    machine: u16,
}

impl<'a, F: FileExt> Elf<'a, F> {
    /// Reads the identification and the type and machine of the header.
    fn open(file: &'a F, len: u64) -> Parse<Self> {
        let mut elf = Elf {
            file,
            len,
            window: Vec::new(),
            window_start: 0,
            elf64: false,
            little_endian: false,
            kind: 0,
            machine: 0,
        };
        let ident: [u8; 16] = elf.array(0)?;
        elf.elf64 = match ident[4] {
            1 => false,
            2 => true,
            _ => return Err(Problem::Malformed),
        };
        elf.little_endian = match ident[5] {
            1 => true,
            2 => false,
            _ => return Err(Problem::Malformed),
        };
        elf.kind = elf.half(16)?;
        elf.machine = elf.half(18)?;
        Ok(elf)
    }

    /// Interpreter, needed libraries and needed symbol versions, from the program headers.
    fn dependencies(&mut self) -> Parse<Dependencies> {
        let (phoff, entsize, count) = if self.elf64 {
            (self.address(32)?, self.half(54)?, self.half(56)?)
        } else {
            (self.address(28)?, self.half(42)?, self.half(44)?)
        };
        if count > 0 && u64::from(entsize) != self.pick(56, 32) {
            return Err(Problem::Malformed);
        }
        let mut loads = Vec::new();
        let (mut dynamic, mut interpreter) = (None, None);
        for index in 0..u64::from(count) {
            let at = add(phoff, index * u64::from(entsize))?;
            let kind = self.word(at)?;
            let (offset, vaddr, filesz) = if self.elf64 {
                (
                    self.address(at + 8)?,
                    self.address(at + 16)?,
                    self.address(at + 32)?,
                )
            } else {
                (
                    self.address(at + 4)?,
                    self.address(at + 8)?,
                    self.address(at + 16)?,
                )
            };
            match kind {
                PT_LOAD => loads.push((vaddr, offset, filesz)),
                PT_DYNAMIC => dynamic = Some((offset, filesz)),
                PT_INTERP => interpreter = Some(self.string(offset)?),
                _ => {}
            }
        }
        let mut dependencies = Dependencies {
            interpreter,
            ..Dependencies::default()
        };
        if let Some((offset, size)) = dynamic {
            self.read_dynamic(offset, size, &loads, &mut dependencies)?;
        }
        Ok(dependencies)
    }

    fn read_dynamic(
        &mut self,
        offset: u64,
        size: u64,
        loads: &[(u64, u64, u64)],
        dependencies: &mut Dependencies,
    ) -> Parse<()> {
        let entsize = self.pick(16, 8);
        let (mut needed, mut strtab, mut strsz, mut verneed, mut verneednum) =
            (Vec::new(), None, None, None, 0);
        let (mut rpath, mut runpath) = (Vec::new(), Vec::new());
        for index in 0..(size / entsize).min(MAX_ENTRIES) {
            let at = add(offset, index * entsize)?;
            let (tag, value) = (self.address(at)?, self.address(at + entsize / 2)?);
            match tag {
                DT_NULL => break,
                DT_NEEDED => needed.push(value),
                DT_RPATH => rpath.push(value),
                DT_RUNPATH => runpath.push(value),
                DT_STRTAB => strtab = Some(value),
                DT_STRSZ => strsz = Some(value),
                DT_VERNEED => verneed = Some(value),
                DT_VERNEEDNUM => verneednum = value,
                _ => {}
            }
        }
        if needed.is_empty() && verneed.is_none() && rpath.is_empty() && runpath.is_empty() {
            return Ok(());
        }
        let strtab = file_offset(loads, strtab.ok_or(Problem::Malformed)?)?;
        let name = |elf: &mut Self, index: u64| -> Parse<String> {
            if strsz.is_some_and(|size| index >= size) {
                return Err(Problem::Malformed);
            }
            elf.string(add(strtab, index)?)
        };
        for index in needed {
            dependencies.needed.push(name(self, index)?);
        }
        // Each entry is a colon-separated list of directories.
        for (indices, directories) in [
            (rpath, &mut dependencies.rpath),
            (runpath, &mut dependencies.runpath),
        ] {
            for index in indices {
                let list = name(self, index)?;
                directories.extend(list.split(':').filter(|d| !d.is_empty()).map(str::to_owned));
            }
        }
        let Some(verneed) = verneed else {
            return Ok(());
        };
        // Elf32_Verneed and Elf64_Verneed are the same 16 bytes, and so are their Vernaux.
        let mut entry = file_offset(loads, verneed)?;
        let mut budget = MAX_ENTRIES;
        for _ in 0..verneednum.min(MAX_ENTRIES) {
            if self.half(entry)? != 1 {
                return Err(Problem::Malformed); // vn_version: only version 1 exists
            }
            let (count, aux, next) = (
                self.half(entry + 2)?,
                self.word(entry + 8)?,
                self.word(entry + 12)?,
            );
            let mut at = add(entry, aux.into())?;
            for _ in 0..count {
                budget = budget.checked_sub(1).ok_or(Problem::Malformed)?;
                let (vna_name, vna_next) = (self.word(add(at, 8)?)?, self.word(add(at, 12)?)?);
                dependencies.versions.push(name(self, vna_name.into())?);
                if vna_next == 0 {
                    break;
                }
                at = add(at, vna_next.into())?;
            }
            if next == 0 {
                break;
            }
            entry = add(entry, next.into())?;
        }
        Ok(())
    }

    fn pick(&self, elf64: u64, elf32: u64) -> u64 {
        if self.elf64 {
            elf64
        } else {
            elf32
        }
    }

    /// `len` (at most [`WINDOW`]) bytes at `offset`, which must lie inside the file.
    fn bytes(&mut self, offset: u64, len: usize) -> Parse<&[u8]> {
        let end = add(offset, len as u64)?;
        if end > self.len {
            return Err(Problem::Malformed);
        }
        let window_end = self.window_start + self.window.len() as u64;
        if offset < self.window_start || end > window_end {
            self.fill(offset)?;
        }
        let start = (offset - self.window_start) as usize;
        Ok(&self.window[start..start + len])
    }

    /// Reads the window at `offset` (inside the file).
    fn fill(&mut self, offset: u64) -> Parse<()> {
        let size = (self.len - offset).min(WINDOW as u64) as usize;
        self.window.resize(size, 0);
        self.file.read_exact_at(&mut self.window, offset)?;
        self.window_start = offset;
        Ok(())
    }

    /// The NUL-terminated string at `offset`, at most a window long.
    fn string(&mut self, offset: u64) -> Parse<String> {
        self.bytes(offset, 1)?;
        let terminated = self.window[(offset - self.window_start) as usize..].contains(&0);
        if !terminated && offset != self.window_start {
            self.fill(offset)?;
        }
        let rest = &self.window[(offset - self.window_start) as usize..];
        let end = rest
            .iter()
            .position(|&b| b == 0)
            .ok_or(Problem::Malformed)?;
        Ok(String::from_utf8_lossy(&rest[..end]).into_owned())
    }

    fn array<const N: usize>(&mut self, offset: u64) -> Parse<[u8; N]> {
        let mut array = [0; N];
        array.copy_from_slice(self.bytes(offset, N)?);
        Ok(array)
    }

    fn half(&mut self, offset: u64) -> Parse<u16> {
        let bytes = self.array(offset)?;
        Ok(if self.little_endian {
            u16::from_le_bytes(bytes)
        } else {
            u16::from_be_bytes(bytes)
        })
    }

    fn word(&mut self, offset: u64) -> Parse<u32> {
        let bytes = self.array(offset)?;
        Ok(if self.little_endian {
            u32::from_le_bytes(bytes)
        } else {
            u32::from_be_bytes(bytes)
        })
    }

    /// An address, offset, size or dynamic entry field: 8 bytes in ELF64, 4 in ELF32.
    fn address(&mut self, offset: u64) -> Parse<u64> {
        if !self.elf64 {
            return self.word(offset).map(u64::from);
        }
        let bytes = self.array(offset)?;
        Ok(if self.little_endian {
            u64::from_le_bytes(bytes)
        } else {
            u64::from_be_bytes(bytes)
        })
    }
}

/// Where the virtual address `address` is in the file, through the `PT_LOAD` segment holding it.
fn file_offset(loads: &[(u64, u64, u64)], address: u64) -> Parse<u64> {
    loads
        .iter()
        .find(|&&(vaddr, _, filesz)| address >= vaddr && address - vaddr < filesz)
        .map(|&(vaddr, offset, _)| add(offset, address - vaddr))
        .unwrap_or(Err(Problem::Malformed))
}

fn add(a: u64, b: u64) -> Parse<u64> {
    a.checked_add(b).ok_or(Problem::Malformed)
}
