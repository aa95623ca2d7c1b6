//! The on-disk lifecycle state: what xdploader keeps under the pin directory
//! (default /sys/fs/bpf in the host's network namespace, a directory of the
//! namespace's own elsewhere: crate::netns), and the one place that knows
//! its layout.
//!
//! ```text
//! <pin-dir>/<map>                                  every map of the object (global data excepted),
//!                                                  or the path its definition names (elf::PinSpec)
//! <pin-dir>/xdploader/<iface>/link                 the bpf_link that keeps the program attached
//! <pin-dir>/xdploader/<iface>/maps/<path>          a second pin of each map this load pinned,
//!                                                  at the same relative path
//! <pin-dir>/xdploader/<iface>/load                 which object the load came from ([`LoadRecord`],
//!                                                  a one-entry array map holding its JSON)
//! <pin-dir>/xdploader/<iface>/peer_link            the veth peer fix's pass program (crate::peer)
//! <pin-dir>/xdploader/<iface>/peer_tx_checksum_was_on/
//!                                                  the peer fix turned tx checksum offload off
//! <pin-dir>/xdploader/load-in-progress-<pid>/      staging while a load runs (crate::transaction);
//!                                                  never scratch: see [`clean_dead_staging`]
//! <pin-dir>/xdploader/bpffs_mounted_by_xdploader/  the pin dir was no bpffs: this tool mounted one,
//!                                                  and unmounts it when nothing of ours is left
//! <pin-dir>/xdploader/pin_dir_made_by_xdploader/   this tool created the pin dir: removed likewise
//! ```
//!
//! The per-interface `maps/` pins are the record `unload` works from: they
//! live in bpffs beside what they describe, vanish with it at reboot, and
//! carry the kernel's map ids, so a pin `<pin-dir>/<map>` is removed only if
//! it is still the very map we pinned and no other interface of ours uses it.
//! bpffs holds only BPF objects and directories: a marker is a directory,
//! and the lock ([`PinDirLock`]) is an flock on the pin directory itself.

use std::{
    collections::HashSet,
    fs, io,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use aya::maps::MapInfo;
use serde::Serialize;

use crate::iface::Interface;

pub(crate) const STATE_DIR: &str = "xdploader";
/// Longer than any interface name (IFNAMSIZ), and no name for scratch: a
/// load that died after its link update has its running jump table pinned
/// only here until the next command completes it ([`clean_dead_staging`]).
const STAGING_PREFIX: &str = "load-in-progress-";
/// What versions before it called the staging directory: still completed.
const OLD_STAGING_PREFIX: &str = "tmp-";
/// Markers in the state root, not interfaces (IFNAMSIZ keeps every interface
/// name shorter than these).
const MOUNT_MARKER: &str = "bpffs_mounted_by_xdploader";
const MADE_MARKER: &str = "pin_dir_made_by_xdploader";

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("{op} {path}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{iface}: nothing attached by xdploader (no {path})")]
    NotLoaded { iface: String, path: PathBuf },
    #[error("creating a record map (bpffs holds no files): {0}")]
    Record(String),
    #[error(
        "{path} is locked by {holder} (another xdploader on this pin directory); waited {waited:?}"
    )]
    Locked {
        path: PathBuf,
        holder: String,
        waited: Duration,
    },
}

impl StateError {
    /// For `map_err`: the failing operation and path, keeping the io::Error as the source.
    pub fn io<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> Self + 'a {
        move |source| Self::Io {
            op,
            path: path.to_owned(),
            source,
        }
    }
}

/// The permissions of what this tool makes under the pin directory: pins
/// get the mode, directories the mode with `x` wherever it has `r`. Set
/// explicitly, whatever the umask: with umask 000 the state directories were
/// 0777, and any user could remove a link pin and so detach the program.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PinMode(u32);

impl PinMode {
    /// Owner only: 0600 pins, 0700 directories.
    pub const OWNER_ONLY: Self = Self(0o600);

    /// A pin mode: read and write for the owner, no execute bits, nothing
    /// beyond 0777 (0640 lets a monitoring group run statswatch).
    pub fn new(mode: u32) -> Option<Self> {
        (mode & !0o666 == 0 && mode & 0o600 == 0o600).then_some(Self(mode))
    }
    pub fn pin(self) -> u32 {
        self.0
    }
    pub fn dir(self) -> u32 {
        self.0 | ((self.0 & 0o444) >> 2)
    }

