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
/// The bpffs mounts this process made (ensure_bpffs), for the load to record.
static MOUNTED: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());

/// The pin directories this process created (ensure_bpffs).
static CREATED: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());

/// The mount namespace the process was in before [`isolate_mounts`]: where
/// its bpffs mounts are, and where a failed load takes them back.
static ORIGINAL_MOUNT_NS: std::sync::OnceLock<std::os::fd::OwnedFd> = std::sync::OnceLock::new();

/// Undoes what [`ensure_bpffs`] made for a load that then failed: each bpffs
/// this process mounted that holds nothing (bpffs' own `*.debug` files
/// aside) is unmounted, in the namespace it was mounted in, and each pin
/// directory it created and left empty is removed. A failed load leaves no
/// mount and no directory behind. Single-threaded callers only (it may
/// enter the original mount namespace, which setns refuses otherwise).
pub fn undo_unused_mounts() {
    let mounted: Vec<PathBuf> = MOUNTED.lock().map(|m| m.clone()).unwrap_or_default();
    let created: Vec<PathBuf> = CREATED.lock().map(|c| c.clone()).unwrap_or_default();
    if mounted.is_empty() && created.is_empty() {
        return;
    }
    let empty = |dir: &Path| {
        std::fs::read_dir(dir).is_ok_and(|entries| {
            entries
                .flatten()
                .all(|e| e.file_name().to_string_lossy().ends_with(".debug"))
        })
    };
    if let Some(original) = ORIGINAL_MOUNT_NS.get() {
        use std::os::fd::AsFd as _;
        if nix::sched::setns(original.as_fd(), CloneFlags::CLONE_NEWNS).is_err() {
            return;
        }
        PRIVATE_NAMESPACE.store(false, Ordering::Relaxed);
    }
    for dir in mounted.iter().filter(|d| empty(d)) {
        if nix::mount::umount2(dir.as_path(), nix::mount::MntFlags::MNT_DETACH).is_ok() {
            if let Ok(mut m) = MOUNTED.lock() {
                m.retain(|d| d != dir);
            }
        }
    }
    for dir in created.iter().rev() {
        if std::fs::remove_dir(dir).is_ok() {
            if let Ok(mut c) = CREATED.lock() {
                c.retain(|d| d != dir);
            }
        }
    }
}

/// Whether this process created the directory `dir`.
pub fn created_by_this_process(dir: &Path) -> bool {
    CREATED.lock().is_ok_and(|c| c.iter().any(|d| d == dir))
}

/// Whether this process mounted the bpffs at `dir`.
pub fn mounted_by_this_process(dir: &Path) -> bool {
    MOUNTED.lock().is_ok_and(|m| m.iter().any(|d| d == dir))
}

/// Unmounts the bpffs at `dir` (a mount this tool made, now empty). Lazily:
/// the caller still holds the pin directory's lock, an open fd on it.
pub fn unmount(dir: &Path) -> Result<(), BpffsError> {
    nix::mount::umount2(dir, nix::mount::MntFlags::MNT_DETACH).map_err(|source| BpffsError::Mount {
        path: dir.to_owned(),
        source,
    })
}

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
    #[error("this process runs in a mount namespace of its own (as under `ip netns exec`), where {path} is not the host's, so pins made there vanish when it exits, and entering the host's mount namespace failed; run it with `nsenter --net=/run/netns/NAME` instead, which changes only the network namespace")]
    HostUnreachable {
        path: PathBuf,
        #[source]
        source: nix::Error,
    },
}

/// Whether pins made under a directory outlive this process where the host
/// (and statswatch run from it) can see them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PinReach {
    /// This process sees the directory the host sees (same mount namespace,
    /// or a mount that propagates into ours).
    Host,
    /// This process has a mount namespace of its own in which the directory
    /// is not the host's: `ip netns exec` gives every command a fresh /sys,
    /// and a bpffs mounted there dies with the command.
    Private,
}

/// A file's identity: (device, inode).
type FileId = (u64, u64);

fn file_id(path: &Path) -> Option<FileId> {
    use std::os::unix::fs::MetadataExt as _;
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// `/proc/PID` of a process in the host's mount namespace, when this process
/// is in another one: PID 1 where procfs lets us look at it, else the nearest
/// ancestor in another mount namespace (under `ip netns exec`, the shell that
/// ran it; some sandboxes hide PID 1 even from root). None when every
/// process we can see shares our mount namespace: then we are the host.
fn host_proc() -> Option<&'static Path> {
    static HOST: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    HOST.get_or_init(|| {
        let ours = file_id(Path::new("/proc/self/ns/mnt"))?;
        let parent = |pid: u32| -> Option<u32> {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // pid (comm) state ppid …: comm may hold spaces, so after the last ')'.
            stat.rsplit_once(')')?
                .1
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()
        };
        let mut candidates = vec![1];
        let mut pid = std::process::id();
        while let Some(ppid) = parent(pid).filter(|p| *p > 1) {
            candidates.push(ppid);
            pid = ppid;
        }
        candidates.sort_by_key(|p| *p != 1);
        candidates.into_iter().find_map(|pid| {
            let proc = PathBuf::from(format!("/proc/{pid}"));
            let theirs = file_id(&proc.join("ns/mnt"))?;
            (theirs != ours).then_some(proc)
        })
    })
    .as_deref()
}

