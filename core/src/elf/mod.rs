//! ELF inspection: what an object holds, before anything touches the kernel.
//!
//! Each reader does what it does best, and each part is read once:
//! `object` checks the ELF container (magic, class, machine, section table),
//! names sections and reads what aya ignores (legacy map layouts, goebpf pin
//! paths, declarative prog-array slots: [`map_defs`]); [`compat`] rewrites
//! the little aya 0.14 would refuse; `aya_obj` then interprets the BPF
//! content (programs, maps, license, CO-RE relocations) exactly as aya will
//! when it loads those same bytes, so the summary never disagrees with the load.

mod btf_raw;
mod compat;
pub mod kfunc_link;
mod map_defs;
mod tail_calls;

use std::collections::HashMap;

use aya_obj::{generated::bpf_map_type, maps::PinningType, EbpfSectionKind, ProgramSection};
use object::{
    read::elf::ElfFile64, Endianness, Object as _, ObjectSection as _, ObjectSymbol as _,
    RelocationTarget,
};
use serde::Serialize;

pub(crate) use map_defs::BtfBytes;
pub use map_defs::{DeclaredInnerMap, DeclaredSlot, MapFormat, PinRule, PinSpec, BPFFS_ROOT};
pub use tail_calls::TailCall;

/// The largest .bss accepted (a global-data map's value; the kernel stops at a few MiB).
const MAX_BSS: u64 = 64 << 20;

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
    #[error("unsupported: {what}")]
    Unsupported { what: String },
}

/// An inspected object: its summary, and the bytes to hand to aya.
#[derive(Debug)]
pub struct Inspected {
    pub summary: ObjectSummary,
    /// The object rewritten for aya ([`compat`]), or `None` when aya takes it as it is.
    pub rewritten: Option<Vec<u8>>,
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
    /// What was rewritten so that aya accepts the object.
    pub rewritten_for_aya: Vec<String>,
    /// Functions the object calls but does not define: kfuncs (`extern …
    /// __ksym`) or unresolved externs. aya 0.14 links neither.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub externs: Vec<Extern>,
    /// It defines [`FRAGS_GLOBAL`]: the loader sets it to 0 on a kernel
    /// without multi-buffer XDP.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub frags_global: bool,
}

/// The `const volatile` global an object may define to learn whether the
/// kernel has multi-buffer XDP (kern/common.h's `xdp_has_frags`): 1 unless
/// the loader sets it to 0, before loading, on a kernel without it.
pub const FRAGS_GLOBAL: &str = "xdp_has_frags";

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Extern {
    pub name: String,
    /// A kernel function (a FUNC in the BTF `.ksyms` section).
    pub kfunc: bool,
    /// A kernel variable (a VAR in `.ksyms`). Neither: an extern that some
    /// other object was meant to define.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variable: Option<KsymVariable>,
    /// Declared `__weak`: optional, for a kernel that may lack it.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub weak: bool,
}

/// How a kernel variable is declared, which says where libbpf resolves it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KsymVariable {
    /// `extern const int bpf_prog_active __ksym`: a VAR of vmlinux's BTF.
    Typed,
    /// `extern const void sym __ksym`: an address from /proc/kallsyms.
    Untyped,
}

/// The symbols the object needs from outside: undefined globals.
fn externs(elf: &ElfFile64<'_, Endianness>) -> Result<Vec<Extern>, ElfError> {
    let ksyms = match elf.section_by_name(".BTF").and_then(|s| s.data().ok()) {
        Some(btf) => btf_raw::ksyms(btf, elf.endian())?,
        None => Vec::new(),
    };
    let mut found: Vec<Extern> = elf
        .symbols()
        .filter(|s| s.is_undefined() && s.is_global())
        .filter_map(|s| {
            let name = s.name().ok().filter(|n| !n.is_empty())?.to_owned();
            let ksym = ksyms.iter().find(|(n, _)| *n == name).map(|(_, k)| *k);
            Some(Extern {
                kfunc: ksym == Some(btf_raw::KsymKind::Function),
                variable: match ksym {
                    Some(btf_raw::KsymKind::Typed) => Some(KsymVariable::Typed),
                    Some(btf_raw::KsymKind::Untyped) => Some(KsymVariable::Untyped),
                    _ => None,
                },
                weak: s.is_weak(),
                name,
            })
        })
        .collect();
    found.sort_by(|a, b| a.name.cmp(&b.name));
    found.dedup_by(|a, b| a.name == b.name);
    Ok(found)
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
    /// The tail calls its bytecode makes.
    pub tail_calls: Vec<TailCall>,
    /// An `xdp/devmap` or `xdp/cpumap` program: it runs from a devmap or
    /// cpumap entry, never on an interface, so it is never the entry.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub map_program: bool,
    /// Where its instructions come from in the C source (the object's BTF
    /// line info, `-g`): kernels before 6.4 print only the text in a
    /// verifier log, and the file and line are found here.
    #[serde(skip)]
    pub source_lines: Vec<SourcePlace>,
}

