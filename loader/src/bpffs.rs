//! Filesystems the loader relies on, and the private mount namespace that
//! keeps its own mounts from leaking.
//!
//! bpffs must be mounted in the *host* mount namespace (pins must outlive us
//! and be seen by statswatch). Everything else the loader mounts — the
//! /dev/null over vmlinux BTF, tracefs for the kernel's attach-failure reason —
//! happens after [`enter_private_mount_namespace`], so it vanishes with the
//! process and leaves nothing behind.

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
    #[error("{path} is not on bpffs and mounting bpffs there failed: {errno}")]
    Mount { path: PathBuf, errno: String },
    #[error("cannot create pin directory {path}: {errno}")]
    CreateDir { path: PathBuf, errno: String },
    #[error("{call} failed: {errno}")]
    Namespace { call: &'static str, errno: String },
}

fn is_fs(path: &Path, magic: FsType) -> bool {
    statfs(path).is_ok_and(|s| s.filesystem_type() == magic)
}

pub fn is_bpffs(path: &Path) -> bool {
    is_fs(path, BPF_FS_MAGIC)
}

/// Makes sure `dir` is on bpffs, mounting it (in the host namespace) if not.
/// Returns whether it mounted.
pub fn ensure_bpffs(dir: &Path) -> Result<bool, BpffsError> {
    if is_bpffs(dir) {
        return Ok(false);
    }
    std::fs::create_dir_all(dir).map_err(|e| BpffsError::CreateDir {
        path: dir.to_owned(),
        errno: crate::errno_text(&e),
    })?;
    if is_bpffs(dir) {
        return Ok(false);
    }
    mount(
        Some("bpf"),
        dir,
        Some("bpf"),
        MsFlags::empty(),
        None::<&str>,
    )
    .map_err(|e| BpffsError::Mount {
        path: dir.to_owned(),
        errno: format!("{e:?}: {}", e.desc()),
    })?;
    Ok(true)
}

/// Moves this process into a mount namespace of its own whose mounts do not
/// propagate back. Must run before any thread is spawned (unshare refuses
/// CLONE_NEWNS in a multi-threaded process).
pub fn enter_private_mount_namespace() -> Result<(), BpffsError> {
    if PRIVATE_NAMESPACE.load(Ordering::Relaxed) {
        return Ok(());
    }
    let ns_err = |call| {
        move |e: nix::Error| BpffsError::Namespace {
            call,
            errno: format!("{e:?}: {}", e.desc()),
        }
    };
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

/// Hides the kernel's BTF from aya: `EbpfLoader::new()` always parses
/// /sys/kernel/btf/vmlinux (~23 ms and 22 MiB here), which only CO-RE
/// relocations need. Only call it for objects without them, inside the
/// private namespace. Returns whether it is hidden.
pub fn hide_kernel_btf() -> bool {
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