    /// Sets `path` to the pin mode (or the directory mode for a directory).
    pub fn apply(self, path: &Path) -> io::Result<()> {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = if path.is_dir() {
            self.dir()
        } else {
            self.pin()
        };
        fs::set_permissions(path, fs::Permissions::from_mode(mode))
    }
}

/// `0600`, `640`, `0o640`: octal, owner read-write, no execute bits.
impl std::str::FromStr for PinMode {
    type Err = String;
    fn from_str(arg: &str) -> Result<Self, String> {
        u32::from_str_radix(arg.trim_start_matches("0o"), 8)
            .ok()
            .and_then(Self::new)
            .ok_or_else(|| {
                format!(
                    "{arg}: give an octal mode with rw for the owner and no x bits, e.g. 0600 or 0640"
                )
            })
    }
}

impl Default for PinMode {
    fn default() -> Self {
        Self::OWNER_ONLY
    }
}

/// Where things are under one pin directory, and with which permissions
/// this tool makes them.
#[derive(Clone, Debug)]
pub struct PinLayout {
    pub dir: PathBuf,
    pub mode: PinMode,
}

impl PinLayout {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            mode: PinMode::default(),
        }
    }
    pub fn with_mode(mut self, mode: PinMode) -> Self {
        self.mode = mode;
        self
    }
    /// A map's pin, from its path relative to the pin directory.
    pub fn map(&self, relative: &Path) -> PathBuf {
        self.dir.join(relative)
    }
    pub fn state_root(&self) -> PathBuf {
        self.dir.join(STATE_DIR)
    }
    /// The directory of one interface's records.
    pub fn state(&self, iface: &str) -> PathBuf {
        self.state_root().join(iface)
    }
    pub fn link(&self, iface: &str) -> PathBuf {
        self.state(iface).join("link")
    }
    pub fn records(&self, iface: &str) -> PathBuf {
        self.state(iface).join("maps")
    }
    /// The record of which object the load on `iface` came from.
    pub fn load_record(&self, iface: &str) -> PathBuf {
        self.state(iface).join("load")
    }
    /// The directory of a running capture's record and shared maps
    /// (crate::capture): gone when the capture is undone.
    pub fn capture(&self, iface: &str) -> PathBuf {
        self.state(iface).join("capture")
    }
    /// The pinned link of the pass program the peer fix attached to `iface`'s peer.
    pub fn peer_link(&self, iface: &str) -> PathBuf {
        self.state(iface).join("peer_link")
    }
    /// Present (a directory) when the peer fix turned the peer's tx checksum
    /// offload off, and unload must turn it back on.
    pub fn peer_tx_marker(&self, iface: &str) -> PathBuf {
        self.state(iface).join("peer_tx_checksum_was_on")
    }
    /// Present when this tool mounted the bpffs at the pin directory.
    pub fn mount_marker(&self) -> PathBuf {
        self.state_root().join(MOUNT_MARKER)
    }
    /// Present when this tool created the pin directory.
    pub fn made_marker(&self) -> PathBuf {
        self.state_root().join(MADE_MARKER)
    }
    /// The staging directory of the load running as process `pid`.
    pub fn staging(&self, pid: u32) -> PathBuf {
        self.state_root().join(format!("{STAGING_PREFIX}{pid}"))
    }
}

/// An exclusive lock on one pin directory, held for a whole load or unload,
/// so two loaders never interleave their pins and records (two loads sharing
/// a pin dir left the first interface counting into a map no longer pinned;
/// one in ~50 concurrent runs failed with a spurious EEXIST). Released on drop
/// and by the kernel when the holder dies, so a killed loader blocks nobody.
#[derive(Debug)]
pub struct PinDirLock {
    _held: nix::fcntl::Flock<fs::File>,
}

impl PinDirLock {
    /// Takes the lock on `dir` (which must exist), waiting up to `wait`.
    pub fn acquire(dir: &Path, wait: Duration) -> Result<Self, StateError> {
        use nix::fcntl::{Flock, FlockArg};
        let start = Instant::now();
        let mut file = fs::File::open(dir).map_err(StateError::io("opening to lock", dir))?;
        loop {
            match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
                Ok(held) => return Ok(Self { _held: held }),
                Err((back, nix::errno::Errno::EWOULDBLOCK)) if start.elapsed() < wait => {
                    file = back;
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err((back, nix::errno::Errno::EWOULDBLOCK)) => {
                    return Err(StateError::Locked {
                        path: dir.to_owned(),
                        holder: lock_holder(&back).map_or_else(
                            || "another process".to_owned(),
                            |pid| format!("pid {pid}"),
                        ),
                        waited: wait,
                    })
                }
                Err((_, errno)) => {
                    return Err(StateError::io("locking", dir)(io::Error::from(errno)))
                }
            }
        }
    }
}