/// One BTF line-info record: the first instruction of a C source line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourcePlace {
    /// The instruction's index in the program, as the verifier counts.
    pub insn: u32,
    /// The file's name without its directories, as the kernel prints it.
    pub file: String,
    pub line: u32,
    /// The line's text, leading blanks trimmed (as the kernel prints it).
    pub text: String,
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
    /// How the object defines it.
    pub format: MapFormat,
    /// `.bss`/`.data`/`.rodata`: internal to the object, never pinned.
    pub global_data: bool,
    /// Where it is pinned (`None` for global data).
    pub pin: Option<PinSpec>,
    /// Prog arrays: the slots the object initialises declaratively.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub declared_slots: Vec<DeclaredSlot>,
    /// Maps of maps: the slots the object initialises with its own maps,
    /// which the loader fills once every map exists.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub inner_maps: Vec<DeclaredInnerMap>,
    /// The loader creates this map itself, exactly as summarised here,
    /// because aya would create it otherwise (declarative prog arrays,
    /// devmaps and cpumaps with 4-byte values, LPM tries lacking
    /// BPF_F_NO_PREALLOC): the reason is in `rewritten_for_aya`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub loader_creates: bool,
}

/// BPF_F_NO_PREALLOC, which the kernel requires of every LPM trie.
const BPF_F_NO_PREALLOC: u32 = 1;

/// What aya would get wrong in creating `map`, and so the loader does itself.
fn loader_creates(map: &mut MapSummary, notes: &mut Vec<String>) {
    use bpf_map_type::{
        BPF_MAP_TYPE_CPUMAP, BPF_MAP_TYPE_DEVMAP, BPF_MAP_TYPE_DEVMAP_HASH, BPF_MAP_TYPE_LPM_TRIE,
    };
    if !map.declared_slots.is_empty() {
        map.loader_creates = true;
    }
    let devmap_like = [
        BPF_MAP_TYPE_DEVMAP,
        BPF_MAP_TYPE_DEVMAP_HASH,
        BPF_MAP_TYPE_CPUMAP,
    ]
    .into_iter()
    .any(|t| map.is(t));
    if devmap_like && map.value_size != 8 {
        map.loader_creates = true;
        notes.push(format!(
            "map {}: created with its declared {}-byte values (aya would make them 8)",
            map.name, map.value_size
        ));
    }
    if map.is(BPF_MAP_TYPE_LPM_TRIE) && map.flags & BPF_F_NO_PREALLOC == 0 {
        map.flags |= BPF_F_NO_PREALLOC;
        map.loader_creates = true;
        notes.push(format!(
            "map {}: LPM trie created with BPF_F_NO_PREALLOC, which the kernel requires (as goebpf adds it)",
            map.name
        ));
    }
}

/// Refuses declared inner-map slots that libbpf would refuse too: in a map
/// that holds no maps, or keyed by anything but the slot number.
fn check_inner_maps(map: &MapSummary) -> Result<(), ElfError> {
    use bpf_map_type::{BPF_MAP_TYPE_ARRAY_OF_MAPS, BPF_MAP_TYPE_HASH_OF_MAPS};
    if map.inner_maps.is_empty() {
        return Ok(());
    }
    let what = if !map.is(BPF_MAP_TYPE_ARRAY_OF_MAPS) && !map.is(BPF_MAP_TYPE_HASH_OF_MAPS) {
        format!(
            "map {}: slots initialised with maps, but its type is {}, not a map of maps",
            map.name, map.type_name
        )
    } else if map.key_size != 4 {
        format!(
            "map {}: slots initialised with maps need a 4-byte key (the slot number), not {} bytes",
            map.name, map.key_size
        )
    } else {
        return Ok(());
    };
    Err(ElfError::Unsupported { what: shown(&what) })
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
pub fn inspect(data: &[u8]) -> Result<Inspected, ElfError> {
    inspect_for(data, Frags::Kept)
}

/// What becomes of `xdp.frags` programs in the bytes handed to aya.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Frags {
    /// Loaded as the object says.
    Kept,
    /// Loaded as plain XDP programs (`xdp.frags` → `xdp`, `xdp.frags/devmap`
    /// → `xdp/devmap`), for a kernel without multi-buffer XDP (before 5.18),
    /// which refuses the flag. A program that also calls the frags helpers
    /// is then refused by the verifier, which names the helper.
    Dropped,
}

