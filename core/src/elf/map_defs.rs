//! What aya does not read from map definitions: which legacy layout a
//! `maps` section uses (and so where each map is pinned), and the slots of
//! libbpf's declarative prog-array initialisation.

use std::path::{Path, PathBuf};

use object::{
    read::elf::ElfFile64, Endian as _, Endianness, Object as _, ObjectSection as _,
    ObjectSymbol as _, RelocationTarget, SectionIndex,
};
use serde::Serialize;

use super::ElfError;

/// Where pins live when iproute2 and goebpf objects name a path: the bpffs
/// root, which `--pin-dir` stands for.
pub const BPFFS_ROOT: &str = "/sys/fs/bpf";

/// The legacy `maps` section layouts, told apart by their entry size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MapFormat {
    /// BTF-defined (`SEC(".maps")`, libbpf 1.x).
    Btf,
    /// libbpf 0.x `struct bpf_map_def`: five u32, 20 bytes.
    BpfMapDef,
    /// iproute2 `struct bpf_elf_map`: nine u32, 36 bytes, with `pinning`.
    BpfElfMap,
    /// goebpf `struct bpf_map_def`: 40 bytes, with `persistent_path`.
    Goebpf,
    /// Another legacy layout: only its first five u32 are read.
    Legacy,
    /// `.bss`, `.data`, `.rodata`: the object's global variables.
    GlobalData,
}

impl MapFormat {
    fn for_entry_size(size: u64) -> Self {
        match size {
            20 => Self::BpfMapDef,
            36 => Self::BpfElfMap,
            40 => Self::Goebpf,
            _ => Self::Legacy,
        }
    }
}

/// Why a map is pinned where it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PinRule {
    /// No pinning asked for: pinned by name in the directory of the load's
    /// first interface (`<pin-dir>/<iface>/<name>`, as xdp-tutorial's loaders
    /// do), so two objects that both name a map `tx_port` never collide.
    Default,
    /// BTF `pinning = LIBBPF_PIN_BY_NAME`.
    LibbpfByName,
    /// iproute2 `PIN_OBJECT_NS`: iproute2 uses a per-object directory; by name here.
    Iproute2ObjectNs,
    /// iproute2 `PIN_GLOBAL_NS`: `tc/globals/<name>`, shared with tc programs.
    Iproute2GlobalNs,
    /// goebpf `persistent_path`.
    GoebpfPersistentPath,
}

impl PinRule {
    pub fn describe(self) -> &'static str {
        match self {
            Self::Default => "no pinning asked: in the first interface's directory",
            Self::LibbpfByName => "LIBBPF_PIN_BY_NAME",
            Self::Iproute2ObjectNs => "iproute2 PIN_OBJECT_NS, by name",
            Self::Iproute2GlobalNs => "iproute2 PIN_GLOBAL_NS",
            Self::GoebpfPersistentPath => "goebpf persistent_path",
        }
    }
}

/// Where a map is pinned: `path` is relative to the pin directory.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PinSpec {
    pub path: PathBuf,
    pub rule: PinRule,
}

impl PinSpec {
    pub fn by_name(name: &str, rule: PinRule) -> Self {
        Self {
            path: PathBuf::from(name),
            rule,
        }
    }

    /// The pin's path relative to the pin directory, for a load whose first
    /// interface is `first_iface` (None: not known yet, shown as `<iface>`).
    pub fn relative(&self, first_iface: Option<&str>) -> PathBuf {
        match self.rule {
            PinRule::Default => Path::new(first_iface.unwrap_or("<iface>")).join(&self.path),
            _ => self.path.clone(),
        }
    }
}

/// One map of a legacy `maps` section.
#[derive(Debug)]
pub(super) struct LegacyMap {
    pub name: String,
    pub format: MapFormat,
    pub pin: PinSpec,
    /// File range of the bytes past the five u32 that aya would misread as
    /// its own `id` and `pinning` fields (iproute2's pinning 2 is not a value
    /// of aya's enum): the compat rewrite zeroes them.
    pub tail: std::ops::Range<usize>,
}