/// The pid holding an flock on `file`'s inode, from /proc/locks
/// (`1: FLOCK  ADVISORY  WRITE 1234 00:2d:5678 0 EOF`).
fn lock_holder(file: &fs::File) -> Option<u32> {
    use std::os::unix::fs::MetadataExt as _;
    let meta = file.metadata().ok()?;
    let (major, minor) = (
        nix::sys::stat::major(meta.dev()),
        nix::sys::stat::minor(meta.dev()),
    );
    let inode = format!("{major:02x}:{minor:02x}:{}", meta.ino());
    fs::read_to_string("/proc/locks")
        .ok()?
        .lines()
        .find_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            (fields.get(1) == Some(&"FLOCK") && fields.get(5) == Some(&inode.as_str()))
                .then(|| fields.get(4)?.parse().ok())
                .flatten()
        })
}

fn map_id(path: &Path) -> Option<u32> {
    MapInfo::from_pin(path).ok().map(|i| i.id())
}

/// The pins under `dir`, as paths relative to it (records mirror the
/// pin directory, subdirectories included).
pub(crate) fn pins_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![PathBuf::new()];
    while let Some(relative) = pending.pop() {
        let Ok(entries) = fs::read_dir(dir.join(&relative)) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = relative.join(entry.file_name());
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                pending.push(path);
            } else {
                found.push(path);
            }
        }
    }
    found
}

/// Removes `dir` and its parents while they are empty, up to `root` (kept).
fn remove_empty_dirs(mut dir: &Path, root: &Path) {
    while dir != root && dir.starts_with(root) && fs::remove_dir(dir).is_ok() {
        match dir.parent() {
            Some(parent) => dir = parent,
            None => break,
        }
    }
}

/// The interface directories under the state root (staging excepted).
fn interface_dirs(layout: &PinLayout) -> Vec<(String, PathBuf)> {
    let Ok(entries) = fs::read_dir(layout.state_root()) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let marker = name == MOUNT_MARKER || name == MADE_MARKER;
            (staging_pid(&name).is_none() && !marker).then(|| (name, e.path()))
        })
        .collect()
}

/// The interfaces with a state directory under `layout`, sorted: loads of
/// ours, whether or not their link is still alive.
pub fn recorded_interfaces(layout: &PinLayout) -> Vec<String> {
    let mut names: Vec<_> = interface_dirs(layout)
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    names.sort();
    names
}

/// Every pin directory at or below `dir` on the same bpffs that holds state
/// of ours (`unload --all`, `apply` looking for what it made), `dir` first.
pub fn pin_dirs_below(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut todo = vec![dir.to_owned()];
    while let Some(dir) = todo.pop() {
        if PinLayout::new(&dir).state_root().is_dir() {
            found.push(dir.clone());
        }
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            // Our own state root holds no pin directories; symlinks are
            // not followed.
            let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
            if is_dir && entry.file_name() != STATE_DIR && crate::bpffs::is_bpffs(&entry.path()) {
                todo.push(entry.path());
            }
        }
    }
    found.sort_by(|a, b| {
        a.components()
            .count()
            .cmp(&b.components().count())
            .then(a.cmp(b))
    });
    found
}

/// Ids of every map some interface of ours records: the maps this tool pinned.
pub fn recorded_ids(layout: &PinLayout) -> HashSet<u32> {
    ids_recorded_except(layout, None)
}

/// The other interfaces of ours (not in `except`) whose load recorded the
/// map `map_id`, each as "IF's PROGRAM" (the program its link runs): a map
/// pinned by name is shared by every load that names it, and a user who
/// copied an object should know the counters are one.
pub fn users_of_map(layout: &PinLayout, id: u32, except: &[&str]) -> Vec<String> {
    let users: Vec<String> = interface_dirs(layout)
        .into_iter()
        .filter(|(name, _)| !except.contains(&name.as_str()))
        .filter(|(_, dir)| {
            let records = dir.join("maps");
            pins_under(&records)
                .iter()
                .any(|r| map_id(&records.join(r)) == Some(id))
        })
        .map(|(name, _)| name)
        .collect();
    if users.is_empty() {
        return users;
    }
    // The programs' names only when somebody shares the map: listing every
    // loaded program is the costly part.
    let names: std::collections::HashMap<u32, String> = aya::programs::loaded_programs()
        .flatten()
        .filter_map(|p| Some((p.id(), p.name_as_str()?.to_owned())))
        .collect();
    let links: std::collections::HashMap<String, u32> = pinned_links(layout, PinLayout::link)
        .into_iter()
        .map(|(name, facts)| (name, facts.prog_id))
        .collect();
    users
        .into_iter()
        .map(|name| match links.get(&name).and_then(|id| names.get(id)) {
            Some(program) => format!("{name}'s {program}"),
            None => name,
        })
        .collect()
}

