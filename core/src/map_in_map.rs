//! Maps of maps (`BPF_MAP_TYPE_ARRAY_OF_MAPS`, `HASH_OF_MAPS`): the slots an
//! object initialises with its own maps (`.values = { [0] = &inner }`, as
//! libbpf reads them), filled once every map exists, and read back for
//! `status`.
//!
//! aya 0.14 creates the outer map (with a template of the inner map made
//! from its BTF `values` member, which the kernel requires) and the inner
//! maps as the object's other maps, pinned alike; it leaves the declared
//! slots empty. The loader fills them as libbpf's `init_map_in_map_slots`
//! does: the slot number is the key, the inner map's fd the value. A reload
//! that reuses the pins finds the same inner maps in the same slots; one
//! that makes new maps (`--fresh`, or a changed definition) fills the new
//! outer map with the new inner maps.

use std::os::fd::{AsFd as _, AsRawFd as _, BorrowedFd};

use aya::{maps::Map, Ebpf};
use serde::Serialize;

use crate::elf::ObjectSummary;

#[derive(Debug, thiserror::Error)]
pub enum MapInMapError {
    #[error("map {name}: not in the loaded object")]
    NoSuchMap { name: String },
    #[error("map {outer}: slot {slot} <- map {inner}: BPF_MAP_UPDATE_ELEM failed: {source}")]
    Fill {
        outer: String,
        slot: u32,
        inner: String,
        #[source]
        source: std::io::Error,
    },
}

/// Fills every declared slot of the object's maps of maps ([`crate::elf`]
/// checked that each is one, keyed by a u32).
pub fn fill(ebpf: &Ebpf, summary: &ObjectSummary) -> Result<(), MapInMapError> {
    for outer in summary.maps.iter().filter(|m| !m.inner_maps.is_empty()) {
        let outer_fd = map_fd(ebpf, &outer.name)?;
        for declared in &outer.inner_maps {
            let inner_fd = map_fd(ebpf, &declared.map)?;
            let value = (inner_fd.as_raw_fd() as u32).to_ne_bytes();
            crate::sys::map_update(outer_fd, &declared.slot.to_ne_bytes(), &value).map_err(
                |source| MapInMapError::Fill {
                    outer: outer.name.clone(),
                    slot: declared.slot,
                    inner: declared.map.clone(),
                    source,
                },
            )?;
        }
    }
    Ok(())
}

/// The fd of one of the loaded object's maps, whatever its type (aya 0.14
/// gives no untyped access to a map's fd).
fn map_fd<'e>(ebpf: &'e Ebpf, name: &str) -> Result<BorrowedFd<'e>, MapInMapError> {
    let map = ebpf.map(name).ok_or_else(|| MapInMapError::NoSuchMap {
        name: name.to_owned(),
    })?;
    let data = match map {
        Map::Array(d)
        | Map::ArrayOfMaps(d)
        | Map::BloomFilter(d)
        | Map::CgroupArray(d)
        | Map::CgroupStorage(d)
        | Map::CgrpStorage(d)
        | Map::CpuMap(d)
        | Map::DevMap(d)
        | Map::DevMapHash(d)
        | Map::HashMap(d)
        | Map::HashOfMaps(d)
        | Map::InodeStorage(d)
        | Map::LpmTrie(d)
        | Map::LruHashMap(d)
        | Map::PerCpuArray(d)
        | Map::PerCpuCgroupStorage(d)
        | Map::PerCpuHashMap(d)
        | Map::PerCpuLruHashMap(d)
        | Map::PerfEventArray(d)
        | Map::ProgramArray(d)
        | Map::Queue(d)
        | Map::ReusePortSockArray(d)
        | Map::RingBuf(d)
        | Map::SockHash(d)
        | Map::SockMap(d)
        | Map::SkStorage(d)
        | Map::Stack(d)
        | Map::StackTraceMap(d)
        | Map::Unsupported(d)
        | Map::XskMap(d) => d,
    };
    Ok(data.fd().as_fd())
}

/// A slot of a map of maps, as the kernel holds it.
#[derive(Debug, Serialize)]
pub struct InnerMapSlot {
    pub slot: u32,
    pub map_id: u32,
    /// The inner map's name as the kernel keeps it (15 characters at most).
    pub map_name: String,
}

/// A map of maps a running program uses, slot by slot.
#[derive(Debug, Serialize)]
pub struct MapOfMapsStatus {
    pub map: String,
    pub map_id: u32,
    pub slots: Vec<InnerMapSlot>,
}

/// The maps of maps among `maps` (a program's), with what each filled
/// slot holds. Slots are keyed by a u32 (as declared slots are); a map of
/// maps with other keys is listed without them.
pub fn status(maps: &[aya::maps::MapInfo]) -> Vec<MapOfMapsStatus> {
    use aya::maps::MapType;
    maps.iter()
        .filter_map(|m| {
            let map_type = m.map_type().ok()?;
            if !matches!(map_type, MapType::ArrayOfMaps | MapType::HashOfMaps) {
                return None;
            }
            let fd = m.fd().ok()?;
            let keys: Vec<u32> = match (map_type, m.key_size()) {
                (_, size) if size != 4 => Vec::new(),
                (MapType::ArrayOfMaps, _) => (0..m.max_entries()).collect(),
                _ => aya::maps::MapData::from_id(m.id())
                    .and_then(Map::from_map_data)
                    .ok()
                    .and_then(|map| {
                        let hash =
                            aya::maps::HashOfMaps::<_, u32, aya::maps::MapData>::try_from(&map)
                                .ok()?;
                        Some(hash.keys().flatten().collect())
                    })
                    .unwrap_or_default(),
            };
            let slots = keys
                .into_iter()
                .filter_map(|slot| {
                    let mut id = [0u8; 4];
                    // The kernel reads an inner map back as its id.
                    crate::sys::map_lookup(fd.as_fd(), &slot.to_ne_bytes(), &mut id).ok()?;
                    let map_id = u32::from_ne_bytes(id);
                    let map_name = aya::maps::MapInfo::from_id(map_id)
                        .ok()
                        .and_then(|i| i.name_as_str().map(str::to_owned))
                        .unwrap_or_else(|| "?".into());
                    Some(InnerMapSlot {
                        slot,
                        map_id,
                        map_name,
                    })
                })
                .collect();
            Some(MapOfMapsStatus {
                map: m.name_as_str().unwrap_or("?").to_owned(),
                map_id: m.id(),
                slots,
            })
        })
        .collect()
}