fn malformed(reason: String) -> ElfError {
    ElfError::Malformed {
        reason: super::shown(&reason),
    }
}

fn unsupported(what: String) -> ElfError {
    ElfError::Unsupported {
        what: super::shown(&what),
    }
}

pub(super) fn u32_at(data: &[u8], offset: usize, endian: Endianness) -> Option<u32> {
    let bytes: [u8; 4] = data.get(offset..offset + 4)?.try_into().ok()?;
    Some(endian.read_u32(bytes))
}

pub(super) fn u64_at(data: &[u8], offset: usize, endian: Endianness) -> Option<u64> {
    let bytes: [u8; 8] = data.get(offset..offset + 8)?.try_into().ok()?;
    Some(endian.read_u64(bytes))
}

/// Reads the legacy `maps` section, if any.
pub(super) fn legacy_maps(elf: &ElfFile64<'_, Endianness>) -> Result<Vec<LegacyMap>, ElfError> {
    let Some(section) = elf.section_by_name("maps") else {
        return Ok(Vec::new());
    };
    let endian = elf.endian();
    let data = section
        .data()
        .map_err(|e| malformed(format!("maps: {e}")))?;
    let (file_offset, _) = section
        .file_range()
        .ok_or_else(|| malformed("maps: no file data".into()))?;
    let relocations: Vec<(u64, object::Relocation)> = section.relocations().collect();

    let mut maps = Vec::new();
    for (name, start, size) in map_symbols(elf, section.index()) {
        let end = start
            .checked_add(size)
            .filter(|end| *end <= data.len() as u64 && size >= 20)
            .ok_or_else(|| {
                malformed(format!(
                    "map {name}: a {size}-byte definition at offset {start} of maps"
                ))
            })?;
        let format = MapFormat::for_entry_size(size);
        let field = |index: usize| u32_at(data, start as usize + 4 * index, endian).unwrap_or(0);
        let pin = match format {
            MapFormat::BpfElfMap => match field(6) {
                0 => PinSpec::by_name(&name, PinRule::Default),
                1 => PinSpec::by_name(&name, PinRule::Iproute2ObjectNs),
                2 => PinSpec {
                    path: Path::new("tc/globals").join(&name),
                    rule: PinRule::Iproute2GlobalNs,
                },
                other => {
                    return Err(unsupported(format!(
                            "map {name}: iproute2 pinning {other} (a custom pinning from /etc/iproute2/bpf_pinning)"
                        )))
                }
            },
            MapFormat::Goebpf => {
                let pointer_at = |field_offset: u64| {
                    relocations
                        .iter()
                        .find(|(offset, _)| *offset == start + field_offset)
                        .map(|(_, r)| r)
                };
                if pointer_at(24).is_some() {
                    return Err(unsupported(format!("map {name}: goebpf map-in-map (inner_map_def)")));
                }
                match pointer_at(32) {
                    None => PinSpec::by_name(&name, PinRule::Default),
                    Some(reloc) => {
                        // REL: the addend is stored in place, in the pointer itself.
                        let addend = u64_at(data, (start + 32) as usize, endian).unwrap_or(0);
                        let path = string_at(elf, reloc, addend).ok_or_else(|| {
                            malformed(format!("map {name}: persistent_path points nowhere"))
                        })?;
                        PinSpec {
                            path: persistent_path(&name, &path)?,
                            rule: PinRule::GoebpfPersistentPath,
                        }
                    }
                }
            }
            _ => PinSpec::by_name(&name, PinRule::Default),
        };
        let tail_start = file_offset as usize + start as usize + 20;
        let tail_end = file_offset as usize + end.min(start + 28) as usize;
        maps.push(LegacyMap {
            name,
            format,
            pin,
            tail: tail_start..tail_end,
        });
    }
    Ok(maps)
}