/// Ids recorded by every interface of ours except `iface`.
fn ids_recorded_elsewhere(layout: &PinLayout, iface: &str) -> HashSet<u32> {
    ids_recorded_except(layout, Some(iface))
}

fn ids_recorded_except(layout: &PinLayout, except: Option<&str>) -> HashSet<u32> {
    interface_dirs(layout)
        .into_iter()
        .filter(|(name, _)| Some(name.as_str()) != except)
        .flat_map(|(_, dir)| {
            let records = dir.join("maps");
            pins_under(&records)
                .into_iter()
                .filter_map(move |r| map_id(&records.join(r)))
        })
        .collect()
}

/// Drops `iface`'s records for maps not in `keep`, removing the map's pin in
/// the pin directory when it is still the map we recorded and no other
/// interface of ours records it. Returns the pins removed.
pub fn release_records(layout: &PinLayout, iface: &str, keep: &HashSet<&Path>) -> Vec<PathBuf> {
    let records = layout.records(iface);
    let elsewhere = ids_recorded_elsewhere(layout, iface);
    let mut removed = Vec::new();
    for relative in pins_under(&records) {
        if keep.contains(relative.as_path()) {
            continue;
        }
        let record = records.join(&relative);
        let recorded = map_id(&record);
        let pin = layout.map(&relative);
        if recorded.is_some()
            && recorded == map_id(&pin)
            && !elsewhere.contains(&recorded.unwrap_or(0))
            && fs::remove_file(&pin).is_ok()
        {
            if let Some(parent) = pin.parent() {
                remove_empty_dirs(parent, &layout.dir);
            }
            removed.push(pin);
        }
        let _ = fs::remove_file(&record);
        if let Some(parent) = record.parent() {
            remove_empty_dirs(parent, &records);
        }
    }
    removed
}

/// The map pins a load on `iface` recorded, as paths in the pin directory.
pub fn recorded_pins(layout: &PinLayout, iface: &str) -> Vec<PathBuf> {
    let mut pins: Vec<PathBuf> = pins_under(&layout.records(iface))
        .into_iter()
        .map(|r| layout.map(&r))
        .collect();
    pins.sort();
    pins
}

/// The interfaces xdploader holds an XDP link on under `layout`, with the
/// ifindex the kernel has for each link. Unreadable records are skipped: this
/// only names things.
pub fn attached_interfaces(layout: &PinLayout) -> Vec<Interface> {
    let mut found: Vec<_> = pinned_links(layout, PinLayout::link)
        .into_iter()
        .filter_map(|(name, facts)| {
            Some(Interface {
                name,
                ifindex: facts.xdp_ifindex?,
            })
        })
        .collect();
    found.sort_by(|a, b| a.name.cmp(&b.name));
    found
}

/// For each interface of ours, the link pinned at `which(iface)` (its own
/// link, or the peer fix's) and what the kernel says of it. Unreadable pins
/// are skipped.
pub fn pinned_links(
    layout: &PinLayout,
    which: fn(&PinLayout, &str) -> PathBuf,
) -> Vec<(String, crate::sys::LinkFacts)> {
    interface_dirs(layout)
        .into_iter()
        .filter_map(|(name, _)| {
            let facts = crate::sys::pinned_link_facts(&which(layout, &name)).ok()?;
            Some((name, facts))
        })
        .collect()
}

/// The pid a staging directory name carries (`load-in-progress-<pid>`, or
/// an older version's `tmp-<pid>`).
fn staging_pid(name: &str) -> Option<u32> {
    name.strip_prefix(STAGING_PREFIX)
        .or_else(|| name.strip_prefix(OLD_STAGING_PREFIX))?
        .parse()
        .ok()
}

