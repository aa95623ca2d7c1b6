//! Attaching, pinning, and undoing both.
//!
//! Pin layout under the pin directory (default /sys/fs/bpf):
//!
//! ```text
//! <pin-dir>/<map>                          every map of the object (global data excepted),
//!                                          or the path its definition names (elf::PinSpec)
//! <pin-dir>/xdploader/<iface>/link         the bpf_link that keeps the program attached
//! <pin-dir>/xdploader/<iface>/maps/<path>  a second pin of each map this load pinned,
//!                                          at the same relative path
//! <pin-dir>/xdploader/tmp-<pid>/           staging while a load runs
//! ```
//!
//! The per-interface `maps/` pins are the record `unload` works from: they
//! live in bpffs beside what they describe, vanish with it at reboot, and
//! carry the kernel's map ids, so `unload` removes `<pin-dir>/<map>` only if
//! it is still the very map we pinned and no other interface of ours uses it.
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

use aya::{
    maps::MapInfo,
    programs::{links::FdLink, links::PinnedLink, xdp::XdpLink, Xdp, XdpMode},
    Ebpf,
};
use aya_obj::generated::bpf_map_type::{
    BPF_MAP_TYPE_CPUMAP, BPF_MAP_TYPE_DEVMAP, BPF_MAP_TYPE_DEVMAP_HASH, BPF_MAP_TYPE_PROG_ARRAY,
    BPF_MAP_TYPE_XSKMAP,
};
use serde::Serialize;

use crate::{
    elf::{map_type_name, MapSummary, ObjectSummary},
    errno_text,
    iface::Interface,
};

const STATE_DIR: &str = "xdploader";

#[derive(Debug, thiserror::Error)]
pub enum AttachError {
    #[error("pinned map {path} does not match {name} in the object: {differences} (--fresh replaces it)")]
    PinMismatch {
        name: String,
        path: PathBuf,
        differences: String,
    },
    #[error("{path} exists but is not a pinned BPF map ({reason})")]
    NotAMap { path: PathBuf, reason: String },
    #[error("{iface}: {mode} XDP attach refused: {reason}")]
    Refused {
        iface: String,
        mode: &'static str,
        reason: String,
    },
    #[error("{iface}: replacing the program on the pinned link {path} failed: {reason}")]
    Replace {
        iface: String,
        path: PathBuf,
        reason: String,
    },
    #[error("{iface}: the kernel attached through netlink instead of a bpf_link (kernel older than 5.9?); xdploader needs bpf_link XDP attachments")]
    NoBpfLink { iface: String },
    #[error("{op} {path}: {errno}")]
    Pin {
        op: &'static str,
        path: PathBuf,
        errno: String,
    },
    #[error("{iface}: nothing attached by xdploader (no {path})")]
    NotLoaded { iface: String, path: PathBuf },
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> AttachError + 'a {
    move |e| AttachError::Pin {
        op,
        path: path.to_owned(),
        errno: errno_text(&e),
    }
}

fn pin_err<'a>(
    op: &'static str,
    path: &'a Path,
) -> impl FnOnce(aya::pin::PinError) -> AttachError + 'a {
    move |e| AttachError::Pin {
        op,
        path: path.to_owned(),
        errno: match &e {
            aya::pin::PinError::SyscallError(s) => errno_text(&s.io_error),
            other => other.to_string(),
        },
    }
}

/// Where things are pinned.
#[derive(Clone, Debug)]
pub struct PinLayout {
    pub dir: PathBuf,
}

impl PinLayout {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }
    /// A map's pin, from its path relative to the pin directory.
    pub fn map(&self, relative: &Path) -> PathBuf {
        self.dir.join(relative)
    }
    fn state_root(&self) -> PathBuf {
        self.dir.join(STATE_DIR)
    }
    pub fn state(&self, iface: &str) -> PathBuf {
        self.state_root().join(iface)
    }
    pub fn link(&self, iface: &str) -> PathBuf {
        self.state(iface).join("link")
    }
    fn records(&self, iface: &str) -> PathBuf {
        self.state(iface).join("maps")
    }
}

/// Attach mode as the user asks for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Native (driver) mode, and generic (skb) mode if the driver refuses.
    Auto,
    /// Native (driver) mode only.
    Native,
    /// Generic (skb) mode only.
    Skb,
}

// ---------------------------------------------------------------- map pins

