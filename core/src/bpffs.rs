//! Filesystems the tools rely on, and the private mount namespace that keeps
//! their own mounts from leaking.
//!
//! bpffs must be mounted in the *host* mount namespace (pins must outlive us
//! and be seen by statswatch). Everything else a binary mounts — the
//! /dev/null over vmlinux BTF, tracefs for the kernel's attach-failure reason
//! or statswatch's tracepoints — happens after [`isolate_mounts`], so it
//! vanishes with the process and leaves nothing behind. Isolating is a
//! process-wide step, so only a binary takes it, explicitly, before any
//! thread starts; no library function enters a namespace on its own.

use std::{
    path::{Path, PathBuf},
    sync::atomic::{AtomicBool, Ordering},
};

use nix::{
    mount::{mount, MsFlags},
    sched::{unshare, CloneFlags},
    sys::statfs::{statfs, FsType},
};

const BPF_FS_MAGIC: FsType = FsType(0xcafe_4a11);
const TRACEFS_MAGIC: FsType = FsType(0x7472_6163);
const KERNEL_BTF: &str = "/sys/kernel/btf/vmlinux";
const TRACEFS: &str = "/sys/kernel/tracing";

static PRIVATE_NAMESPACE: AtomicBool = AtomicBool::new(false);

#[derive(Debug, thiserror::Error)]
pub enum BpffsError {
    #[error("{path} is not on bpffs and mounting bpffs there failed")]
    Mount {
        path: PathBuf,
        #[source]
        source: nix::Error,
    },
    #[error("{path} is not on bpffs, and a bpffs mounted there now would vanish with this process (it runs in a private mount namespace)")]
    WouldVanish { path: PathBuf },
    #[error("cannot create pin directory {path}")]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{call} failed")]
    Namespace {
        call: &'static str,
        #[source]
        source: nix::Error,
    },
}

fn is_fs(path: &Path, magic: FsType) -> bool {
    statfs(path).is_ok_and(|s| s.filesystem_type() == magic)
}

pub fn is_bpffs(path: &Path) -> bool {
    is_fs(path, BPF_FS_MAGIC)
}

/// Makes sure `dir` is on bpffs, mounting it (in this mount namespace) if
/// not. Returns whether it mounted. Refuses to mount once the process is
/// isolated: that mount, and every pin in it, would die with the process.
pub fn ensure_bpffs(dir: &Path) -> Result<bool, BpffsError> {
    if is_bpffs(dir) {
        return Ok(false);
    }
    std::fs::create_dir_all(dir).map_err(|source| BpffsError::CreateDir {
        path: dir.to_owned(),
        source,
    })?;
    if is_bpffs(dir) {
        return Ok(false);
    }
    if PRIVATE_NAMESPACE.load(Ordering::Relaxed) {
        return Err(BpffsError::WouldVanish {
            path: dir.to_owned(),
        });
    }
    mount(
        Some("bpf"),
        dir,
        Some("bpf"),
        MsFlags::empty(),
        None::<&str>,
    )
    .map_err(|source| BpffsError::Mount {
        path: dir.to_owned(),
        source,
    })?;
    Ok(true)
}

/// Moves the calling *process* into a private mount namespace (mounts made
/// there do not propagate back), and, when `hide_kernel_btf`, hides
/// /sys/kernel/btf/vmlinux from aya in it: `EbpfLoader::new()` always parses
/// that file, which only CO-RE relocations need; it costs ~23 ms and 22 MiB
/// here (bench/results.md), about as much as the rest of the load. The
/// binaries call it once, before any thread starts and after the pin
/// directory is on bpffs ([`ensure_bpffs`]). Returns whether the BTF is
/// hidden; an error when the namespace was refused (a multi-threaded
/// process, no CAP_SYS_ADMIN): then the process must mount nothing.
pub fn isolate_mounts(hide_kernel_btf: bool) -> Result<bool, BpffsError> {
    enter_private_mount_namespace()?;
    Ok(hide_kernel_btf && hide_btf())
}

/// Moves this process into a mount namespace of its own whose mounts do not
/// propagate back. Must run before any thread is spawned (unshare refuses
/// CLONE_NEWNS in a multi-threaded process).
fn enter_private_mount_namespace() -> Result<(), BpffsError> {
    if PRIVATE_NAMESPACE.load(Ordering::Relaxed) {
        return Ok(());
    }
    let ns_err = |call| move |source: nix::Error| BpffsError::Namespace { call, source };
    unshare(CloneFlags::CLONE_NEWNS).map_err(ns_err("unshare(CLONE_NEWNS)"))?;
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(ns_err("mount(/, MS_REC|MS_PRIVATE)"))?;
    PRIVATE_NAMESPACE.store(true, Ordering::Relaxed);
    Ok(())
}

/// Bind-mounts /dev/null over the kernel's BTF, inside the private namespace
/// only. Returns whether it is hidden.
fn hide_btf() -> bool {
    PRIVATE_NAMESPACE.load(Ordering::Relaxed)
        && Path::new(KERNEL_BTF).exists()
        && mount(
            Some("/dev/null"),
            KERNEL_BTF,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .is_ok()
}

/// Where tracefs is, mounting it privately if needed. None when it cannot be
/// had without leaving a mount behind.
pub fn tracefs() -> Option<PathBuf> {
    let root = Path::new(TRACEFS);
    if is_fs(root, TRACEFS_MAGIC) {
        return Some(root.to_owned());
    }
    if PRIVATE_NAMESPACE.load(Ordering::Relaxed)
        && mount(
            Some("tracefs"),
            root,
            Some("tracefs"),
            MsFlags::empty(),
            None::<&str>,
        )
        .is_ok()
    {
        return Some(root.to_owned());
    }
    let debug = Path::new("/sys/kernel/debug/tracing");
    is_fs(debug, TRACEFS_MAGIC).then(|| debug.to_owned())
}