/// The staging directories of loaders that died (SIGKILL, a crash): the
/// pid each names is gone. Read-only; [`clean_dead_staging`] finishes them.
pub fn dead_loads(layout: &PinLayout) -> Vec<(u32, PathBuf)> {
    let Ok(entries) = fs::read_dir(layout.state_root()) else {
        return Vec::new();
    };
    let mut dead: Vec<(u32, PathBuf)> = entries
        .flatten()
        .filter_map(|e| {
            let pid = staging_pid(&e.file_name().to_string_lossy())?;
            let alive = pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists();
            (!alive).then(|| (pid, e.path()))
        })
        .collect();
    dead.sort();
    dead
}

/// Completes or undoes what dead loaders left ([`clean_dead_staging`]),
/// taking the pin directory's lock for at most `wait`: for commands that do
/// not load (status), so that no state lingers until the next load. Where
/// the lock cannot be had, says which dead loads are left and why.
pub fn finish_dead_loads(layout: &PinLayout, wait: Duration) -> Vec<String> {
    let dead = dead_loads(layout);
    if dead.is_empty() {
        return Vec::new();
    }
    match PinDirLock::acquire(&layout.dir, wait) {
        Ok(_lock) => clean_dead_staging(layout),
        Err(err) => dead
            .iter()
            .map(|(pid, path)| {
                format!(
                    "pid {pid} died mid-load and left {} (not finished here: {err}); the next xdploader load, unload or status with the lock finishes it",
                    path.display()
                )
            })
            .collect(),
    }
}

/// The map ids the program on each of our links uses right now, by interface.
fn running_map_ids(layout: &PinLayout) -> Vec<(String, HashSet<u32>)> {
    let links: Vec<(String, u32)> = pinned_links(layout, PinLayout::link)
        .into_iter()
        .map(|(name, facts)| (name, facts.prog_id))
        .collect();
    let programs: Vec<_> = aya::programs::loaded_programs()
        .flatten()
        .filter(|p| links.iter().any(|(_, id)| *id == p.id()))
        .map(|p| (p.id(), p.map_ids().ok().flatten().unwrap_or_default()))
        .collect();
    links
        .into_iter()
        .map(|(iface, prog)| {
            let ids = programs
                .iter()
                .filter(|(id, _)| *id == prog)
                .flat_map(|(_, maps)| maps.iter().copied())
                .collect();
            (iface, ids)
        })
        .collect()
}

/// Cleans up what loaders that died (SIGKILL, a crash) left: their staging
/// directories, which keep maps and programs alive. Call it holding the
/// [`PinDirLock`]: then every other staging directory is a dead loader's.
///
/// A loader killed after it pointed a link at its new program, but before it
/// moved its pins into place, leaves that program running with its jump
/// table pinned only in staging: removing the staging pin would empty the
/// table (the kernel clears a prog array with no user reference left) and
/// black-hole the interface. So when a running program of ours uses a staged
/// map, the dead load is completed (its pins and records moved into place);
/// otherwise it is undone. Returns one line per dead loader.
pub fn clean_dead_staging(layout: &PinLayout) -> Vec<String> {
    let Ok(entries) = fs::read_dir(layout.state_root()) else {
        return Vec::new();
    };
    let mine = std::process::id();
    let mut done = Vec::new();
    let mut running = None;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = staging_pid(&name) else {
            continue;
        };
        // A loader of an older version took no lock: leave a live one alone.
        if pid == mine || Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        let staging = entry.path();
        let maps = staging.join("m");
        let staged = pins_under(&maps);
        let running = running.get_or_insert_with(|| running_map_ids(layout));
        let staged_ids: Vec<(PathBuf, Option<u32>)> = staged
            .iter()
            .map(|r| (r.clone(), map_id(&maps.join(r))))
            .collect();
        let users: Vec<&(String, HashSet<u32>)> = running
            .iter()
            .filter(|(_, ids)| {
                staged_ids
                    .iter()
                    .any(|(_, id)| id.is_some_and(|id| ids.contains(&id)))
            })
            .collect();
        let line = if users.is_empty() {
            format!(
                "removed what pid {pid} left when it died mid-load ({} staged map pins)",
                staged.len()
            )
        } else {
            // The records of each interface running the dead load's program
            // now name its maps, so a later unload removes the right pins.
            for (iface, ids) in &users {
                for (relative, id) in &staged_ids {
                    if !id.is_some_and(|id| ids.contains(&id)) {
                        continue;
                    }
                    let record = layout.records(iface).join(relative);
                    let Ok(fd) = crate::sys::obj_get(&maps.join(relative), false) else {
                        continue;
                    };
                    if let Some(parent) = record.parent() {
                        let _ = fs::create_dir_all(parent);
                    }
                    let _ = fs::remove_file(&record);
                    let _ = crate::sys::obj_pin(std::os::fd::AsFd::as_fd(&fd), &record);
                }
            }
            let mut moved = 0;
            for relative in &staged {
                let to = layout.map(relative);
                if let Some(parent) = to.parent() {
                    let _ = fs::create_dir_all(parent);
                }
                moved += usize::from(fs::rename(maps.join(relative), &to).is_ok());
            }
            format!("completed the load of pid {pid}, which died after attaching: moved {moved} pins into place")
        };
        let _ = fs::remove_dir_all(&staging);
        done.push(line);
    }
    done
}