/// The maps a map section defines: its named symbols (not the section's own
/// symbol), as (name, offset in the section, size).
fn map_symbols<'a>(
    elf: &'a ElfFile64<'_, Endianness>,
    section: SectionIndex,
) -> impl Iterator<Item = (String, u64, u64)> + 'a {
    elf.symbols()
        .filter(move |s| s.section_index() == Some(section))
        .filter(|s| s.kind() != object::SymbolKind::Section)
        .filter_map(|s| {
            let name = s.name().ok().filter(|n| !n.is_empty())?;
            Some((name.to_owned(), s.address(), s.size()))
        })
}

/// The NUL-terminated string a relocation points to.
fn string_at(
    elf: &ElfFile64<'_, Endianness>,
    reloc: &object::Relocation,
    addend: u64,
) -> Option<String> {
    let RelocationTarget::Symbol(index) = reloc.target() else {
        return None;
    };
    let symbol = elf.symbol_by_index(index).ok()?;
    let section = elf.section_by_index(symbol.section_index()?).ok()?;
    let data = section.data().ok()?;
    let start = usize::try_from(symbol.address().checked_add(addend)?).ok()?;
    let bytes = data.get(start..)?;
    let end = bytes.iter().position(|b| *b == 0)?;
    String::from_utf8(bytes[..end].to_vec()).ok()
}

/// goebpf paths are absolute (`/sys/fs/bpf/...`); ours are relative to the
/// pin directory, which defaults to that root, so `--pin-dir` moves them too.
fn persistent_path(name: &str, path: &str) -> Result<PathBuf, ElfError> {
    let relative = Path::new(path)
        .strip_prefix(BPFFS_ROOT)
        .ok()
        .filter(|p| {
            p.components().next().is_some()
                && p.components()
                    .all(|c| matches!(c, std::path::Component::Normal(_)))
        })
        .ok_or_else(|| {
            unsupported(format!(
                "map {name}: persistent_path {path:?} is not a path under {BPFFS_ROOT}"
            ))
        })?;
    Ok(relative.to_owned())
}

/// A slot of a prog array, as the object declares it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DeclaredSlot {
    pub slot: u32,
    pub program: String,
}

/// A slot of a map-in-map (`BPF_MAP_TYPE_ARRAY_OF_MAPS`, `HASH_OF_MAPS`),
/// as the object declares it: the inner map is another map of the object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DeclaredInnerMap {
    pub slot: u32,
    pub map: String,
}

/// What the object's `.maps` relocations initialise, by the map they are in.
#[derive(Debug, Default)]
pub(super) struct Declared {
    pub programs: Vec<(String, DeclaredSlot)>,
    pub inner_maps: Vec<(String, DeclaredInnerMap)>,
}

