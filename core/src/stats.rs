//! The verdict counters every program in `kern/` keeps, and reading them.
//!
//! This is the one place that knows the record layout (`struct datarec` in
//! kern/common.h) and the XDP action names; statswatch and the tests use it.

use std::{
    io,
    path::{Path, PathBuf},
};

use aya::maps::{Map, MapData, MapError, MapInfo, MapType, PerCpuArray};
use serde::Serialize;

/// One per-CPU counter record: `struct datarec { u64 rx_packets; u64 rx_bytes; }`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Datarec {
    pub rx_packets: u64,
    pub rx_bytes: u64,
}

// SAFETY: two u64 fields, repr(C), no padding: every bit pattern is valid.
unsafe impl aya::Pod for Datarec {}

/// Bytes of one [`Datarec`]: the value size a stats map must have.
pub const DATAREC_SIZE: u32 = size_of::<Datarec>() as u32;

/// XDP verdicts, in the kernel's numbering (`enum xdp_action`).
pub const XDP_ACTIONS: [&str; 5] = [
    "XDP_ABORTED",
    "XDP_DROP",
    "XDP_PASS",
    "XDP_TX",
    "XDP_REDIRECT",
];

/// Index of an action in the stats map, by name (`XDP_PASS` → 2).
pub fn action_index(name: &str) -> Option<u32> {
    XDP_ACTIONS
        .iter()
        .position(|a| *a == name)
        .map(|i| i as u32)
}

/// The label of a stats row: the action name for the first five, the index after.
pub fn row_label(index: u32) -> String {
    XDP_ACTIONS
        .get(index as usize)
        .map_or_else(|| format!("index {index}"), |a| (*a).to_owned())
}

#[derive(Debug, thiserror::Error)]
pub enum StatsError {
    #[error("no pinned map at {path}: is the program loaded (xdploader) and bpffs mounted?")]
    Missing { path: PathBuf },
    #[error(
        "{path} is {what}, not a pinned map: give the stats map's pin, e.g. /sys/fs/bpf/stats_map"
    )]
    NotAMap { path: PathBuf, what: String },
    #[error("cannot open {path} as a pinned BPF map")]
    Open {
        path: PathBuf,
        #[source]
        source: MapError,
    },
    #[error(
        "{path} is a {found} map; a stats map is a percpu_array of {{u64 packets; u64 bytes}}"
    )]
    WrongType { path: PathBuf, found: String },
    #[error("{path} has {key_size}-byte keys and {value_size}-byte values; a stats map has 4-byte keys and {DATAREC_SIZE}-byte values {{u64 packets; u64 bytes}}")]
    WrongLayout {
        path: PathBuf,
        key_size: u32,
        value_size: u32,
    },
    #[error("{iface}: no such interface in this network namespace")]
    NoInterface { iface: String },
    #[error("{iface} runs no XDP program in this network namespace")]
    NoProgram { iface: String },
    #[error("{iface} runs XDP program {prog_id}, and none of its maps is a stats map (a percpu_array of {{u64 packets; u64 bytes}}) pinned under {pin_dir}: give its pin with -file")]
    NoStatsMap {
        iface: String,
        prog_id: u32,
        pin_dir: PathBuf,
    },
    #[error("reading {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: MapError,
    },
}

/// The pin of the stats map that the program on `iface` (in the calling
/// thread's namespace) counts into, wherever under `pin_dir` it is pinned:
/// by name (`<pin-dir>/stats_map`), in the interface's directory (maps that
/// ask for no pinning: `<pin-dir>/<iface>/`), or elsewhere. A pin whose map
/// the program uses, that reads as a stats map; one named `stats_map` first.
pub fn pin_for_interface(pin_dir: &Path, iface: &str) -> Result<PathBuf, StatsError> {
    let link = crate::netdev::link_by_name(iface).map_err(|_| StatsError::NoInterface {
        iface: iface.to_owned(),
    })?;
    let prog_id = link.xdp_prog_id.ok_or_else(|| StatsError::NoProgram {
        iface: iface.to_owned(),
    })?;
    let map_ids: Vec<u32> = aya::programs::loaded_programs()
        .flatten()
        .find(|p| p.id() == prog_id)
        .and_then(|p| p.map_ids().ok().flatten())
        .unwrap_or_default();
    let state = Path::new(crate::state::STATE_DIR);
    let mut candidates: Vec<PathBuf> = crate::state::pins_under(pin_dir)
        .into_iter()
        // Our records are second pins of the same maps.
        .filter(|relative| !relative.starts_with(state))
        .map(|relative| pin_dir.join(relative))
        .filter(|path| MapInfo::from_pin(path).is_ok_and(|info| map_ids.contains(&info.id())))
        .collect();
    // `stats_map` first, then the interface's own directory, then by path.
    candidates.sort_by_key(|p| {
        (
            p.file_name().is_none_or(|n| n != "stats_map"),
            !p.parent().is_some_and(|d| d.ends_with(iface)),
            p.clone(),
        )
    });
    candidates
        .into_iter()
        .find(|path| StatsMap::open(path).is_ok())
        .ok_or_else(|| StatsError::NoStatsMap {
            iface: iface.to_owned(),
            prog_id,
            pin_dir: pin_dir.to_owned(),
        })
}