/// [`inspect`], with `xdp.frags` programs kept or made plain XDP programs.
pub fn inspect_for(data: &[u8], frags: Frags) -> Result<Inspected, ElfError> {
    let elf = check_container(data)?;
    let legacy = map_defs::legacy_maps(&elf)?;
    let initialised = map_defs::declared_slots(&elf)?;
    let mut declared: HashMap<String, Vec<DeclaredSlot>> = HashMap::new();
    for (map, slot) in initialised.programs {
        declared.entry(map).or_default().push(slot);
    }
    let mut declared_inner: HashMap<String, Vec<DeclaredInnerMap>> = HashMap::new();
    for (map, slot) in initialised.inner_maps {
        declared_inner.entry(map).or_default().push(slot);
    }

    let mut rewrites = compat::Rewrites::default();
    let mut rewritten_for_aya = Vec::new();
    for section in elf.sections() {
        let Ok(name) = section.name() else { continue };
        if section.kind() != object::SectionKind::Text {
            continue;
        }
        let frags_dropped = (frags == Frags::Dropped)
            .then(|| compat::without_frags(name))
            .flatten();
        if let Some(new) = frags_dropped {
            rewrites.renames.push((section.index().0, new));
            rewritten_for_aya.push(format!(
                "section {name} loaded as {new}: this kernel has no xdp.frags (multi-buffer XDP, Linux 5.18+)"
            ));
        } else if let Some(new) = compat::aya_section_name(name) {
            rewrites.renames.push((section.index().0, new));
            rewritten_for_aya.push(format!("section {name} read as {new}"));
        } else if name != ".text"
            && !name.starts_with("xdp")
            && name.parse::<ProgramSection>().is_err()
        {
            // A program of another type aya does not know (tc, say): it must
            // not sink the XDP programs; listed, never loaded.
            rewrites
                .renames
                .push((section.index().0, compat::NOT_LOADED_SECTION));
            rewritten_for_aya.push(format!(
                "section {name}: a program type aya 0.14 does not know; listed, not loaded"
            ));
        }
    }
    for map in &legacy {
        rewrites.zero.push(map.tail.clone());
    }
    let program_value_names = compat::program_value_names(&elf)?;
    let values_hidden = !program_value_names.is_empty();
    rewrites.zero.extend(program_value_names);
    if values_hidden {
        rewritten_for_aya.push(
            "prog-array `values` hidden from aya (xdploader fills declared slots itself)".into(),
        );
    }
    let rewritten = if rewrites.is_empty() {
        None
    } else {
        Some(rewrites.apply(data, &elf)?)
    };
    let obj = parse_bpf(rewritten.as_deref().unwrap_or(data))?;

    let section_name = |index: usize| {
        elf.section_by_index(object::SectionIndex(index))
            .ok()
            .and_then(|s| s.name().ok().map(str::to_owned))
            .unwrap_or_else(|| format!("section #{index}"))
    };
    let relocated_symbol = relocated_symbols(&elf);
    // Where each function is in the file as given: aya saw the rewritten
    // one, where sections that share a name are merged into one.
    let original_place: HashMap<String, (usize, u64)> = elf
        .symbols()
        .filter(|s| s.kind() == object::SymbolKind::Text)
        .filter_map(|s| {
            Some((
                s.name().ok()?.to_owned(),
                (s.section_index()?.0, s.address()),
            ))
        })
        .collect();

    let btf_strings = obj.btf.as_ref().map(btf_string_table).unwrap_or_default();
    let mut programs: Vec<(usize, u64, ProgramSummary)> = obj
        .programs
        .iter()
        .map(|(name, prog)| {
            let (xdp, frags, map_program) = match prog.section {
                ProgramSection::Xdp { frags, attach_type } => (
                    true,
                    frags,
                    !matches!(attach_type, aya_obj::programs::XdpAttachType::Interface),
                ),
                _ => (false, false, false),
            };
            let function = obj.functions.get(&prog.function_key());
            let (section, address) = original_place
                .get(name)
                .copied()
                .unwrap_or((prog.section_index, prog.address));
            let tail_calls = function.map_or_else(Vec::new, |f| {
                tail_calls::scan(&f.instructions, |i| {
                    relocated_symbol(section, address + 8 * i as u64)
                })
            });
            let summary = ProgramSummary {
                name: name.clone(),
                section: section_name(section),
                xdp,
                frags,
                instructions: function.map_or(0, |f| f.instructions.len()),
                tail_calls,
                map_program,
                source_lines: function.map_or_else(Vec::new, |f| source_places(&btf_strings, f)),
            };
            (section, address, summary)
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
            let legacy = legacy.iter().find(|l| &l.name == name);
            let (format, pin) = match (legacy, global_data) {
                (_, true) => (MapFormat::GlobalData, None),
                (Some(l), false) => (l.format, Some(l.pin.clone())),
                (None, false) => {
                    let rule = if map.pinning() == PinningType::ByName {
                        PinRule::LibbpfByName
                    } else {
                        PinRule::Default
                    };
                    (MapFormat::Btf, Some(PinSpec::by_name(name, rule)))
                }
            };
            let mut declared_slots = declared.remove(name).unwrap_or_default();
            declared_slots.sort_by_key(|s| s.slot);
            let mut inner_maps = declared_inner.remove(name).unwrap_or_default();
            inner_maps.sort_by_key(|s| s.slot);
            // aya sees no value size in a prog array whose `values` is
            // hidden; libbpf's is a program fd, and the loader creates it.
            let values_hidden = values_hidden
                && map.map_type() == bpf_map_type::BPF_MAP_TYPE_PROG_ARRAY as u32
                && map.value_size() == 0;
            let value_size = if values_hidden { 4 } else { map.value_size() };
            let summary = MapSummary {
                name: name.clone(),
                type_name: map_type_name(map.map_type()),
                map_type: map.map_type(),
                key_size: map.key_size(),
                value_size,
                max_entries: map.max_entries(),
                flags: map.map_flags(),
                format,
                global_data,
                pin,
                declared_slots,
                inner_maps,
                loader_creates: values_hidden,
            };
            (map.symbol_index().unwrap_or(usize::MAX), summary)
        })
        .collect();
    maps.sort_by(|(a, ma), (b, mb)| a.cmp(b).then_with(|| ma.name.cmp(&mb.name)));
    for (_, map) in &mut maps {
        loader_creates(map, &mut rewritten_for_aya);
        check_inner_maps(map)?;
    }

    Ok(Inspected {
        summary: ObjectSummary {
            license: obj.license.to_string_lossy().into_owned(),
            programs,
            maps: maps.into_iter().map(|(_, m)| m).collect(),
            needs_kernel_btf: obj.has_btf_relocations(),
            rewritten_for_aya,
            externs: externs(&elf)?,
            frags_global: elf
                .symbols()
                .any(|s| s.is_definition() && s.name() == Ok(FRAGS_GLOBAL)),
        },
        rewritten,
    })
}

