//! Why packets vanish: the kernel's XDP error tracepoints, counted by
//! kern/xdp_errors.c (embedded in the binary) and read back here by
//! interface, action and errno. `statswatch --errors` is the user.
//!
//! The programs live only as long as the [`ErrorTracer`]: they are not
//! pinned, so nothing is left attached when the watcher exits.

use std::{
    fs,
    os::fd::AsFd as _,
    path::{Path, PathBuf},
};

use aya::{
    maps::{IterableMap as _, Map, MapData, MapError, PerCpuHashMap},
    programs::{ProgramError, TracePoint},
    Ebpf, EbpfError, EbpfLoader,
};
use serde::Serialize;

use xdp_core::{bpffs, state::InterfaceNames, stats};

/// kern/xdp_errors.elf, built by build.rs (empty when clang was missing).
const OBJECT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/xdp_errors.elf"));

/// The map kern/xdp_errors.c counts into.
const MAP: &str = "xdp_errors";

/// One XDP tracepoint: its name (also the program's), whether every kernel
/// we support has it, and the record fields the C program reads, at the
/// offsets its argument struct assumes.
#[derive(Debug)]
pub struct Tracepoint {
    pub name: &'static str,
    pub required: bool,
    fields: &'static [(&'static str, u32)],
}

/// xdp_redirect_err and xdp_redirect_map_err share one record layout.
const REDIRECT_ERR_FIELDS: &[(&str, u32)] = &[
    ("act", 12),
    ("ifindex", 16),
    ("err", 20),
    ("to_ifindex", 24),
];

/// Indexed by the C program's `enum xdp_error_event`.
pub const TRACEPOINTS: [Tracepoint; 5] = [
    Tracepoint {
        name: "xdp_exception",
        required: true,
        fields: &[("act", 12), ("ifindex", 16)],
    },
    Tracepoint {
        name: "xdp_redirect_err",
        required: true,
        fields: REDIRECT_ERR_FIELDS,
    },
    // Folded into xdp_redirect_err by newer kernels.
    Tracepoint {
        name: "xdp_redirect_map_err",
        required: false,
        fields: REDIRECT_ERR_FIELDS,
    },
    Tracepoint {
        name: "xdp_devmap_xmit",
        required: true,
        fields: &[
            ("from_ifindex", 8),
            ("act", 12),
            ("to_ifindex", 16),
            ("drops", 20),
            ("err", 28),
        ],
    },
    Tracepoint {
        name: "xdp_bulk_tx",
        required: true,
        fields: &[("ifindex", 8), ("act", 12), ("drops", 16), ("err", 24)],
    },
];

#[derive(Debug, thiserror::Error)]
pub enum XdpErrorsError {
    #[error("tracefs is not mounted and cannot be mounted at /sys/kernel/tracing: the xdp tracepoints cannot be attached without it")]
    NoTracefs,
    #[error("this kernel has no xdp:{tracepoint} tracepoint ({path} is missing)")]
    MissingTracepoint {
        tracepoint: &'static str,
        path: PathBuf,
    },
    #[error("this kernel's xdp:{tracepoint} record has no field {field} at offset {offset} (kern/xdp_errors.c reads it there): {found}")]
    Layout {
        tracepoint: &'static str,
        field: &'static str,
        offset: u32,
        found: String,
    },
    #[error("loading kern/xdp_errors.elf")]
    Load(#[source] EbpfError),
    #[error("attaching to xdp:{tracepoint}")]
    Attach {
        tracepoint: &'static str,
        #[source]
        source: ProgramError,
    },
    #[error("reading the xdp_errors map")]
    Read(#[source] MapError),
}

/// The C program's `struct xdp_error_key`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct ErrorKey {
    event: u32,
    action: u32,
    err: i32,
    ifindex: i32,
    to_ifindex: i32,
}

/// The C program's `struct xdp_error_count`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct ErrorCount {
    events: u64,
    drops: u64,
}

// SAFETY: repr(C) integers without padding (20 and 16 bytes): any bits are valid.
unsafe impl aya::Pod for ErrorKey {}
// SAFETY: as above.
unsafe impl aya::Pod for ErrorCount {}