/// One row of the stats map: totals over every possible CPU, and each CPU's share.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ActionStats {
    pub index: u32,
    pub action: String,
    pub packets: u64,
    pub bytes: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub per_cpu: Vec<Datarec>,
}

/// A pinned per-CPU stats map, checked to hold [`Datarec`] values.
pub struct StatsMap {
    path: PathBuf,
    id: u32,
    map: PerCpuArray<MapData, Datarec>,
    /// The same map, for batch reads (aya has none).
    fd: std::os::fd::OwnedFd,
    /// Whether the kernel took a batch read (BPF_MAP_LOOKUP_BATCH, 5.6+).
    batch: std::cell::Cell<bool>,
    /// The possible CPUs: a per-CPU value's records (read once, not a tick).
    cpus: Option<usize>,
}

impl std::fmt::Debug for StatsMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatsMap")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl StatsMap {
    /// Opens the map pinned at `path`, read-only, and checks its type and layout.
    pub fn open(path: &Path) -> Result<Self, StatsError> {
        // One BPF_OBJ_GET on the way that works; what else the path is, is
        // asked only when it fails (a one-shot read is mostly start-up).
        let fd = match crate::sys::obj_get(path, true) {
            Ok(fd) => fd,
            Err(e) => {
                if let Some(what) = not_a_map(path) {
                    return Err(StatsError::NotAMap {
                        path: path.to_owned(),
                        what,
                    });
                }
                return Err(open_error(
                    path,
                    MapError::SyscallError(aya::sys::SyscallError {
                        call: "bpf(BPF_OBJ_GET, BPF_F_RDONLY)",
                        io_error: e,
                    }),
                ));
            }
        };
        // A pinned link or program opens too (read-only refused for a
        // program, not for a link): it is not a map.
        match crate::sys::object_kind(std::os::fd::AsFd::as_fd(&fd)) {
            Ok("map") | Err(_) => {}
            Ok(kind) => {
                return Err(StatsError::NotAMap {
                    path: path.to_owned(),
                    what: format!("a pinned BPF {kind}"),
                })
            }
        }
        let data = MapData::from_fd(fd).map_err(|err| open_error(path, err))?;
        Self::from_map_data(path, data)
    }

    /// The kernel's id of the map this handle reads.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// The id of the map pinned at `path` now: differs from [`Self::id`] once
    /// a reload pinned a new map there.
    pub fn pinned_id(path: &Path) -> Option<u32> {
        MapInfo::from_pin(path).ok().map(|i| i.id())
    }

    /// Wraps an already-open map (the tests read maps they loaded themselves).
    pub fn from_map_data(path: &Path, data: MapData) -> Result<Self, StatsError> {
        let path = path.to_owned();
        let info = data.info().map_err(|source| StatsError::Read {
            path: path.clone(),
            source,
        })?;
        match info.map_type() {
            Ok(MapType::PerCpuArray) => {}
            Ok(other) => {
                return Err(StatsError::WrongType {
                    path,
                    found: crate::elf::map_type_name(other as u32),
                })
            }
            Err(_) => {
                return Err(StatsError::WrongType {
                    path,
                    found: "unknown".into(),
                })
            }
        }
        if info.key_size() != 4 || info.value_size() != DATAREC_SIZE {
            return Err(StatsError::WrongLayout {
                path,
                key_size: info.key_size(),
                value_size: info.value_size(),
            });
        }
        let fd = std::os::fd::AsFd::as_fd(data.fd())
            .try_clone_to_owned()
            .map_err(|e| StatsError::Read {
                path: path.clone(),
                source: MapError::SyscallError(aya::sys::SyscallError {
                    call: "dup",
                    io_error: e,
                }),
            })?;
        let map =
            PerCpuArray::try_from(Map::PerCpuArray(data)).map_err(|source| StatsError::Read {
                path: path.clone(),
                source,
            })?;
        Ok(Self {
            path,
            id: info.id(),
            map,
            fd,
            batch: std::cell::Cell::new(true),
            cpus: aya::util::nr_cpus().ok(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn len(&self) -> u32 {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Reads every row, summing every possible CPU (offline CPUs included: a
    /// CPU that went offline keeps what it counted).
    pub fn read(&self, keep_per_cpu: bool) -> Result<Vec<ActionStats>, StatsError> {
        if self.batch.get() {
            match self.read_batch(keep_per_cpu) {
                Some(rows) => return Ok(rows),
                None => self.batch.set(false),
            }
        }
        (0..self.map.len())
            .map(|index| {
                let values = self.map.get(&index, 0).map_err(|source| StatsError::Read {
                    path: self.path.clone(),
                    source,
                })?;
                Ok(action_stats(
                    index,
                    values.iter().copied().collect(),
                    keep_per_cpu,
                ))
            })
            .collect()
    }
}

/// Row `index` from its per-CPU records: their sums, and the records when asked.
fn action_stats(index: u32, per_cpu: Vec<Datarec>, keep_per_cpu: bool) -> ActionStats {
    let (packets, bytes) = per_cpu.iter().fold((0u64, 0u64), |(p, b), rec| {
        (p.wrapping_add(rec.rx_packets), b.wrapping_add(rec.rx_bytes))
    });
    ActionStats {
        index,
        action: row_label(index),
        packets,
        bytes,
        per_cpu: if keep_per_cpu { per_cpu } else { Vec::new() },
    }
}

impl StatsMap {
    /// Every row in one BPF_MAP_LOOKUP_BATCH (a 4,096-entry map is one
    /// syscall, not 4,096). None when the kernel refuses it (before 5.6):
    /// the caller then reads key by key.
    fn read_batch(&self, keep_per_cpu: bool) -> Option<Vec<ActionStats>> {
        let cpus = self.cpus?;
        let record = size_of::<Datarec>();
        let mut values = Vec::new();
        let count = self.map.len();
        let read = crate::sys::array_lookup_batch(
            std::os::fd::AsFd::as_fd(&self.fd),
            count,
            cpus * record,
            &mut values,
        )
        .ok()?;
        if read != count {
            return None;
        }
        let rows = values
            .chunks_exact(cpus * record)
            .zip(0..)
            .map(|(entry, index)| {
                let per_cpu = entry
                    .chunks_exact(record)
                    .map(|r| Datarec {
                        rx_packets: u64::from_ne_bytes(r[..8].try_into().unwrap_or_default()),
                        rx_bytes: u64::from_ne_bytes(r[8..].try_into().unwrap_or_default()),
                    })
                    .collect();
                action_stats(index, per_cpu, keep_per_cpu)
            })
            .collect();
        Some(rows)
    }
}

/// What `path` is when it exists but cannot be a pinned map: a directory,
/// a file not on bpffs, a pinned link or program. The kernel would answer
/// EACCES or EINVAL, which says none of that.
fn not_a_map(path: &Path) -> Option<String> {
    let meta = std::fs::metadata(path).ok()?;
    if meta.is_dir() {
        return Some("a directory".into());
    }
    if !crate::bpffs::is_bpffs(path) {
        return Some(format!("{} not on bpffs", crate::bpffs::file_kind(&meta)));
    }
    let fd = crate::sys::obj_get(path, false).ok()?;
    match crate::sys::object_kind(std::os::fd::AsFd::as_fd(&fd)).ok()? {
        "map" => None,
        kind => Some(format!("a pinned BPF {kind}")),
    }
}

fn open_error(path: &Path, err: MapError) -> StatsError {
    if let MapError::SyscallError(syscall) = &err {
        if syscall.io_error.kind() == io::ErrorKind::NotFound {
            return StatsError::Missing {
                path: path.to_owned(),
            };
        }
    }
    StatsError::Open {
        path: path.to_owned(),
        source: err,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datarec_matches_the_c_layout() {
        assert_eq!(DATAREC_SIZE, 16);
        assert_eq!(align_of::<Datarec>(), 8);
    }

    #[test]
    fn rows_are_labelled_by_action_then_index() {
        assert_eq!(row_label(0), "XDP_ABORTED");
        assert_eq!(row_label(4), "XDP_REDIRECT");
        assert_eq!(row_label(5), "index 5");
        assert_eq!(action_index("XDP_PASS"), Some(2));
        assert_eq!(action_index("XDP_NOPE"), None);
    }
}
