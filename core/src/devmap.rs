//! The redirect devmap: key = value = the ifindex of every interface the
//! loader attaches to, so a program can `bpf_redirect_map(&if_redirect,
//! ifindex, 0)` to any of them.

use std::os::fd::AsFd as _;

use aya::Ebpf;
use aya_obj::generated::bpf_map_type::{BPF_MAP_TYPE_DEVMAP, BPF_MAP_TYPE_DEVMAP_HASH};
use serde::Serialize;

use crate::{elf::ObjectSummary, iface::Interface};

/// The devmap used when none is named.
pub const DEFAULT_DEVMAP: &str = "if_redirect";

#[derive(Debug, thiserror::Error)]
pub enum DevmapError {
    #[error("no map named {name}")]
    NoSuchMap { name: String },
    #[error("map {name} is a {found}, not a devmap or devmap_hash")]
    NotDevmap { name: String, found: String },
    #[error("{iface} has ifindex {ifindex}, beyond devmap {map}'s {max_entries} entries: use a devmap_hash or a larger max_entries")]
    IfindexTooLarge {
        iface: String,
        ifindex: u32,
        map: String,
        max_entries: u32,
    },
    #[error("adding {iface} to devmap {map}")]
    Fill {
        iface: String,
        map: String,
        #[source]
        source: std::io::Error,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum DevmapPlan {
    Fill { map: String, hash: bool },
    Skipped { reason: String },
}

/// Checks the devmap (named, or `if_redirect` if present) against the interfaces.
pub fn plan(
    summary: &ObjectSummary,
    name: Option<&str>,
    interfaces: &[Interface],
) -> Result<DevmapPlan, DevmapError> {
    let map = match (name, summary.map(name.unwrap_or(DEFAULT_DEVMAP))) {
        (_, Some(map)) => map,
        (Some(name), None) => {
            return Err(DevmapError::NoSuchMap {
                name: name.to_owned(),
            })
        }
        (None, None) => {
            // Say which devmap the object has, if any: it may just be named otherwise.
            let devmaps: Vec<&str> = summary
                .maps_of_type(BPF_MAP_TYPE_DEVMAP)
                .chain(summary.maps_of_type(BPF_MAP_TYPE_DEVMAP_HASH))
                .map(|m| m.name.as_str())
                .collect();
            let reason = match devmaps.as_slice() {
                [] => format!("the object has no {DEFAULT_DEVMAP} devmap"),
                [one] => format!("the object's devmap is {one}: pass --devmap {one}"),
                several => format!(
                    "the object's devmaps are {}: pass --devmap NAME",
                    several.join(", ")
                ),
            };
            return Ok(DevmapPlan::Skipped { reason });
        }
    };
    let hash = map.is(BPF_MAP_TYPE_DEVMAP_HASH);
    if !hash && !map.is(BPF_MAP_TYPE_DEVMAP) {
        return Err(DevmapError::NotDevmap {
            name: map.name.clone(),
            found: map.type_name.clone(),
        });
    }
    if !hash {
        if let Some(i) = interfaces.iter().find(|i| i.ifindex >= map.max_entries) {
            return Err(DevmapError::IfindexTooLarge {
                iface: i.name.clone(),
                ifindex: i.ifindex,
                map: map.name.clone(),
                max_entries: map.max_entries,
            });
        }
    }
    Ok(DevmapPlan::Fill {
        map: map.name.clone(),
        hash,
    })
}

/// Writes `ifindex → ifindex` for every interface, the value as wide as
/// the map declares it: a `__u32` ifindex, or `struct bpf_devmap_val`
/// (ifindex, then a program fd, 0 for none). Raw updates, because aya's
/// DevMap types insist on the 8-byte layout aya itself would have created.
/// `value_size` is the summary's: as declared, which is how the loader
/// creates a devmap whose values aya would make otherwise.
pub fn fill(
    ebpf: &Ebpf,
    map: &str,
    value_size: u32,
    interfaces: &[Interface],
) -> Result<(), DevmapError> {
    let data = ebpf.map(map).ok_or_else(|| DevmapError::NoSuchMap {
        name: map.to_owned(),
    })?;
    let data = match data {
        aya::maps::Map::DevMap(d) | aya::maps::Map::DevMapHash(d) => d,
        _ => {
            return Err(DevmapError::NoSuchMap {
                name: map.to_owned(),
            })
        }
    };
    let fd = data.fd().as_fd();
    for i in interfaces {
        let mut value = vec![0u8; (value_size as usize).max(4)];
        value[..4].copy_from_slice(&i.ifindex.to_ne_bytes());
        crate::sys::map_update(fd, &i.ifindex.to_ne_bytes(), &value).map_err(|source| {
            DevmapError::Fill {
                iface: i.name.clone(),
                map: map.to_owned(),
                source,
            }
        })?;
    }
    Ok(())
}