/// Counts for one (tracepoint, action, errno, interface, target), summed
/// over CPUs since the tracer attached.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ErrorRow {
    pub tracepoint: &'static str,
    pub action: String,
    /// `ENXIO`; None when the tracepoint carries no errno.
    pub errno: Option<String>,
    /// The kernel's value: a negative errno, or 0.
    pub err: i32,
    pub ifindex: i32,
    /// The interface's name in statswatch's network namespace, if it has one
    /// there (ifindexes are per namespace).
    pub ifname: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to_ifindex: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to_ifname: Option<String>,
    /// Times the tracepoint fired with this key.
    pub events: u64,
    /// Frames lost.
    pub drops: u64,
}

impl ErrorRow {
    /// The grouping key, for matching a row across samples.
    pub fn same_key(&self, other: &Self) -> bool {
        (
            self.tracepoint,
            &self.action,
            self.err,
            self.ifindex,
            self.to_ifindex,
        ) == (
            other.tracepoint,
            &other.action,
            other.err,
            other.ifindex,
            other.to_ifindex,
        )
    }
}

/// The attached tracepoint programs. Dropping it detaches them.
#[derive(Debug)]
pub struct ErrorTracer {
    _ebpf: Ebpf,
    counters: ErrorCounters,
    attached: Vec<&'static str>,
}

impl ErrorTracer {
    /// Checks the kernel's tracepoint layouts, loads kern/xdp_errors.elf and
    /// attaches every tracepoint this kernel has. Call it after
    /// [`bpffs::isolate_mounts`] (the object has no CO-RE, so with the
    /// kernel's BTF hidden), so a tracefs it has to mount stays private.
    pub fn attach() -> Result<Self, XdpErrorsError> {
        let tracefs = bpffs::tracefs().ok_or(XdpErrorsError::NoTracefs)?;
        let present = check_formats(&tracefs)?;
        let mut ebpf = EbpfLoader::new()
            .load(OBJECT)
            .map_err(XdpErrorsError::Load)?;
        let mut attached = Vec::new();
        for tp in present {
            let attach = |ebpf: &mut Ebpf| -> Result<(), ProgramError> {
                let program: &mut TracePoint = ebpf
                    .program_mut(tp.name)
                    .ok_or_else(|| ProgramError::UnexpectedProgramType)?
                    .try_into()?;
                program.load()?;
                program.attach("xdp", tp.name)?;
                Ok(())
            };
            attach(&mut ebpf).map_err(|source| XdpErrorsError::Attach {
                tracepoint: tp.name,
                source,
            })?;
            attached.push(tp.name);
        }
        let map = ebpf.take_map(MAP).ok_or_else(|| {
            XdpErrorsError::Read(MapError::InvalidName {
                name: MAP.to_owned(),
            })
        })?;
        let counters = ErrorCounters {
            map: PerCpuHashMap::try_from(map).map_err(XdpErrorsError::Read)?,
        };
        Ok(Self {
            _ebpf: ebpf,
            counters,
            attached,
        })
    }

    /// The tracepoints attached, in [`TRACEPOINTS`] order.
    pub fn attached(&self) -> &[&'static str] {
        &self.attached
    }

    pub fn counters(&self) -> &ErrorCounters {
        &self.counters
    }
}

/// A read handle on the counters, which another thread (the Prometheus
/// exporter) can own.
pub struct ErrorCounters {
    map: PerCpuHashMap<MapData, ErrorKey, ErrorCount>,
}

impl std::fmt::Debug for ErrorCounters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ErrorCounters").finish_non_exhaustive()
    }
}

impl ErrorCounters {
    /// A second handle on the same kernel map.
    pub fn try_clone(&self) -> Result<Self, XdpErrorsError> {
        let fd = self
            .map
            .map()
            .fd()
            .as_fd()
            .try_clone_to_owned()
            .map_err(|io_error| {
                XdpErrorsError::Read(MapError::SyscallError(aya::sys::SyscallError {
                    call: "dup",
                    io_error,
                }))
            })?;
        let data = MapData::from_fd(fd).map_err(XdpErrorsError::Read)?;
        Ok(Self {
            map: PerCpuHashMap::try_from(Map::PerCpuHashMap(data)).map_err(XdpErrorsError::Read)?,
        })
    }

