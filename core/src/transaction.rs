//! A load's pins, all or nothing: planned before anything is loaded, staged
//! while the load runs, made visible at once when every attach succeeded,
//! and removed (with every new link detached) when anything fails.
//!
//! Prog arrays and devmaps are rebuilt on every load (their content is the
//! loader's doing, and a reused prog array would keep stale programs); every
//! other map is reused when its pin matches the object, so counters survive
//! a reload.

use std::{
    collections::HashSet,
    fs, io,
    path::{Path, PathBuf},
};

use aya::{maps::MapInfo, Ebpf};
use aya_obj::generated::bpf_map_type::{
    BPF_MAP_TYPE_CPUMAP, BPF_MAP_TYPE_DEVMAP, BPF_MAP_TYPE_DEVMAP_HASH, BPF_MAP_TYPE_PROG_ARRAY,
    BPF_MAP_TYPE_XSKMAP,
};
use serde::Serialize;

use crate::{
    attach::Attachment,
    elf::{map_type_name, MapSummary, ObjectSummary},
    state::{self, PinLayout},
};

#[derive(Debug, thiserror::Error)]
pub enum TransactionError {
    #[error("pinned map {path} does not match {name} in the object: {differences} (--fresh replaces it)")]
    PinMismatch {
        name: String,
        path: PathBuf,
        differences: String,
    },
    #[error("{path} exists but is not a pinned BPF map")]
    NotAMap {
        path: PathBuf,
        #[source]
        source: aya::maps::MapError,
    },
    #[error("{path} is a pinned BPF map this process may not open (owner uid {uid}, mode {mode:04o}): run as its owner (root), or have the pins made with --pin-mode 0660 for a group this process is in")]
    NoAccess {
        path: PathBuf,
        uid: u32,
        mode: u32,
        #[source]
        source: aya::maps::MapError,
    },
    #[error("{op} {path}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("the link pin {path} is not visible from the host's mount namespace, so the program would be detached when this process exits; nothing was left attached")]
    NotOnHost { path: PathBuf },
    #[error(transparent)]
    Record(state::StateError),
    #[error("{op} {path}")]
    Pin {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: aya::pin::PinError,
    },
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> TransactionError + 'a {
    move |source| TransactionError::Io {
        op,
        path: path.to_owned(),
        source,
    }
}

fn pin_err<'a>(
    op: &'static str,
    path: &'a Path,
) -> impl FnOnce(aya::pin::PinError) -> TransactionError + 'a {
    move |source| TransactionError::Pin {
        op,
        path: path.to_owned(),
        source,
    }
}

/// What happens to one map's pin.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PinAction {
    /// No pin yet: pin the new map.
    Create,
    /// A matching pin of ours exists: aya uses it, its content carries on.
    Reuse,
    /// A matching pin exists that another tool made (no load of ours
    /// records it): used the same way, but never recorded, so never removed.
    Borrow,
    /// A pin exists but is rebuilt (prog array, devmap) or `--fresh`: replaced atomically.
    Replace,
}

#[derive(Clone, Debug, Serialize)]
pub struct MapPin {
    pub name: String,
    pub path: PathBuf,
    /// `path` relative to the pin directory.
    #[serde(skip)]
    pub relative: PathBuf,
    pub action: PinAction,
    /// For a reused pin: the other interfaces' loads that use the same map
    /// ("veth1's xdp_skeleton"), whose counters it shares.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub shared_with: Vec<String>,
}

/// Maps whose content the loader (or another process) fills: never reused.
fn rebuilt_each_load(map: &MapSummary) -> bool {
    [
        BPF_MAP_TYPE_PROG_ARRAY,
        BPF_MAP_TYPE_DEVMAP,
        BPF_MAP_TYPE_DEVMAP_HASH,
        BPF_MAP_TYPE_CPUMAP,
        BPF_MAP_TYPE_XSKMAP,
    ]
    .into_iter()
    .any(|t| map.is(t))
}