/// What happens to one map's pin.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PinAction {
    /// No pin yet: pin the new map.
    Create,
    /// A matching pin exists: aya uses it, its content carries on.
    Reuse,
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
) -> Result<Vec<MapPin>, AttachError> {
    let mut pins = Vec::new();
    for map in &summary.maps {
        let Some(pin) = &map.pin else { continue };
        let path = layout.map(&pin.path);
        let action = if path.symlink_metadata().is_err() {
            PinAction::Create
        } else {
            let info = MapInfo::from_pin(&path).map_err(|e| AttachError::NotAMap {
                path: path.clone(),
                reason: e.to_string(),
            })?;
            let differences = pin_differences(map, &info);
            if rebuilt_each_load(map) || (fresh && !differences.is_empty()) {
                PinAction::Replace
            } else if differences.is_empty() {
                PinAction::Reuse
            } else {
                return Err(AttachError::PinMismatch {
                    name: map.name.clone(),
                    path,
                    differences: differences.join("; "),
                });
            }
        };
        pins.push(MapPin {
            name: map.name.clone(),
            path,
            relative: pin.path.clone(),
            action,
        });
    }
    Ok(pins)
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

// ---------------------------------------------------------------- attach

/// An interface's attachment, ready to be committed (pinned) or dropped.
#[derive(Debug)]
pub struct Attachment {
    pub iface: Interface,
    pub mode: &'static str,
    /// Set when auto mode fell back to skb: the kernel's reason for refusing native.
    pub native_refused: Option<String>,
    /// Updated in place on an existing pinned link: nothing new to pin.
    pub replaced: bool,
    /// A new link: detached if dropped before [`Transaction::commit`] pins it.
    link: Option<FdLink>,
}

impl Attachment {
    fn new_link(
        iface: &Interface,
        mode: XdpMode,
        link: FdLink,
        native_refused: Option<String>,
    ) -> Self {
        Self {
            iface: iface.clone(),
            mode: mode_name(mode),
            native_refused,
            replaced: false,
            link: Some(link),
        }
    }
}

fn mode_name(mode: XdpMode) -> &'static str {
    match mode {
        XdpMode::Skb => "skb",
        XdpMode::Driver => "native",
        XdpMode::Hardware => "offload",
        XdpMode::Default => "default",
    }
}

/// Attaches `entry` to `iface`: on our pinned link if there is one (atomic
/// program replacement, no EBUSY), else as a new bpf_link in the asked mode.
pub fn attach(
    ebpf: &mut Ebpf,
    entry: &str,
    iface: &Interface,
    mode: Mode,
    layout: &PinLayout,
) -> Result<Attachment, AttachError> {
    let prog: &mut Xdp = ebpf
        .program_mut(entry)
        .and_then(|p| p.try_into().ok())
        .expect("the entry program was loaded as XDP");

    let link_path = layout.link(&iface.name);
    if link_path.exists() {
        if let Some(attachment) = replace_on_pinned_link(prog, iface, &link_path)? {
            return Ok(attachment);
        }
    }

    let try_mode = |prog: &mut Xdp, m: XdpMode| -> Result<FdLink, io::Error> {
        let id = prog
            .attach_to_if_index(iface.ifindex, m)
            .map_err(program_io_error)?;
        let link: XdpLink = prog.take_link(id).map_err(program_io_error)?;
        // A netlink fallback cannot be pinned; dropping it detaches it.
        FdLink::try_from(link).map_err(|_| io::Error::from_raw_os_error(libc_enotsup()))
    };
    let (first, fallback) = match mode {
        Mode::Auto => (XdpMode::Driver, Some(XdpMode::Skb)),
        Mode::Native => (XdpMode::Driver, None),
        Mode::Skb => (XdpMode::Skb, None),
    };
    let refused = match try_mode(prog, first) {
        Ok(link) => return Ok(Attachment::new_link(iface, first, link, None)),
        Err(e) if e.raw_os_error() == Some(libc_enotsup()) => {
            return Err(AttachError::NoBpfLink {
                iface: iface.name.clone(),
            })
        }
        Err(e) => e,
    };
    // Ask the kernel why, by trying once more with its tracepoint listening.
    let (retry, message) = kernel_reason(|| try_mode(prog, first));
    if let Ok(link) = retry {
        return Ok(Attachment::new_link(iface, first, link, None));
    }
    let reason = describe_refusal(&refused, message.as_deref());
    match fallback {
        Some(second) => {
            let link = try_mode(prog, second).map_err(|e| AttachError::Refused {
                iface: iface.name.clone(),
                mode: mode_name(second),
                reason: describe_refusal(&e, None),
            })?;
            Ok(Attachment::new_link(iface, second, link, Some(reason)))
        }
        None => Err(AttachError::Refused {
            iface: iface.name.clone(),
            mode: mode_name(first),
            reason,
        }),
    }
}

const fn libc_enotsup() -> i32 {
    nix::errno::Errno::ENOTSUP as i32
}