    /// Every key seen so far with its counts summed over CPUs, ordered by
    /// tracepoint, interface, action and errno, interfaces named by `names`.
    pub fn read(&self, names: &InterfaceNames) -> Result<Vec<ErrorRow>, XdpErrorsError> {
        let mut rows = Vec::new();
        for entry in self.map.iter() {
            let (key, per_cpu) = entry.map_err(XdpErrorsError::Read)?;
            let total = per_cpu
                .iter()
                .fold(ErrorCount::default(), |sum, c| ErrorCount {
                    events: sum.events.saturating_add(c.events),
                    drops: sum.drops.saturating_add(c.drops),
                });
            rows.push(label(key, total, |i| names.name(i)));
        }
        rows.sort_by_key(|r| {
            (
                TRACEPOINTS.iter().position(|t| t.name == r.tracepoint),
                r.ifindex,
                r.action.clone(),
                r.err,
                r.to_ifindex,
            )
        });
        Ok(rows)
    }
}

/// Turns a raw key into names: tracepoint, action, errno, interfaces.
fn label(key: ErrorKey, count: ErrorCount, ifname: impl Fn(i32) -> Option<String>) -> ErrorRow {
    let tracepoint = TRACEPOINTS
        .get(key.event as usize)
        .map_or("unknown", |t| t.name);
    let errno = (key.err != 0).then(|| {
        let errno = nix::errno::Errno::from_raw(key.err.saturating_abs());
        match errno {
            nix::errno::Errno::UnknownErrno => format!("errno {}", key.err),
            known => format!("{known:?}"),
        }
    });
    let to_ifindex = (key.to_ifindex != 0).then_some(key.to_ifindex);
    ErrorRow {
        tracepoint,
        action: stats::row_label(key.action),
        errno,
        err: key.err,
        ifindex: key.ifindex,
        ifname: ifname(key.ifindex),
        to_ifindex,
        to_ifname: to_ifindex.and_then(&ifname),
        events: count.events,
        drops: count.drops,
    }
}

/// Checks that each tracepoint's record has the fields kern/xdp_errors.c
/// reads at the offsets it reads them, and returns the tracepoints present.
/// A layout change in a future kernel is refused with its reason instead of
/// being counted as garbage.
pub fn check_formats(tracefs: &Path) -> Result<Vec<&'static Tracepoint>, XdpErrorsError> {
    let mut present = Vec::new();
    for tp in &TRACEPOINTS {
        let path = tracefs.join("events/xdp").join(tp.name).join("format");
        let Ok(text) = fs::read_to_string(&path) else {
            if tp.required {
                return Err(XdpErrorsError::MissingTracepoint {
                    tracepoint: tp.name,
                    path,
                });
            }
            continue;
        };
        let fields = parse_format(&text);
        for &(field, offset) in tp.fields {
            match fields.iter().find(|(name, _, _)| name == field) {
                Some((_, found, 4)) if *found == offset => {}
                Some((_, found, size)) => {
                    return Err(XdpErrorsError::Layout {
                        tracepoint: tp.name,
                        field,
                        offset,
                        found: format!("it is at offset {found}, {size} bytes"),
                    })
                }
                None => {
                    return Err(XdpErrorsError::Layout {
                        tracepoint: tp.name,
                        field,
                        offset,
                        found: "the record has no such field".into(),
                    })
                }
            }
        }
        present.push(tp);
    }
    Ok(present)
}