/// Decides, before anything is loaded, what happens to every map's pin;
/// refuses a pin that does not match the object unless `fresh`.
pub fn plan_map_pins(
    layout: &PinLayout,
    summary: &ObjectSummary,
    fresh: bool,
    interfaces: &[&str],
) -> Result<Vec<MapPin>, TransactionError> {
    let first_iface = interfaces.first().copied().unwrap_or("");
    let mut pins = Vec::new();
    let ours = state::recorded_ids(layout);
    for map in &summary.maps {
        let Some(pin) = &map.pin else { continue };
        let relative = pin.relative(Some(first_iface));
        let path = layout.map(&relative);
        let mut shared_with = Vec::new();
        let action = if path.symlink_metadata().is_err() {
            PinAction::Create
        } else {
            let info = MapInfo::from_pin(&path).map_err(|source| open_error(&path, source))?;
            let differences = pin_differences(map, &info);
            if rebuilt_each_load(map) || (fresh && !differences.is_empty()) {
                PinAction::Replace
            } else if differences.is_empty() && ours.contains(&info.id()) {
                shared_with = state::users_of_map(layout, info.id(), interfaces);
                PinAction::Reuse
            } else if differences.is_empty() {
                PinAction::Borrow
            } else {
                return Err(TransactionError::PinMismatch {
                    name: map.name.clone(),
                    path,
                    differences: differences.join("; "),
                });
            }
        };
        pins.push(MapPin {
            name: map.name.clone(),
            path,
            relative,
            action,
            shared_with,
        });
    }
    // A map of maps whose declared inner maps are made anew is made anew
    // too: the kernel checks each inner map against the template the outer
    // map was created with (key and value sizes, flags; an array's size),
    // so a reused outer map would refuse a changed inner one.
    for outer in summary.maps.iter().filter(|m| !m.inner_maps.is_empty()) {
        let renewed = |name: &str| {
            pins.iter().any(|p| {
                p.name == name && matches!(p.action, PinAction::Create | PinAction::Replace)
            })
        };
        if outer.inner_maps.iter().any(|inner| renewed(&inner.map)) {
            for pin in pins.iter_mut().filter(|p| p.name == outer.name) {
                if pin.action == PinAction::Reuse {
                    pin.action = PinAction::Replace;
                    pin.shared_with.clear();
                }
            }
        }
    }
    Ok(pins)
}

/// Why a pin cannot be opened as a map: a pinned map whose owner and mode
/// keep this process out (BPF_OBJ_GET says EACCES, as for a file), or not a
/// pinned map at all.
fn open_error(path: &Path, source: aya::maps::MapError) -> TransactionError {
    use std::os::unix::fs::MetadataExt as _;
    let denied = matches!(&source, aya::maps::MapError::SyscallError(e)
        if e.io_error.kind() == io::ErrorKind::PermissionDenied);
    match fs::metadata(path) {
        Ok(meta) if denied && meta.is_file() && crate::bpffs::is_bpffs(path) => {
            TransactionError::NoAccess {
                path: path.to_owned(),
                uid: meta.uid(),
                mode: meta.mode() & 0o7777,
                source,
            }
        }
        _ => TransactionError::NotAMap {
            path: path.to_owned(),
            source,
        },
    }
}

fn pin_differences(map: &MapSummary, pin: &MapInfo) -> Vec<String> {
    let pin_type = pin.map_type().map_or(u32::MAX, |t| t as u32);
    let mut out = Vec::new();
    if pin_type != map.map_type {
        out.push(format!(
            "type is {} in the pin, {} in the object",
            map_type_name(pin_type),
            map.type_name
        ));
    }
    for (field, pinned, wanted) in [
        ("key_size", pin.key_size(), map.key_size),
        ("value_size", pin.value_size(), map.value_size),
        ("max_entries", pin.max_entries(), map.max_entries),
        ("flags", pin.map_flags(), map.flags),
    ] {
        if pinned != wanted {
            out.push(format!(
                "{field} is {pinned} in the pin, {wanted} in the object"
            ));
        }
    }
    out
}

/// Everything a load pins, staged first and made visible only once every
/// attach succeeded. Until [`commit`](Self::commit) returns, dropping it
/// removes every pin it made and (by dropping the attachments) detaches
/// every new link: a failed load leaves nothing behind.
#[derive(Debug)]
pub struct Transaction {
    layout: PinLayout,
    /// bpffs refuses dots in names, so staged pins get a directory of their
    /// own; renames within one bpffs are atomic.
    staging: PathBuf,
    made: Vec<PathBuf>,
    dirs: Vec<PathBuf>,
    done: bool,
}

/// What a committed load pinned.
#[derive(Debug, Serialize)]
pub struct Committed {
    pub pins: Vec<MapPin>,
    pub links: Vec<PathBuf>,
    /// Pins of an earlier load on these interfaces that this object no longer has.
    pub released: Vec<PathBuf>,
}

impl Transaction {
    pub fn begin(layout: &PinLayout) -> Result<Self, TransactionError> {
        let staging = layout.staging(std::process::id());
        let mut tx = Self {
            layout: layout.clone(),
            staging: staging.clone(),
            made: Vec::new(),
            dirs: Vec::new(),
            done: false,
        };
        tx.mkdir(&staging)?;
        Ok(tx)
    }

    fn mkdir(&mut self, dir: &Path) -> Result<(), TransactionError> {
        if !dir.exists() {
            if let Some(parent) = dir.parent() {
                self.mkdir(parent)?;
            }
            fs::create_dir(dir).map_err(io_err("creating", dir))?;
            self.dirs.push(dir.to_owned());
            self.layout
                .mode
                .apply(dir)
                .map_err(io_err("setting the mode of", dir))?;
        }
        Ok(())
    }

    fn staged(&self, pin: &MapPin) -> PathBuf {
        self.staging.join("m").join(&pin.relative)
    }