fn program_io_error(e: aya::programs::ProgramError) -> io::Error {
    match e {
        aya::programs::ProgramError::SyscallError(s) => s.io_error,
        other => io::Error::other(other.to_string()),
    }
}

/// Replaces the program behind our pinned link. `Ok(None)` when the pin is
/// stale (its interface went away): the pin is removed and a fresh attach follows.
fn replace_on_pinned_link(
    prog: &mut Xdp,
    iface: &Interface,
    link_path: &Path,
) -> Result<Option<Attachment>, AttachError> {
    let replace_err = |reason: String| AttachError::Replace {
        iface: iface.name.clone(),
        path: link_path.to_owned(),
        reason,
    };
    let pinned = PinnedLink::from_pin(link_path).map_err(|e| replace_err(e.to_string()))?;
    let link = XdpLink::try_from(FdLink::from(pinned))
        .map_err(|_| replace_err("the pin is not an XDP link".into()))?;
    match prog.attach_to_link(link) {
        Ok(id) => {
            // Taking the link out of aya and dropping it as an FdLink only
            // closes our fd: the pin keeps the link, now running the new program.
            let link = prog.take_link(id).map_err(|e| replace_err(e.to_string()))?;
            drop(FdLink::try_from(link).map_err(|_| replace_err("not a bpf_link".into()))?);
            Ok(Some(Attachment {
                iface: iface.clone(),
                mode: "existing link's",
                native_refused: None,
                replaced: true,
                link: None,
            }))
        }
        Err(e) => {
            let err = program_io_error(e);
            if err.raw_os_error() == Some(nix::errno::Errno::ENOLINK as i32) {
                fs::remove_file(link_path).map_err(io_err("removing stale link pin", link_path))?;
                Ok(None)
            } else {
                Err(replace_err(describe_refusal(&err, None)))
            }
        }
    }
}

fn describe_refusal(err: &io::Error, kernel_message: Option<&str>) -> String {
    let errno = errno_text(err);
    match (kernel_message, err.raw_os_error().map(nix::errno::Errno::from_raw)) {
        (Some(msg), _) => format!("{msg} ({errno})"),
        (None, Some(nix::errno::Errno::EBUSY)) => format!(
            "another XDP program is attached, probably through netlink by another tool; detach it first (ip link set dev IFACE xdp off) ({errno})"
        ),
        (None, _) => errno,
    }
}

/// Runs `attempt` with the kernel's `xdp:bpf_xdp_link_attach_failed`
/// tracepoint enabled in a tracefs instance of our own, and returns the
/// message the kernel gave for the failure, e.g. "veth: Peer MTU is too large
/// to set XDP". Netlink would carry it in the extended ack; for bpf_link
/// attachments this tracepoint is the only place the kernel says it.
fn kernel_reason<T>(
    attempt: impl FnOnce() -> Result<T, io::Error>,
) -> (Result<T, io::Error>, Option<String>) {
    struct Instance(PathBuf);
    impl Drop for Instance {
        fn drop(&mut self) {
            // rmdir of an instance removes it with its buffers and events.
            let _ = fs::remove_dir(&self.0);
        }
    }
    let instance = crate::bpffs::tracefs().and_then(|root| {
        let dir = root
            .join("instances")
            .join(format!("xdploader-{}", std::process::id()));
        fs::create_dir(&dir).ok()?;
        let instance = Instance(dir);
        fs::write(
            instance
                .0
                .join("events/xdp/bpf_xdp_link_attach_failed/enable"),
            "1",
        )
        .ok()?;
        Some(instance)
    });
    let result = attempt();
    let message = instance.as_ref().and_then(|i| {
        let trace = fs::read_to_string(i.0.join("trace")).ok()?;
        trace
            .lines()
            .filter_map(|l| l.split_once("errmsg=").map(|(_, m)| m.trim().to_owned()))
            .rfind(|m| !m.is_empty())
    });
    (result, message)
}