/// `aya_obj::Object::parse`, which trusts offsets in the file: a malformed
/// object that slipped past [`check_container`] makes it panic (found by
/// fuzzing: tests/fuzz_inspect.rs), so a panic there is one more "malformed"
/// error, reported without the panic message on stderr.
fn parse_bpf(data: &[u8]) -> Result<aya_obj::Object, ElfError> {
    static QUIET: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = QUIET
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let parsed = std::panic::catch_unwind(|| aya_obj::Object::parse(data));
    std::panic::set_hook(hook);
    match parsed {
        Ok(result) => result.map_err(ElfError::Bpf),
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "no reason given".into());
            Err(ElfError::Malformed {
                reason: format!("the BPF object parser gave up ({what})"),
            })
        }
    }
}

/// (section index, offset) → the name of the symbol relocated there.
fn relocated_symbols<'a>(
    elf: &'a ElfFile64<'_, Endianness>,
) -> impl Fn(usize, u64) -> Option<String> + 'a {
    let mut by_place: HashMap<(usize, u64), String> = HashMap::new();
    for section in elf.sections() {
        if section.kind() != object::SectionKind::Text {
            continue;
        }
        for (offset, reloc) in section.relocations() {
            if let RelocationTarget::Symbol(index) = reloc.target() {
                if let Some(name) = elf
                    .symbol_by_index(index)
                    .ok()
                    .and_then(|s| s.name().ok().map(str::to_owned))
                {
                    by_place.insert((section.index().0, offset), name);
                }
            }
        }
    }
    move |section, offset| by_place.get(&(section, offset)).cloned()
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
        let name = shown(section.name().unwrap_or("?"));
        let malformed = |reason: String| ElfError::Malformed {
            reason: format!("section {name}: {reason}"),
        };
        section.data().map_err(|e| malformed(e.to_string()))?;
        // .bss has no bytes in the file, only a size, which the BPF parser
        // allocates: far beyond any BPF map value (the kernel's limit is a few MiB).
        if section.kind() == object::SectionKind::UninitializedData && section.size() > MAX_BSS {
            return Err(malformed(format!(
                "{} bytes of zero-initialised data, more than a BPF map can hold",
                section.size()
            )));
        }
        if section.kind() == object::SectionKind::Text && section.size() % 8 != 0 {
            return Err(malformed(format!(
                "{} bytes is not a whole number of 8-byte BPF instructions",
                section.size()
            )));
        }
        for (offset, _) in section.relocations() {
            if offset >= section.size() {
                return Err(malformed(format!("relocation at {offset} past its end")));
            }
        }
    }
    // What the BPF parser slices by without checking: every symbol inside its section.
    for symbol in elf.symbols() {
        let Some(index) = symbol.section_index() else {
            continue;
        };
        let Ok(section) = elf.section_by_index(index) else {
            return Err(ElfError::Malformed {
                reason: format!(
                    "symbol {} is in no section",
                    shown(symbol.name().unwrap_or("?"))
                ),
            });
        };
        let inside = symbol
            .address()
            .checked_sub(section.address())
            .and_then(|start| start.checked_add(symbol.size()))
            .is_some_and(|end| end <= section.size());
        if !inside {
            return Err(ElfError::Malformed {
                reason: format!(
                    "symbol {} lies outside its section {}",
                    shown(symbol.name().unwrap_or("?")),
                    shown(section.name().unwrap_or("?"))
                ),
            });
        }
    }
    Ok(elf)
}

