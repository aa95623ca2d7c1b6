//! The verbs, over the concept modules: each takes a plain option struct and
//! returns a serialisable report (the binaries render it as text or JSON).
//! Errors are one [`Error`] whose source chain reads as one line
//! ([`crate::error_chain`]).

pub mod apply;
pub mod bench;
pub mod capture;
pub mod doctor;
pub mod inspect;
pub mod load;
pub mod status;
pub mod trafficgen;
pub mod unload;

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is {what}, not an object file")]
    NotAFile { path: PathBuf, what: &'static str },
    #[error("{path} has {size} bytes, more than the {MAX_OBJECT_BYTES} an XDP object file can sensibly have")]
    TooLarge { path: PathBuf, size: u64 },
    #[error("{what} needs {missing}, which this process does not have: run it as root (BPF, XDP attachments and bpffs mounts need CAP_BPF, CAP_NET_ADMIN and CAP_SYS_ADMIN)")]
    MissingCapabilities { what: &'static str, missing: String },
    #[error("{file}")]
    Elf {
        file: String,
        #[source]
        source: crate::elf::ElfError,
    },
    #[error(
        "interrupted by {0} before the commit point: the load was rolled back, nothing changed"
    )]
    Interrupted(&'static str),
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Bench(#[from] crate::bench::BenchError),
    #[error(transparent)]
    Trafficgen(#[from] crate::trafficgen::TrafficgenError),
    #[error(transparent)]
    Iface(#[from] crate::iface::IfaceError),
    #[error(transparent)]
    JumpTable(#[from] crate::jump_table::JumpTableError),
    #[error(transparent)]
    Devmap(#[from] crate::devmap::DevmapError),
    #[error(transparent)]
    MapInMap(#[from] crate::map_in_map::MapInMapError),
    #[error(transparent)]
    Bpffs(#[from] crate::bpffs::BpffsError),
    #[error(transparent)]
    Load(#[from] crate::load::LoadError),
    #[error(transparent)]
    Attach(#[from] crate::attach::AttachError),
    #[error(transparent)]
    Transaction(#[from] crate::transaction::TransactionError),
    #[error(transparent)]
    State(#[from] crate::state::StateError),
    #[error(transparent)]
    Peer(#[from] crate::peer::PeerError),
    #[error(transparent)]
    Netdev(#[from] crate::netdev::NetdevError),
    #[error(transparent)]
    Netns(#[from] crate::netns::NetnsError),
    #[error(transparent)]
    Capture(#[from] crate::capture::recorders::CaptureError),
    /// An option that does not fit what was found (a stage the chain lacks).
    #[error("{0}")]
    Usage(String),
}

/// Linux capability numbers (linux/capability.h) the verbs need.
const CAP_NET_ADMIN: u32 = 12;
const CAP_SYS_ADMIN: u32 = 21;
const CAP_BPF: u32 = 39;

/// Refuses early, naming what is missing, unless this process may create
/// BPF objects (CAP_BPF, or CAP_SYS_ADMIN, which also covers it and kernels
/// before 5.8), attach XDP (CAP_NET_ADMIN) and mount and enter namespaces
/// (CAP_SYS_ADMIN): otherwise the first failing syscall (EPERM on a map
/// create) would explain it badly. Capabilities, not uid 0: a process given
/// them runs; root without them is told which.
pub fn require_capabilities(what: &'static str) -> Result<(), Error> {
    let effective = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let hex = status.lines().find_map(|l| l.strip_prefix("CapEff:"))?;
            u64::from_str_radix(hex.trim(), 16).ok()
        })
        .unwrap_or(0);
    let has = |cap: u32| effective & (1 << cap) != 0;
    let mut missing = Vec::new();
    if !has(CAP_NET_ADMIN) {
        missing.push("CAP_NET_ADMIN");
    }
    if !has(CAP_SYS_ADMIN) {
        missing.push(if has(CAP_BPF) {
            "CAP_SYS_ADMIN"
        } else {
            "CAP_SYS_ADMIN (and CAP_BPF)"
        });
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(Error::MissingCapabilities {
            what,
            missing: missing.join(" and "),
        })
    }
}

/// The largest object file read. Real XDP objects are kilobytes to a few
/// MiB (BTF included); without a bound, /dev/zero reads until memory runs out.
pub const MAX_OBJECT_BYTES: u64 = 64 << 20;

use crate::bpffs::file_kind;

/// Reads and inspects `file` (no root needed): shared by load and inspect.
/// Only a regular file of sane size is read: a FIFO would block, a device
/// never end.
pub fn read_object(file: &Path) -> Result<(Vec<u8>, crate::elf::Inspected), Error> {
    use std::io::Read as _;
    let read_err = |source| Error::Read {
        path: file.to_owned(),
        source,
    };
    let meta = std::fs::metadata(file).map_err(read_err)?;
    if !meta.is_file() {
        return Err(Error::NotAFile {
            path: file.to_owned(),
            what: file_kind(&meta),
        });
    }
    if meta.len() > MAX_OBJECT_BYTES {
        return Err(Error::TooLarge {
            path: file.to_owned(),
            size: meta.len(),
        });
    }
    let mut data = Vec::with_capacity(meta.len() as usize);
    std::fs::File::open(file)
        .and_then(|f| f.take(MAX_OBJECT_BYTES + 1).read_to_end(&mut data))
        .map_err(read_err)?;
    let inspected = crate::elf::inspect(&data).map_err(|source| Error::Elf {
        file: file.display().to_string(),
        source,
    })?;
    Ok((data, inspected))
}