/// What releasing one interface's state removed.
#[derive(Debug, Serialize)]
pub struct Released {
    pub iface: String,
    pub link: PathBuf,
    pub removed: Vec<PathBuf>,
    /// The pin directory, when the bpffs this tool mounted there was unmounted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unmounted: Option<PathBuf>,
    /// The pin directory this tool created was removed, empty.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub removed_pin_dir: bool,
}

/// Removes `iface`'s link pin (which detaches the program) and the map pins
/// its load made, unless another interface still uses them, then its
/// directories. The peer fix's records must be restored first (crate::peer).
pub fn release_interface(layout: &PinLayout, iface: &str) -> Result<Released, StateError> {
    let state = layout.state(iface);
    if !state.is_dir() {
        return Err(StateError::NotLoaded {
            iface: iface.to_owned(),
            path: state,
        });
    }
    let link = layout.link(iface);
    crate::sys::detach_and_unpin(&link).map_err(StateError::io("removing", &link))?;
    let removed = release_records(layout, iface, &HashSet::new());
    let _ = fs::remove_file(layout.load_record(iface));
    for dir in [layout.records(iface), state] {
        let _ = fs::remove_dir(dir);
    }
    // The state root stays while another interface still has a record; the
    // last one out unmounts the bpffs this tool mounted there.
    // Only when nothing at all is pinned there any more: another tool's pin
    // would die with the mount.
    let only_ours_left = || {
        fs::read_dir(&layout.dir).is_ok_and(|entries| {
            entries.flatten().all(|e| {
                let name = e.file_name();
                name == STATE_DIR || name.to_string_lossy().ends_with(".debug")
            })
        })
    };
    let (mut unmounted, mut removed_pin_dir) = (None, false);
    if interface_dirs(layout).is_empty() && only_ours_left() {
        let (mount, made) = (layout.mount_marker(), layout.made_marker());
        let (was_mounted, was_made) = (mount.is_dir(), made.is_dir());
        for marker in [mount, made] {
            let _ = fs::remove_dir(marker);
        }
        let _ = fs::remove_dir(layout.state_root());
        if was_mounted && crate::bpffs::unmount(&layout.dir).is_ok() {
            unmounted = Some(layout.dir.clone());
        }
        removed_pin_dir = was_made && fs::remove_dir(&layout.dir).is_ok();
    } else {
        // Stays while another interface still has a record.
        let _ = fs::remove_dir(layout.state_root());
    }
    Ok(Released {
        iface: iface.to_owned(),
        link,
        removed,
        unmounted,
        removed_pin_dir,
    })
}

/// Records that this tool mounted the bpffs at the pin directory, or
/// created the pin directory: the last unload undoes it.
pub fn mark_made(layout: &PinLayout, mounted: bool, created: bool) -> Result<(), StateError> {
    for (marker, wanted) in [
        (layout.mount_marker(), mounted),
        (layout.made_marker(), created),
    ] {
        if wanted {
            fs::create_dir_all(&marker)
                .and_then(|()| layout.mode.apply(&marker))
                .map_err(StateError::io("recording in", &marker))?;
        }
    }
    // A pin directory we made gets the mode of the directories below it.
    if created {
        layout
            .mode
            .apply(&layout.dir)
            .map_err(StateError::io("setting the mode of", &layout.dir))?;
    }
    Ok(())
}

/// Which object a load came from, kept beside its pins (bpffs holds no
/// files, so in a one-entry array map of [`LOAD_RECORD_BYTES`], as JSON):
/// what `status` shows and what tells a changed object from the same one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct LoadRecord {
    /// The object file, absolute.
    pub object: PathBuf,
    /// SHA-256 of the file as read, in hex.
    pub sha256: String,
    pub entry: String,
    /// The options that shaped the load, as the flags that give them
    /// ([`crate::ops::load::LoadOptions::flags`]): `apply` compares them.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub flags: String,
    /// The attach mode asked for: a change needs a new link, not a replace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<crate::netdev::Mode>,
    /// The config file whose `xdploader apply` made this load (None: by hand).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied_from: Option<PathBuf>,
    /// The `ip netns` namespace the interface is in (None: the loader's own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub netns: Option<String>,
    /// The inode of the namespace a load outside the host's ran in (an
    /// unnamed one, a container's): `unload --all` finds it by a process in it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub netns_inode: Option<u64>,
}