// ---------------------------------------------------------------- commit

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
    pub fn begin(layout: &PinLayout) -> Result<Self, AttachError> {
        let staging = layout
            .state_root()
            .join(format!("tmp-{}", std::process::id()));
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

    fn mkdir(&mut self, dir: &Path) -> Result<(), AttachError> {
        if !dir.exists() {
            if let Some(parent) = dir.parent() {
                self.mkdir(parent)?;
            }
            fs::create_dir(dir).map_err(io_err("creating", dir))?;
            self.dirs.push(dir.to_owned());
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
    ) -> Result<Vec<(String, PathBuf)>, AttachError> {
        let mut paths = Vec::new();
        for pin in pins {
            let path = match pin.action {
                PinAction::Reuse => pin.path.clone(),
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
    ) -> Result<Committed, AttachError> {
        let layout = self.layout.clone();
        // (staged, final, whether a rollback removes it: not when it replaced a pin)
        let mut renames = Vec::new();
        for pin in pins.iter().filter(|p| p.action != PinAction::Reuse) {
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
            for pin in &pins {
                let record = layout.records(iface).join(&pin.relative);
                let tmp = self.staging.join("r").join(iface).join(&pin.relative);
                for dir in [record.parent(), tmp.parent()].into_iter().flatten() {
                    self.mkdir(dir)?;
                }
                let map = ebpf.map(&pin.name).expect("every planned map was created");
                map.pin(&tmp).map_err(pin_err("pinning map at", &tmp))?;
                records.push((tmp, record, true));
            }
        }
        // Pinned links stay held until the end: if anything below fails, the
        // rollback removes their pins and dropping them closes the last fd,
        // which detaches them.
        let mut held = Vec::new();
        for attachment in &mut attachments {
            let path = layout.link(&attachment.iface.name);
            if let Some(link) = attachment.link.take() {
                held.push(link.pin(&path).map_err(pin_err("pinning link at", &path))?);
                self.made.push(path.clone());
            }
            links.push(path);
        }

        // Past this point nothing fails but renames within one bpffs.
        let mut released = Vec::new();
        let keep: HashSet<&Path> = pins.iter().map(|p| p.relative.as_path()).collect();
        for attachment in &attachments {
            released.extend(release_records(&layout, &attachment.iface.name, &keep));
        }
        for (tmp, path, new) in renames.into_iter().chain(records) {
            fs::rename(&tmp, &path).map_err(io_err("renaming pin to", &path))?;
            if new {
                self.made.push(path);
            }
        }
        let _ = fs::remove_dir_all(&self.staging);
        self.done = true;
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

// ---------------------------------------------------------------- unload

fn map_id(path: &Path) -> Option<u32> {
    MapInfo::from_pin(path).ok().map(|i| i.id())
}

/// The pins under `dir`, as paths relative to it (records mirror the
/// pin directory, subdirectories included).
fn pins_under(dir: &Path) -> Vec<PathBuf> {
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

/// Ids recorded by every interface of ours except `iface`.
fn ids_recorded_elsewhere(layout: &PinLayout, iface: &str) -> HashSet<u32> {
    let Ok(entries) = fs::read_dir(layout.state_root()) else {
        return HashSet::new();
    };
    entries
        .flatten()
        .filter(|e| e.file_name() != iface && !e.file_name().to_string_lossy().starts_with("tmp-"))
        .flat_map(|e| {
            let records = e.path().join("maps");
            pins_under(&records)
                .into_iter()
                .filter_map(move |r| map_id(&records.join(r)))
        })
        .collect()
}

/// Drops `iface`'s records for maps not in `keep`, removing the map's pin in
/// the pin directory when it is still the map we recorded and no other
/// interface of ours records it. Returns the pins removed.
fn release_records(layout: &PinLayout, iface: &str, keep: &HashSet<&Path>) -> Vec<PathBuf> {
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

/// The interfaces xdploader holds an XDP link on under `layout`, with the
/// ifindex the kernel has for each link. Unreadable records are skipped: this
/// only names things.
pub fn attached_interfaces(layout: &PinLayout) -> Vec<Interface> {
    let Ok(entries) = fs::read_dir(layout.state_root()) else {
        return Vec::new();
    };
    let mut found: Vec<_> = entries
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let link = crate::sys::obj_get(&layout.link(&name), false).ok()?;
            let ifindex = crate::sys::xdp_link_ifindex(std::os::fd::AsFd::as_fd(&link)).ok()??;
            Some(Interface { name, ifindex })
        })
        .collect();
    found.sort_by(|a, b| a.name.cmp(&b.name));
    found
}

#[derive(Debug, Serialize)]
pub struct Unloaded {
    pub iface: String,
    pub link: PathBuf,
    pub removed: Vec<PathBuf>,
}

/// Detaches what xdploader attached to `iface` (by removing the link pin) and
/// removes the map pins that load made, unless another interface still uses them.
pub fn unload(layout: &PinLayout, iface: &str) -> Result<Unloaded, AttachError> {
    let state = layout.state(iface);
    if !state.is_dir() {
        return Err(AttachError::NotLoaded {
            iface: iface.to_owned(),
            path: state,
        });
    }
    let link = layout.link(iface);
    match fs::remove_file(&link) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err("removing", &link)(e)),
    }
    let removed = release_records(layout, iface, &HashSet::new());
    for dir in [layout.records(iface), state, layout.state_root()] {
        // The state root stays while another interface still has a record.
        let _ = fs::remove_dir(dir);
    }
    Ok(Unloaded {
        iface: iface.to_owned(),
        link,
        removed,
    })
}
