//! The verbs, over the concept modules: each takes a plain option struct and
//! returns a serialisable report (the binaries render it as text or JSON).
//! Errors are one [`Error`] whose source chain reads as one line
//! ([`crate::error_chain`]).

pub mod doctor;
pub mod inspect;
pub mod load;
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
    #[error("{0}: run as root (loading BPF programs and attaching XDP need CAP_BPF, CAP_NET_ADMIN and CAP_SYS_ADMIN)")]
    NotRoot(&'static str),
    #[error("{file}")]
    Elf {
        file: String,
        #[source]
        source: crate::elf::ElfError,
    },
    #[error(transparent)]
    Iface(#[from] crate::iface::IfaceError),
    #[error(transparent)]
    JumpTable(#[from] crate::jump_table::JumpTableError),
    #[error(transparent)]
    Devmap(#[from] crate::devmap::DevmapError),
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
}

/// Refuses early, with the reason, when not root: otherwise the first
/// failing syscall (EPERM on a map create) would explain it badly.
pub fn require_root(what: &'static str) -> Result<(), Error> {
    if nix::unistd::geteuid().is_root() {
        Ok(())
    } else {
        Err(Error::NotRoot(what))
    }
}

/// Reads and inspects `file` (no root needed): shared by load and inspect.
pub fn read_object(file: &Path) -> Result<(Vec<u8>, crate::elf::Inspected), Error> {
    let data = std::fs::read(file).map_err(|source| Error::Read {
        path: file.to_owned(),
        source,
    })?;
    let inspected = crate::elf::inspect(&data).map_err(|source| Error::Elf {
        file: file.display().to_string(),
        source,
    })?;
    Ok((data, inspected))
}