fn program_sections(elf: &ElfFile64<'_, Endianness>) -> Vec<String> {
    elf.sections()
        .filter(|s| s.kind() == object::SectionKind::Text && s.size() > 0)
        .filter_map(|s| s.name().ok().map(shown))
        .collect()
}

/// A name read from the file, as it may appear in a one-line message:
/// control characters escaped (a fuzzed section name held a newline).
/// The string section of an object's BTF (empty when it has none). aya_obj
/// writes it out in the host's byte order.
fn btf_string_table(btf: &aya_obj::btf::Btf) -> Vec<u8> {
    let bytes = btf.to_bytes();
    btf_raw::layout(&bytes, Endianness::default())
        .ok()
        .and_then(|(_, strings)| bytes.get(strings))
        .map(<[u8]>::to_vec)
        .unwrap_or_default()
}

/// A function's line-info records as source places (aya_obj has made their
/// offsets instruction indices within the function); line 0 and records
/// whose strings are missing are left out.
fn source_places(strings: &[u8], function: &aya_obj::Function) -> Vec<SourcePlace> {
    let string_at = |off: u32| btf_raw::string_at(strings, off as usize);
    function
        .line_info
        .line_info
        .iter()
        .filter_map(|record| {
            // BPF_LINE_INFO_LINE_NUM: the line is the top 22 bits.
            let line = record.line_col >> 10;
            if line == 0 {
                return None;
            }
            let file = string_at(record.file_name_off)?;
            Some(SourcePlace {
                insn: record.insn_off,
                file: file.rsplit('/').next().unwrap_or(file).to_owned(),
                line,
                text: string_at(record.line_off)?.trim_start().to_owned(),
            })
        })
        .collect()
}

/// An [`ElfError::Malformed`] saying `reason`: what the rewriters
/// ([`compat`], [`kfunc_link`]) say of bytes they cannot follow.
fn malformed(reason: impl std::fmt::Display) -> ElfError {
    ElfError::Malformed {
        reason: reason.to_string(),
    }
}

pub(crate) fn shown(name: &str) -> String {
    name.chars()
        .flat_map(|c| {
            let escaped: Vec<char> = if c.is_control() {
                c.escape_default().collect()
            } else {
                vec![c]
            };
            escaped
        })
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