    /// Where aya must find or pin each map: a reused map at its pin, every
    /// other one at its staging path, where aya pins the map it creates.
    pub fn map_pin_paths(
        &mut self,
        pins: &[MapPin],
    ) -> Result<Vec<(String, PathBuf)>, TransactionError> {
        let mut paths = Vec::new();
        for pin in pins {
            let path = match pin.action {
                PinAction::Reuse | PinAction::Borrow => pin.path.clone(),
                PinAction::Create | PinAction::Replace => {
                    let staged = self.staged(pin);
                    if let Some(parent) = staged.parent() {
                        self.mkdir(parent)?;
                    }
                    staged
                }
            };
            paths.push((pin.name.clone(), path));
        }
        Ok(paths)
    }

    /// Pins records and new links, then renames the staged map pins into
    /// place, replacing old pins atomically.
    pub fn commit(
        mut self,
        ebpf: &Ebpf,
        pins: Vec<MapPin>,
        mut attachments: Vec<Attachment>,
        record: &state::LoadRecord,
    ) -> Result<Committed, TransactionError> {
        let layout = self.layout.clone();
        // (staged, final, whether a rollback removes it: not when it replaced a pin)
        let mut renames = Vec::new();
        let staged = |p: &&MapPin| matches!(p.action, PinAction::Create | PinAction::Replace);
        for pin in pins.iter().filter(staged) {
            if let Some(parent) = pin.path.parent() {
                self.mkdir(parent)?;
            }
            let new = pin.action == PinAction::Create;
            renames.push((self.staged(pin), pin.path.clone(), new));
        }

        let mut links = Vec::new();
        let mut records = Vec::new();
        for attachment in &attachments {
            let iface = &attachment.iface.name;
            self.mkdir(&layout.state(iface))?;
            // Another tool's pin is used, not recorded: unload leaves it.
            for pin in pins.iter().filter(|p| p.action != PinAction::Borrow) {
                let record = layout.records(iface).join(&pin.relative);
                let tmp = self.staging.join("r").join(iface).join(&pin.relative);
                for dir in [record.parent(), tmp.parent()].into_iter().flatten() {
                    self.mkdir(dir)?;
                }
                let map = ebpf.map(&pin.name).expect("every planned map was created");
                map.pin(&tmp).map_err(pin_err("pinning map at", &tmp))?;
                records.push((tmp, record, true));
            }
            // Which object this interface now runs, replacing the last record.
            let path = layout.load_record(iface);
            let tmp = self.staging.join("l").join(iface);
            if let Some(dir) = tmp.parent() {
                self.mkdir(dir)?;
            }
            let map = record.to_map().map_err(TransactionError::Record)?;
            map.pin(&tmp)
                .map_err(pin_err("pinning the load record at", &tmp))?;
            let new = !path.exists();
            records.push((tmp, path, new));
        }
        // Every pin gets its mode before it becomes visible where it belongs.
        for (tmp, _, _) in renames.iter().chain(&records) {
            layout
                .mode
                .apply(tmp)
                .map_err(io_err("setting the mode of", tmp))?;
        }
        // Pinned links stay held until the end: if anything below fails, the
        // rollback removes their pins and dropping them closes the last fd,
        // which detaches them.
        let mut held = Vec::new();
        for attachment in &mut attachments {
            let path = layout.link(&attachment.iface.name);
            if let Some(link) = attachment.take_link() {
                crate::sys::obj_pin(std::os::fd::AsFd::as_fd(&link), &path)
                    .map_err(io_err("pinning link at", &path))?;
                held.push(link);
                self.made.push(path.clone());
                layout
                    .mode
                    .apply(&path)
                    .map_err(io_err("setting the mode of", &path))?;
            }
            // Never report success for an attachment that dies with us.
            if !crate::bpffs::host_sees(&path) {
                return Err(TransactionError::NotOnHost { path });
            }
            links.push(path);
        }

        // Past this point nothing fails but renames within one bpffs.
        for (tmp, path, new) in renames.into_iter().chain(records) {
            fs::rename(&tmp, &path).map_err(io_err("renaming pin to", &path))?;
            if new {
                self.made.push(path);
            }
        }
        // Then the earlier load's pins this object does not have. Not before:
        // removing them empties and removes directories (an interface's
        // `<pin-dir>/<iface>/`) the new pins are about to go into.
        let mut released = Vec::new();
        let keep: HashSet<&Path> = pins.iter().map(|p| p.relative.as_path()).collect();
        for attachment in &attachments {
            released.extend(state::release_records(
                &layout,
                &attachment.iface.name,
                &keep,
            ));
        }
        let _ = fs::remove_dir_all(&self.staging);
        self.done = true;
        for attachment in &mut attachments {
            attachment.committed();
        }
        // The links are pinned now: dropping them only closes our fds.
        drop(held);
        Ok(Committed {
            pins,
            links,
            released,
        })
    }
}

impl Drop for Transaction {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        // Staged pins (aya's included) go with their directory.
        let _ = fs::remove_dir_all(&self.staging);
        for path in self.made.iter().rev() {
            let _ = fs::remove_file(path);
        }
        for dir in self.dirs.iter().rev() {
            let _ = fs::remove_dir(dir);
        }
    }
}