/// The (name, offset, size) of each field in a tracefs `format` file, from
/// lines like `\tfield:int err;\toffset:20;\tsize:4;\tsigned:1;`.
fn parse_format(text: &str) -> Vec<(String, u32, u32)> {
    text.lines()
        .filter_map(|line| {
            let mut parts = line.trim().split(';').map(str::trim);
            let decl = parts.next()?.strip_prefix("field:")?;
            let name = decl.rsplit([' ', '*']).next()?;
            let name = name.split('[').next()?.to_owned();
            let mut number = |key: &str| {
                parts
                    .next()?
                    .strip_prefix(key)
                    .and_then(|v| v.parse::<u32>().ok())
            };
            let offset = number("offset:")?;
            let size = number("size:")?;
            Some((name, offset, size))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// /sys/kernel/tracing/events/xdp/xdp_bulk_tx/format on Linux 6.18.
    const BULK_TX: &str = "name: xdp_bulk_tx
ID: 1234
format:
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;
\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;
\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;

\tfield:int ifindex;\toffset:8;\tsize:4;\tsigned:1;
\tfield:u32 act;\toffset:12;\tsize:4;\tsigned:0;
\tfield:int drops;\toffset:16;\tsize:4;\tsigned:1;
\tfield:int sent;\toffset:20;\tsize:4;\tsigned:1;
\tfield:int err;\toffset:24;\tsize:4;\tsigned:1;

print fmt: \"ifindex=%d action=%s sent=%d drops=%d err=%d\"
";

    #[test]
    fn format_files_give_field_offsets_and_sizes() {
        let fields = parse_format(BULK_TX);
        assert_eq!(fields.len(), 9);
        assert_eq!(fields[4], ("ifindex".to_owned(), 8, 4));
        assert_eq!(fields[8], ("err".to_owned(), 24, 4));
        assert_eq!(
            parse_format("\tfield:char name[16];\toffset:8;\tsize:16;\tsigned:0;"),
            vec![("name".to_owned(), 8, 16)]
        );
    }

    #[test]
    fn a_moved_field_is_refused_with_where_it_is() {
        let dir = tempfile::tempdir().unwrap();
        for tp in &TRACEPOINTS {
            let d = dir.path().join("events/xdp").join(tp.name);
            fs::create_dir_all(&d).unwrap();
            let text: String = tp
                .fields
                .iter()
                .map(|(f, o)| format!("\tfield:int {f};\toffset:{o};\tsize:4;\tsigned:1;\n"))
                .collect();
            fs::write(d.join("format"), text).unwrap();
        }
        assert_eq!(check_formats(dir.path()).unwrap().len(), 5);
        let moved = dir.path().join("events/xdp/xdp_bulk_tx/format");
        fs::write(&moved, BULK_TX.replace("offset:24", "offset:28")).unwrap();
        let err = check_formats(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("xdp:xdp_bulk_tx record has no field err at offset 24")
                && err.contains("offset 28"),
            "{err}"
        );
        // The optional tracepoint may be missing; a required one may not.
        fs::write(&moved, BULK_TX).unwrap();
        fs::remove_dir_all(dir.path().join("events/xdp/xdp_redirect_map_err")).unwrap();
        assert_eq!(check_formats(dir.path()).unwrap().len(), 4);
        fs::remove_dir_all(dir.path().join("events/xdp/xdp_exception")).unwrap();
        assert!(check_formats(dir.path())
            .unwrap_err()
            .to_string()
            .contains("no xdp:xdp_exception tracepoint"));
    }

    #[test]
    fn keys_are_named_by_tracepoint_action_errno_and_interface() {
        let names = |i: i32| (i == 5).then(|| "veth1".to_owned());
        let row = label(
            ErrorKey {
                event: 4,
                action: 3,
                err: -6,
                ifindex: 5,
                to_ifindex: 0,
            },
            ErrorCount {
                events: 2,
                drops: 3,
            },
            names,
        );
        assert_eq!(row.tracepoint, "xdp_bulk_tx");
        assert_eq!(row.action, "XDP_TX");
        assert_eq!(row.errno.as_deref(), Some("ENXIO"));
        assert_eq!(row.ifname.as_deref(), Some("veth1"));
        assert_eq!((row.to_ifindex, row.events, row.drops), (None, 2, 3));
        let exception = label(
            ErrorKey {
                event: 0,
                action: 0,
                ..ErrorKey::default()
            },
            ErrorCount::default(),
            names,
        );
        assert_eq!(
            (
                exception.tracepoint,
                exception.action.as_str(),
                exception.errno
            ),
            ("xdp_exception", "XDP_ABORTED", None)
        );
    }
}