/// The (device, inode) of `path` here, and as the host sees it (None there
/// when this process is in the host's mount namespace or cannot look).
fn here_and_host(path: &Path) -> (Option<FileId>, Option<FileId>) {
    let relative = path.strip_prefix("/").unwrap_or(path);
    let there = host_proc().and_then(|proc| file_id(&proc.join("root").join(relative)));
    (file_id(path), there)
}

/// Whether this process is in a mount namespace other than the host's
/// (`ip netns exec`, unshare), one whose host namespace it can see.
pub fn in_foreign_mount_namespace() -> bool {
    host_proc().is_some()
}

/// Where pins made under `dir` (absolute) end up; see [`PinReach`]. The
/// nearest existing ancestor decides when `dir` does not exist yet.
pub fn pin_reach(dir: &Path) -> PinReach {
    if host_proc().is_none() {
        return PinReach::Host;
    }
    // Not bpffs yet: the bpffs the loader would mount here, in a mount
    // namespace of its own, would not propagate to the host's.
    if !is_bpffs(dir) {
        return PinReach::Private;
    }
    let existing = dir
        .ancestors()
        .find(|d| d.exists())
        .unwrap_or(Path::new("/"));
    let (here, there) = here_and_host(existing);
    if here.is_some() && here == there {
        PinReach::Host
    } else {
        PinReach::Private
    }
}

/// Moves the calling *process* (single-threaded, with CAP_SYS_ADMIN) into
/// the host's mount namespace, keeping its network namespace, so that pins
/// land on the host's bpffs: what a binary does under `ip netns exec` when
/// [`pin_reach`] says [`PinReach::Private`]. The working directory becomes
/// `/`: make paths absolute first.
pub fn enter_host_mount_namespace(pin_dir: &Path) -> Result<(), BpffsError> {
    let unreachable = |source| BpffsError::HostUnreachable {
        path: pin_dir.to_owned(),
        source,
    };
    let proc = host_proc().ok_or_else(|| unreachable(nix::Error::ENOENT))?;
    let host = std::fs::File::open(proc.join("ns/mnt"))
        .map_err(|e| unreachable(nix::Error::from_raw(e.raw_os_error().unwrap_or(0))))?;
    nix::sched::setns(host, CloneFlags::CLONE_NEWNS).map_err(unreachable)
}

/// Whether the host sees `path` as this process does (the same file). True
/// when this process is in the host's mount namespace, or no process in
/// another one can be looked at: nothing says otherwise.
pub fn host_sees(path: &Path) -> bool {
    if host_proc().is_none() {
        return file_id(path).is_some();
    }
    let (here, there) = here_and_host(path);
    here.is_some() && here == there
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
    let existed = dir.exists();
    // Owner only whatever the umask (000 made it 0777: anyone could remove
    // the pins below); a load then gives it the pin mode's directory mode.
    std::os::unix::fs::DirBuilderExt::mode(std::fs::DirBuilder::new().recursive(true), 0o700)
        .create(dir)
        .map_err(|source| BpffsError::CreateDir {
            path: dir.to_owned(),
            source,
        })?;
    if !existed {
        if let Ok(mut created) = CREATED.lock() {
            created.push(dir.to_owned());
        }
    }
    if is_bpffs(dir) {
        return Ok(false);
    }
    if PRIVATE_NAMESPACE.load(Ordering::Relaxed) {
        return Err(BpffsError::WouldVanish {
            path: dir.to_owned(),
        });
    }
    mount_bpffs(dir)?;
    if let Ok(mut mounted) = MOUNTED.lock() {
        mounted.push(dir.to_owned());
    }
    Ok(true)
}

/// A bpffs for pins that must die with the process (`bench`: the maps of an
/// object loaded only to be measured), mounted at `dir` inside the private
/// mount namespace [`isolate_mounts`] entered; refused outside it, where the
/// mount would outlive the process.
pub fn scratch_bpffs(dir: &Path) -> Result<(), BpffsError> {
    if !PRIVATE_NAMESPACE.load(Ordering::Relaxed) {
        return Err(BpffsError::Namespace {
            call: "a scratch bpffs outside a private mount namespace",
            source: nix::Error::EPERM,
        });
    }
    mount_bpffs(dir)
}

/// `mount -t bpf bpf DIR`, in the calling process's mount namespace.
fn mount_bpffs(dir: &Path) -> Result<(), BpffsError> {
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
    })
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
    if let Ok(original) = std::fs::File::open("/proc/self/ns/mnt") {
        let _ = ORIGINAL_MOUNT_NS.set(original.into());
    }
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

/// Where tracefs is if it is mounted already (nothing is mounted for it).
pub fn tracefs_if_mounted() -> Option<PathBuf> {
    [TRACEFS, "/sys/kernel/debug/tracing"]
        .into_iter()
        .map(Path::new)
        .find(|p| is_fs(p, TRACEFS_MAGIC))
        .map(Path::to_owned)
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

/// Removes the tracefs instances `<prefix><pid>` under `instances` whose
/// process is gone: instances are kernel-wide, and one whose owner was
/// killed stays (with its buffers) until somebody removes it.
pub fn remove_dead_trace_instances(instances: &Path, prefix: &str) {
    for entry in std::fs::read_dir(instances).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix(prefix)
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir(entry.path());
        }
    }
}

/// What kind of file a path is, for messages.
pub fn file_kind(meta: &std::fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt as _;
    let t = meta.file_type();
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "a regular file"
    }
}
