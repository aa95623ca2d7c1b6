//! One module per subcommand. Each returns a report that prints as terse
//! text or as JSON; errors are one [`Error`] whose chain reads as one line.

pub mod doctor;
pub mod inspect;
pub mod load;
pub mod unload;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read {path}: {errno}")]
    Read {
        path: std::path::PathBuf,
        errno: String,
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
    Peer(#[from] crate::peer::PeerError),
    #[error("doctor: {0}")]
    Doctor(String),
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