/// The record map's value size: a path and a hash fit with room to spare.
pub const LOAD_RECORD_BYTES: usize = 4096;

impl LoadRecord {
    /// A new record map holding `self`, not pinned yet.
    pub fn to_map(&self) -> Result<aya::maps::MapData, StateError> {
        json_record_map(self, "xdploader_load")
    }

    /// The record of the load on `iface`, if there is a readable one.
    pub fn read(layout: &PinLayout, iface: &str) -> Option<Self> {
        read_json_record(&layout.load_record(iface))
    }
}

/// A new one-entry array map named `name` holding `value` as JSON (at most
/// [`LOAD_RECORD_BYTES`]), not pinned yet: how a record lives in a bpffs,
/// which holds no files.
pub fn json_record_map<T: Serialize>(
    value: &T,
    name: &str,
) -> Result<aya::maps::MapData, StateError> {
    let mut bytes = serde_json::to_vec(value).unwrap_or_default();
    bytes.resize(LOAD_RECORD_BYTES, 0);
    let def = aya_obj::maps::bpf_map_def {
        map_type: aya_obj::generated::bpf_map_type::BPF_MAP_TYPE_ARRAY as u32,
        key_size: 4,
        value_size: LOAD_RECORD_BYTES as u32,
        max_entries: 1,
        ..Default::default()
    };
    let obj = aya_obj::Map::Legacy(aya_obj::maps::LegacyMap {
        def,
        inner_def: None,
        section_index: 0,
        section_kind: aya_obj::EbpfSectionKind::Maps,
        symbol_index: None,
        data: Vec::new(),
    });
    let failed = |e: &dyn std::fmt::Display| StateError::Record(e.to_string());
    let map = aya::maps::MapData::create(obj, name, None).map_err(|e| failed(&e))?;
    let fd = std::os::fd::AsFd::as_fd(map.fd());
    crate::sys::map_update(fd, &0u32.to_ne_bytes(), &bytes).map_err(|e| failed(&e))?;
    Ok(map)
}

/// The value of a [`json_record_map`] pinned at `path`, if readable.
pub fn read_json_record<T: serde::de::DeserializeOwned>(path: &Path) -> Option<T> {
    let fd = crate::sys::obj_get(path, true).ok()?;
    let mut bytes = vec![0u8; LOAD_RECORD_BYTES];
    crate::sys::map_lookup(
        std::os::fd::AsFd::as_fd(&fd),
        &0u32.to_ne_bytes(),
        &mut bytes,
    )
    .ok()?;
    let end = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
    serde_json::from_slice(&bytes[..end]).ok()
}

/// The pin directories an `xdploader apply` of one config file pinned in,
/// kept in /run (gone at reboot, with the bpffs pins it points at): the
/// next apply of that file looks there for loads its entries no longer list,
/// whichever pin directory they used.
#[derive(Debug)]
pub struct AppliedPinDirs {
    file: PathBuf,
}

/// Where [`AppliedPinDirs`] live.
pub const APPLIED_DIR: &str = "/run/xdploader/applied";

impl AppliedPinDirs {
    /// The record of `config` (an absolute path).
    pub fn of(config: &Path) -> Self {
        use sha2::Digest as _;
        let digest = sha2::Sha256::digest(config.as_os_str().as_encoded_bytes());
        let name: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
        Self {
            file: Path::new(APPLIED_DIR).join(name),
        }
    }

    /// The pin directories recorded (none if there is no record).
    pub fn read(&self) -> Vec<PathBuf> {
        fs::read_to_string(&self.file)
            .map(|text| text.lines().map(PathBuf::from).collect())
            .unwrap_or_default()
    }

