//! ELF inspection: what an object holds, before anything touches the kernel.
//!
//! Two readers, each for what it does best, each reading its part once:
//! `object` checks the ELF container (magic, class, machine, section table)
//! and names sections; `aya_obj` interprets the BPF content (programs, BTF and
//! legacy map definitions, license, CO-RE relocations) exactly as aya will
//! when it loads the same bytes, so the summary never disagrees with the load.

use aya_obj::{generated::bpf_map_type, EbpfSectionKind, ProgramSection};
use object::{read::elf::ElfFile64, Endianness, Object as _, ObjectSection as _};
use serde::Serialize;

/// `e_machine` of eBPF objects.
const EM_BPF: u16 = object::elf::EM_BPF;

#[derive(Debug, thiserror::Error)]
pub enum ElfError {
    #[error("not an ELF file (first bytes {magic})")]
    NotElf { magic: String },
    #[error("32-bit ELF: BPF objects are 64-bit (build with clang -target bpf)")]
    NotElf64,
    #[error("truncated or malformed ELF: {reason}")]
    Malformed { reason: String },
    #[error("ELF for {machine}, not BPF: build it with clang -target bpf")]
    NotBpf { machine: String },
    #[error("cannot parse the BPF content")]
    Bpf(#[source] aya_obj::ParseError),
    #[error("no XDP program in this object (program sections: {sections})")]
    NoXdpProgram { sections: String },
}

/// Everything the loader and `inspect` need to know about an object.
#[derive(Debug, Clone, Serialize)]
pub struct ObjectSummary {
    pub license: String,
    /// Programs in file order (section, then offset).
    pub programs: Vec<ProgramSummary>,
    /// Maps in file order (symbol order; global data sections last).
    pub maps: Vec<MapSummary>,
    /// The object has CO-RE relocations, so the kernel's BTF is needed to load it.
    pub needs_kernel_btf: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProgramSummary {
    pub name: String,
    pub section: String,
    pub xdp: bool,
    /// `xdp.frags`: loaded with BPF_F_XDP_HAS_FRAGS, so native mode works with
    /// MTUs above a page.
    pub frags: bool,
    pub instructions: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct MapSummary {
    pub name: String,
    #[serde(rename = "type")]
    pub type_name: String,
    #[serde(skip)]
    pub map_type: u32,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    pub flags: u32,
    /// `.bss`/`.data`/`.rodata`: internal to the object, never pinned.
    pub global_data: bool,
}

impl ObjectSummary {
    pub fn xdp_programs(&self) -> impl Iterator<Item = &ProgramSummary> {
        self.programs.iter().filter(|p| p.xdp)
    }

    pub fn map(&self, name: &str) -> Option<&MapSummary> {
        self.maps.iter().find(|m| m.name == name)
    }

    pub fn maps_of_type(&self, map_type: bpf_map_type) -> impl Iterator<Item = &MapSummary> {
        self.maps
            .iter()
            .filter(move |m| m.map_type == map_type as u32)
    }
}

impl MapSummary {
    pub fn is(&self, map_type: bpf_map_type) -> bool {
        self.map_type == map_type as u32
    }
}

/// The kernel's name for a map type, as bpftool prints it (`percpu_array`).
pub fn map_type_name(map_type: u32) -> String {
    match bpf_map_type::try_from(map_type) {
        Ok(t) => format!("{t:?}")
            .trim_start_matches("BPF_MAP_TYPE_")
            .to_ascii_lowercase(),
        Err(_) => format!("type {map_type}"),
    }
}

/// Inspects an object. Needs no privileges and never touches the kernel.
pub fn inspect(data: &[u8]) -> Result<ObjectSummary, ElfError> {
    let elf = check_container(data)?;
    let obj = aya_obj::Object::parse(data).map_err(ElfError::Bpf)?;

    let section_name = |index: usize| {
        elf.section_by_index(object::SectionIndex(index))
            .ok()
            .and_then(|s| s.name().ok().map(str::to_owned))
            .unwrap_or_else(|| format!("section #{index}"))
    };

    let mut programs: Vec<(usize, u64, ProgramSummary)> = obj
        .programs
        .iter()
        .map(|(name, prog)| {
            let (xdp, frags) = match prog.section {
                ProgramSection::Xdp { frags, .. } => (true, frags),
                _ => (false, false),
            };
            let instructions = obj
                .functions
                .get(&prog.function_key())
                .map_or(0, |f| f.instructions.len());
            let summary = ProgramSummary {
                name: name.clone(),
                section: section_name(prog.section_index),
                xdp,
                frags,
                instructions,
            };
            (prog.section_index, prog.address, summary)
        })
        .collect();
    programs.sort_by_key(|(section, address, _)| (*section, *address));
    let programs: Vec<ProgramSummary> = programs.into_iter().map(|(_, _, p)| p).collect();

    if !programs.iter().any(|p| p.xdp) {
        let sections = program_sections(&elf);
        return Err(ElfError::NoXdpProgram {
            sections: if sections.is_empty() {
                "none".into()
            } else {
                sections.join(", ")
            },
        });
    }

    let mut maps: Vec<(usize, MapSummary)> = obj
        .maps
        .iter()
        .map(|(name, map)| {
            let global_data = matches!(
                map.section_kind(),
                EbpfSectionKind::Bss | EbpfSectionKind::Data | EbpfSectionKind::Rodata
            );
            let summary = MapSummary {
                name: name.clone(),
                type_name: map_type_name(map.map_type()),
                map_type: map.map_type(),
                key_size: map.key_size(),
                value_size: map.value_size(),
                max_entries: map.max_entries(),
                flags: map.map_flags(),
                global_data,
            };
            (map.symbol_index().unwrap_or(usize::MAX), summary)
        })
        .collect();
    maps.sort_by(|(a, ma), (b, mb)| a.cmp(b).then_with(|| ma.name.cmp(&mb.name)));

    Ok(ObjectSummary {
        license: obj.license.to_string_lossy().into_owned(),
        programs,
        maps: maps.into_iter().map(|(_, m)| m).collect(),
        needs_kernel_btf: obj.has_btf_relocations(),
    })
}

/// Validates the container with clear reasons before the BPF parser sees it.
fn check_container(data: &[u8]) -> Result<ElfFile64<'_, Endianness>, ElfError> {
    if !data.starts_with(&object::elf::ELFMAG) {
        let magic = data
            .iter()
            .take(4)
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(" ");
        return Err(ElfError::NotElf {
            magic: if magic.is_empty() {
                "none: the file is empty".into()
            } else {
                magic
            },
        });
    }
    if data.get(4 /* EI_CLASS */) == Some(&object::elf::ELFCLASS32) {
        return Err(ElfError::NotElf64);
    }
    let elf = ElfFile64::<Endianness>::parse(data).map_err(|e| ElfError::Malformed {
        reason: e.to_string(),
    })?;
    let machine = elf.elf_header().e_machine.get(elf.endian());
    if machine != EM_BPF {
        return Err(ElfError::NotBpf {
            machine: machine_name(machine),
        });
    }
    // The section table is only read lazily above: touch every header now so
    // a truncated file fails here, with a reason, not deep in the BPF parser.
    for section in elf.sections() {
        section.data().map_err(|e| ElfError::Malformed {
            reason: format!("section {}: {e}", section.name().unwrap_or("?")),
        })?;
    }
    Ok(elf)
}

fn program_sections(elf: &ElfFile64<'_, Endianness>) -> Vec<String> {
    elf.sections()
        .filter(|s| s.kind() == object::SectionKind::Text && s.size() > 0)
        .filter_map(|s| s.name().ok().map(str::to_owned))
        .collect()
}

fn machine_name(machine: u16) -> String {
    let name = match machine {
        object::elf::EM_X86_64 => "x86_64",
        object::elf::EM_386 => "i386",
        object::elf::EM_AARCH64 => "aarch64",
        object::elf::EM_ARM => "arm",
        object::elf::EM_RISCV => "riscv",
        object::elf::EM_PPC64 => "ppc64",
        object::elf::EM_S390 => "s390",
        _ => return format!("machine {machine}"),
    };
    format!("{name} (e_machine {machine})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_type_names_follow_bpftool() {
        assert_eq!(
            map_type_name(bpf_map_type::BPF_MAP_TYPE_PERCPU_ARRAY as u32),
            "percpu_array"
        );
        assert_eq!(
            map_type_name(bpf_map_type::BPF_MAP_TYPE_PROG_ARRAY as u32),
            "prog_array"
        );
        assert_eq!(map_type_name(9999), "type 9999");
    }

    #[test]
    fn empty_and_garbage_are_not_elf() {
        assert!(matches!(inspect(b""), Err(ElfError::NotElf { .. })));
        let err = inspect(b"#!/bin/sh\necho hi\n").unwrap_err().to_string();
        assert_eq!(err, "not an ELF file (first bytes 23 21 2f 62)");
    }

    #[test]
    fn truncated_header_is_malformed() {
        let mut data = object::elf::ELFMAG.to_vec();
        data.extend_from_slice(&[object::elf::ELFCLASS64, 1, 1]);
        assert!(matches!(inspect(&data), Err(ElfError::Malformed { .. })));
    }

    #[test]
    fn elf32_is_refused() {
        let mut data = object::elf::ELFMAG.to_vec();
        data.extend_from_slice(&[object::elf::ELFCLASS32, 1, 1, 0]);
        data.resize(64, 0);
        assert!(matches!(inspect(&data), Err(ElfError::NotElf64)));
    }
}