/// Declarative initialisation, as libbpf reads it: `.values = { [3] =
/// (void *)&prog }` in a prog array, `.values = { [0] = &inner }` in a
/// map-in-map. The slots are the `.maps` relocations inside each map's
/// `values` member, whose offset only BTF knows.
pub(super) fn declared_slots(elf: &ElfFile64<'_, Endianness>) -> Result<Declared, ElfError> {
    let mut declared = Declared::default();
    let Some(section) = elf.section_by_name(".maps") else {
        return Ok(declared);
    };
    let relocations: Vec<(u64, object::Relocation)> = section.relocations().collect();
    if relocations.is_empty() {
        return Ok(declared);
    }
    let btf = elf
        .section_by_name(".BTF")
        .and_then(|s| s.data().ok())
        .ok_or_else(|| malformed(".maps has relocations but the object has no BTF".into()))?;
    let types = btfparse::TypeInformation::new(&BtfBytes(btf))
        .map_err(|e| malformed(format!(".BTF: {}", e.message())))?;
    // Map offsets come from the symbols: BTF's own .maps offsets are only
    // filled in by relocations (.rel.BTF).
    let mut map_symbols: Vec<(u64, String)> = map_symbols(elf, section.index())
        .map(|(name, address, _)| (address, name))
        .collect();
    map_symbols.sort();

    for (offset, reloc) in relocations {
        // BTF sizes a map without its initialised `values`: the map holding
        // a relocation is the last one that starts at or before it.
        let Some((map_offset, map)) = map_symbols.iter().rev().find(|(a, _)| *a <= offset) else {
            return Err(malformed(format!(
                ".maps: relocation at offset {offset} is in no map"
            )));
        };
        let map = map.clone();
        let struct_type = types.get().values().find_map(|t| match t {
            btfparse::TypeVariant::Var(v) if v.name().as_deref() == Some(map.as_str()) => {
                Some(*v.tid())
            }
            _ => None,
        });
        let values = match struct_type.map(|tid| types.offset_of(tid, "values")) {
            Some(Ok((_, btfparse::Offset::ByteOffset(o)))) => u64::from(o),
            _ => {
                return Err(malformed(format!(
                    "map {map}: relocation outside a `values` member"
                )))
            }
        };
        let target = match reloc.target() {
            RelocationTarget::Symbol(i) => elf.symbol_by_index(i).ok(),
            _ => None,
        };
        let slot = (offset - map_offset)
            .checked_sub(values)
            .map(|o| o / 8)
            .and_then(|s| u32::try_from(s).ok())
            .ok_or_else(|| malformed(format!("map {map}: relocation before `values`")))?;
        match target {
            Some(t) if is_code(elf, t.section_index()) => declared.programs.push((
                map,
                DeclaredSlot {
                    slot,
                    program: t.name().unwrap_or_default().to_owned(),
                },
            )),
            Some(t) if t.section_index() == Some(section.index()) => declared.inner_maps.push((
                map,
                DeclaredInnerMap {
                    slot,
                    map: t.name().unwrap_or_default().to_owned(),
                },
            )),
            _ => {
                return Err(unsupported(format!(
                    "map {map}: slot {slot} initialised with something that is neither a program nor a map of the object"
                )))
            }
        }
    }
    Ok(declared)
}

fn is_code(elf: &ElfFile64<'_, Endianness>, index: Option<SectionIndex>) -> bool {
    index
        .and_then(|i| elf.section_by_index(i).ok())
        .is_some_and(|s| s.kind() == object::SectionKind::Text)
}

/// btfparse reads through this trait; the section is already in memory.
pub(crate) struct BtfBytes<'a>(pub(crate) &'a [u8]);

impl btfparse::Readable for BtfBytes<'_> {
    fn read(&self, offset: u64, buffer: &mut [u8]) -> btfparse::Result<()> {
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        match self.0.get(start..start.saturating_add(buffer.len())) {
            Some(bytes) => {
                buffer.copy_from_slice(bytes);
                Ok(())
            }
            None => Err(btfparse::Error::new(
                btfparse::ErrorKind::EOF,
                "read past the end of .BTF",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn persistent_paths_must_be_under_the_bpffs_root() {
        assert_eq!(
            persistent_path("m", "/sys/fs/bpf/a/b").unwrap(),
            PathBuf::from("a/b")
        );
        for bad in ["/tmp/m", "/sys/fs/bpf", "/sys/fs/bpf/../m", "relative"] {
            assert!(persistent_path("m", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn legacy_layouts_are_told_by_size() {
        assert_eq!(MapFormat::for_entry_size(20), MapFormat::BpfMapDef);
        assert_eq!(MapFormat::for_entry_size(36), MapFormat::BpfElfMap);
        assert_eq!(MapFormat::for_entry_size(40), MapFormat::Goebpf);
        assert_eq!(MapFormat::for_entry_size(28), MapFormat::Legacy);
    }
}