    /// Records `dirs`; an empty list removes the record.
    pub fn write(&self, dirs: &[PathBuf]) -> Result<(), StateError> {
        if dirs.is_empty() {
            return match fs::remove_file(&self.file) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => {
                    Err(StateError::io("removing", &self.file)(e))
                }
                _ => {
                    // The last record out leaves no directory behind.
                    for dir in [Path::new(APPLIED_DIR), Path::new("/run/xdploader")] {
                        let _ = fs::remove_dir(dir);
                    }
                    Ok(())
                }
            };
        }
        let text: String = dirs.iter().map(|d| format!("{}\n", d.display())).collect();
        let tmp = self.file.with_extension("tmp");
        fs::create_dir_all(APPLIED_DIR)
            .and_then(|()| fs::write(&tmp, text))
            .and_then(|()| fs::rename(&tmp, &self.file))
            .map_err(StateError::io("writing", &self.file))
    }
}

/// Names for the ifindexes the kernel reports (tracepoints carry only the
/// number, and an ifindex means something only in its network namespace).
///
/// The interfaces xdploader attached to are named exactly, from its link
/// pins and the kernel's ifindex of each link, whichever namespace they are
/// in. Other ifindexes are named in this process's namespace only when that
/// is where the load happened (every link pin's name has its ifindex here),
/// or when there are no link pins to say otherwise; else they stay numbers
/// rather than get a wrong name.
#[derive(Clone, Debug, Default)]
pub struct InterfaceNames {
    attached: Vec<Interface>,
    local: bool,
}

impl InterfaceNames {
    /// The names that hold for the program whose maps are pinned at or below
    /// `near` (the link pins are looked for there and in its parents, up to
    /// the root of that bpffs).
    pub fn for_pins(near: &Path) -> Self {
        let attached = near
            .ancestors()
            .skip(1)
            .take_while(|dir| crate::bpffs::is_bpffs(dir))
            .map(|dir| attached_interfaces(&PinLayout::new(dir)))
            .find(|found| !found.is_empty())
            .unwrap_or_default();
        let local = attached.iter().all(|i| {
            nix::net::if_::if_nametoindex(i.name.as_str()).is_ok_and(|here| here == i.ifindex)
        });
        Self { attached, local }
    }

    /// The name of `ifindex`, or None when it cannot be told for sure.
    pub fn name(&self, ifindex: i32) -> Option<String> {
        let index = u32::try_from(ifindex).ok().filter(|i| *i != 0)?;
        let mut attached = self.attached.iter().filter(|i| i.ifindex == index);
        match (attached.next(), attached.next()) {
            // Two namespaces with the same ifindex attached: ambiguous.
            (Some(_), Some(_)) => None,
            (Some(one), None) => Some(one.name.clone()),
            (None, _) if self.local => nix::net::if_::if_indextoname(index)
                .ok()
                .map(|n| n.to_string_lossy().into_owned()),
            (None, _) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_link_pins_first_and_this_namespace_only_when_trusted() {
        let attached = vec![
            Interface {
                name: "veth-a".into(),
                ifindex: 7,
            },
            Interface {
                name: "veth-b".into(),
                ifindex: 7,
            },
            Interface {
                name: "veth-c".into(),
                ifindex: 9,
            },
        ];
        let elsewhere = InterfaceNames {
            attached: attached.clone(),
            local: false,
        };
        assert_eq!(elsewhere.name(9).as_deref(), Some("veth-c"));
        assert_eq!(elsewhere.name(7), None, "ambiguous across namespaces");
        assert_eq!(elsewhere.name(1), None, "lo here is not lo there");
        assert_eq!(elsewhere.name(0), None);
        let here = InterfaceNames {
            attached,
            local: true,
        };
        assert_eq!(here.name(1).as_deref(), Some("lo"));
    }

    #[test]
    fn pin_modes_give_directories_x_where_pins_have_r() {
        assert_eq!(PinMode::OWNER_ONLY.dir(), 0o700);
        let group = PinMode::new(0o640).unwrap();
        assert_eq!((group.pin(), group.dir()), (0o640, 0o750));
        for bad in [0o700, 0o400, 0o1600, 0o644 | 0o100] {
            assert_eq!(PinMode::new(bad), None, "{bad:o}");
        }
    }

    #[test]
    fn every_path_of_an_interface_is_inside_its_state_directory() {
        let layout = PinLayout::new("/sys/fs/bpf/x");
        let state = layout.state("veth1");
        assert_eq!(state, Path::new("/sys/fs/bpf/x/xdploader/veth1"));
        for path in [
            layout.link("veth1"),
            layout.records("veth1"),
            layout.peer_link("veth1"),
            layout.peer_tx_marker("veth1"),
        ] {
            assert_eq!(path.parent(), Some(state.as_path()), "{}", path.display());
        }
        assert_eq!(
            layout.staging(42),
            Path::new("/sys/fs/bpf/x/xdploader/load-in-progress-42")
        );
    }
}
