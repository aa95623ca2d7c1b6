//! Putting recorders into a running chain and taking them out again.
//!
//! Installed stages first, then the entry; undone entry first, then the
//! stages: every frame the capture reports was seen whole. Undoing reads
//! what the kernel holds, not what this process remembers, so the same
//! code undoes a capture that was SIGKILLed: each recorder keeps the real
//! program in its own `capture_target`, which keeps that program alive.

use std::{
    fs,
    os::fd::{AsFd as _, AsRawFd as _, OwnedFd},
    path::PathBuf,
    time::{Duration, SystemTime},
};

use aya::{
    maps::{MapData, PerCpuArray, RingBuf},
    programs::Xdp,
    Ebpf, EbpfLoader,
};
use serde::{Deserialize, Serialize};

use super::{discover, program_info, slots_of, tail_calls_with_recorders, Chain, MAX_TAIL_CALLS};
use crate::{
    state::{self, PinDirLock, PinLayout},
    sys,
};

/// kern/xdp_capture.elf, built by build.rs.
const OBJECT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/xdp_capture.elf"));
/// Every recorder's name starts so (kernel names keep 15 characters).
const RECORDER_PREFIX: &str = "xdpcap_";
const TARGET_MAP: &str = "capture_target";
/// The largest snap length kern/xdp_capture.c keeps (CAPTURE_MAX).
pub const MAX_SNAPLEN: u32 = 4096;
/// How long install and undo wait for a load on the same pin directory.
const LOCK_WAIT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("{iface}: nothing attached by xdploader under {pin_dir} (no {link}): capture sees the chains xdploader loads; for another tool's program, xdpdump -i {iface} captures its entry")]
    NotOurs {
        iface: String,
        pin_dir: PathBuf,
        link: PathBuf,
    },
    #[error("{iface}: a capture is already running (pid {pid}, since {since})")]
    Running {
        iface: String,
        pid: u32,
        since: String,
    },
    #[error("{iface}: stage {stage} can tail-call itself again through its prog arrays: recorders would halve the {MAX_TAIL_CALLS} tail calls such a loop may make, so the capture is refused and nothing changed")]
    Loop { iface: String, stage: String },
    #[error("{iface}: a frame can make {depth} tail calls through this chain; with recorders it would make {with}, over the kernel's {MAX_TAIL_CALLS}: the capture is refused and nothing changed")]
    TooLong {
        iface: String,
        depth: usize,
        with: usize,
    },
    #[error("{iface}: the link runs a capture recorder whose real entry program is gone (its target array was emptied): load the object again (xdploader load) to replace it")]
    Orphaned { iface: String },
    #[error("--snaplen {0}: give 1 to {MAX_SNAPLEN} bytes")]
    Snaplen(u32),
    #[error("loading the recorder for {stage}")]
    Load {
        stage: String,
        #[source]
        source: aya::EbpfError,
    },
    #[error("verifying the recorder for {stage}")]
    Program {
        stage: String,
        #[source]
        source: aya::programs::ProgramError,
    },
    #[error("{op} for {stage}")]
    Kernel {
        op: &'static str,
        stage: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the capture's maps")]
    Map(#[source] aya::maps::MapError),
    #[error(transparent)]
    State(#[from] state::StateError),
}

/// Who runs a capture, kept beside its pins: what `status` shows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaptureRecord {
    pub pid: u32,
    /// Seconds since the epoch.
    pub since: u64,
    pub snaplen: u32,
    pub stages: usize,
}

impl CaptureRecord {
    pub fn read(layout: &PinLayout, iface: &str) -> Option<Self> {
        state::read_json_record(&layout.capture(iface).join("record"))
    }

    /// Whether its process still runs (a zombie, killed and not yet
    /// reaped, does not).
    pub fn alive(&self) -> bool {
        if self.pid == std::process::id() {
            return true;
        }
        fs::read_to_string(format!("/proc/{}/stat", self.pid)).is_ok_and(|stat| {
            // "pid (comm) S ...": the state follows the last ')'.
            stat.rsplit_once(')')
                .is_some_and(|(_, rest)| !rest.trim_start().starts_with(['Z', 'X']))
        })
    }

    pub fn since_text(&self) -> String {
        humantime::format_rfc3339_seconds(SystemTime::UNIX_EPOCH + Duration::from_secs(self.since))
            .to_string()
    }
}

/// The recorders of a running capture. Dropping it undoes the capture.
pub struct Recorders {
    layout: PinLayout,
    iface: String,
    pub chain: Chain,
    pub ring: RingBuf<MapData>,
    lost: PerCpuArray<MapData, u64>,
    /// Keeps the recorders' maps open until the capture is undone.
    _loaded: Vec<Ebpf>,
    entry_recorder: u32,
    link: OwnedFd,
    undone: bool,
}

/// One loaded recorder and the program id it runs as.
struct Loaded {
    ebpf: Ebpf,
    /// Which of the twins it is (plain or xdp.frags).
    program: String,
    prog_id: u32,
    fd: OwnedFd,
}

impl std::fmt::Debug for Recorders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorders")
            .field("iface", &self.iface)
            .field("chain", &self.chain)
            .field("entry_recorder", &self.entry_recorder)
            .finish_non_exhaustive()
    }
}

impl Recorders {
    /// Records the ring had no room for, so far (all CPUs).
    pub fn lost(&self) -> u64 {
        self.lost
            .get(&0, 0)
            .map(|per_cpu| per_cpu.iter().sum())
            .unwrap_or(0)
    }

    /// Whether the interface's link still runs this capture's entry
    /// recorder: a reload or unload replaced it otherwise.
    pub fn still_attached(&self) -> bool {
        sys::link_facts(self.link.as_fd()).is_ok_and(|f| f.prog_id == self.entry_recorder)
    }

    /// Puts the real programs back; what it did, one line each. The ring
    /// stays readable: what ran before the undo is read after it.
    pub fn undo(&mut self) -> Result<Vec<String>, CaptureError> {
        self.undone = true;
        undo(&self.layout, &self.iface)
    }
}

impl Drop for Recorders {
    fn drop(&mut self) {
        if !self.undone {
            let _ = undo(&self.layout, &self.iface);
        }
    }
}

/// Puts recorders into the chain running on `iface`'s pinned link.
pub fn install(layout: &PinLayout, iface: &str, snaplen: u32) -> Result<Recorders, CaptureError> {
    if !(1..=MAX_SNAPLEN).contains(&snaplen) {
        return Err(CaptureError::Snaplen(snaplen));
    }
    let link_path = layout.link(iface);
    let not_ours = || CaptureError::NotOurs {
        iface: iface.to_owned(),
        pin_dir: layout.dir.clone(),
        link: link_path.clone(),
    };
    let link = sys::obj_get(&link_path, false).map_err(|_| not_ours())?;
    let _lock = PinDirLock::acquire(&layout.dir, LOCK_WAIT)?;
    if let Some(running) = CaptureRecord::read(layout, iface) {
        if running.alive() {
            return Err(CaptureError::Running {
                iface: iface.to_owned(),
                pid: running.pid,
                since: running.since_text(),
            });
        }
    }
    // A capture that died (SIGKILL) is undone before a new one starts.
    undo_locked(layout, iface)?;
    let facts = sys::link_facts(link.as_fd()).map_err(|source| CaptureError::Kernel {
        op: "reading the pinned link",
        stage: iface.to_owned(),
        source,
    })?;
    let chain = discover(facts.prog_id, |_| None);
    match chain.longest_path {
        None => {
            return Err(CaptureError::Loop {
                iface: iface.to_owned(),
                stage: chain
                    .stages
                    .first()
                    .map_or_else(|| chain.entry_name.clone(), super::Stage::label),
            })
        }
        Some(depth) if tail_calls_with_recorders(depth) > MAX_TAIL_CALLS => {
            return Err(CaptureError::TooLong {
                iface: iface.to_owned(),
                depth,
                with: tail_calls_with_recorders(depth),
            })
        }
        Some(_) => {}
    }
    let dir = layout.capture(iface);
    fs::create_dir_all(&dir).map_err(state::StateError::io("creating", &dir))?;
    let record = CaptureRecord {
        pid: std::process::id(),
        since: SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        snaplen,
        stages: chain.stages.len(),
    };
    let installed = (|| {
        let record_map = state::json_record_map(&record, "xdpcap_record")?;
        record_map
            .pin(dir.join("record"))
            .map_err(|e| state::StateError::Record(e.to_string()))?;
        let loaded = put_stage_recorders(&dir, &chain, snaplen)?;
        let real = sys::prog_fd_by_id(chain.entry_id).map_err(|source| CaptureError::Kernel {
            op: "opening the entry program",
            stage: chain.entry_name.clone(),
            source,
        })?;
        let entry = load_recorder(&dir, "xdpcap_entry", 0, snaplen, &real, &chain.entry_name)?;
        sys::link_update(link.as_fd(), entry.fd.as_fd()).map_err(|source| {
            CaptureError::Kernel {
                op: "running the entry recorder on the link",
                stage: chain.entry_name.clone(),
                source,
            }
        })?;
        Ok::<_, CaptureError>((loaded, entry))
    })();
    let (loaded, mut entry) = match installed {
        Ok(done) => done,
        Err(e) => {
            let _ = undo_locked(layout, iface);
            return Err(e);
        }
    };
    let ring = take_map(&mut entry.ebpf, "capture_records")
        .and_then(|m| RingBuf::try_from(m).map_err(CaptureError::Map))?;
    let lost = take_map(&mut entry.ebpf, "capture_lost")
        .and_then(|m| PerCpuArray::try_from(m).map_err(CaptureError::Map))?;
    let entry_recorder = entry.prog_id;
    let mut kept: Vec<Ebpf> = loaded.into_iter().map(|l| l.ebpf).collect();
    kept.push(entry.ebpf);
    Ok(Recorders {
        layout: layout.clone(),
        iface: iface.to_owned(),
        chain,
        ring,
        lost,
        _loaded: kept,
        entry_recorder,
        link,
        undone: false,
    })
}

/// One of the recorder object's maps, taken out of it.
fn take_map(ebpf: &mut Ebpf, name: &str) -> Result<aya::maps::Map, CaptureError> {
    ebpf.take_map(name).ok_or_else(|| {
        CaptureError::Map(aya::maps::MapError::InvalidName {
            name: name.to_owned(),
        })
    })
}

/// A recorder in every slot of `chain`, each forwarding to the stage it replaced.
fn put_stage_recorders(
    dir: &std::path::Path,
    chain: &Chain,
    snaplen: u32,
) -> Result<Vec<Loaded>, CaptureError> {
    let mut loaded = Vec::new();
    for stage in &chain.stages {
        let label = stage.label();
        let real = sys::prog_fd_by_id(stage.prog_id).map_err(|source| CaptureError::Kernel {
            op: "opening the stage's program",
            stage: label.clone(),
            source,
        })?;
        let recorder = load_recorder(dir, "xdpcap_stage", stage.number, snaplen, &real, &label)?;
        let map = aya::maps::MapInfo::from_id(stage.map_id)
            .and_then(|m| m.fd())
            .map_err(CaptureError::Map)?;
        sys::map_update(
            map.as_fd(),
            &stage.slot.to_ne_bytes(),
            &(recorder.fd.as_raw_fd() as u32).to_ne_bytes(),
        )
        .map_err(|source| CaptureError::Kernel {
            op: "putting the recorder in its slot",
            stage: label.clone(),
            source,
        })?;
        loaded.push(recorder);
    }
    Ok(loaded)
}

/// Recorders in a chain that is loaded but attached nowhere (`xdploader
/// bench --capture`): one in every slot, and an entry recorder to run in
/// the entry's place. Dropped with the chain's maps.
pub struct Unattached {
    entry: Ebpf,
    program: String,
    _stages: Vec<Ebpf>,
    ring: RingBuf<MapData>,
    pub stages: usize,
}

impl std::fmt::Debug for Unattached {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Unattached")
            .field("stages", &self.stages)
            .finish_non_exhaustive()
    }
}

impl Unattached {
    /// The entry recorder, to run instead of the entry, and the ring its
    /// records go to.
    pub fn entry_and_ring(&mut self) -> (Option<&Xdp>, &mut RingBuf<MapData>) {
        let entry = self
            .entry
            .program(&self.program)
            .and_then(|p| p.try_into().ok());
        (entry, &mut self.ring)
    }
}

/// [`Unattached`] recorders for the chain of entry program `entry_id`, their
/// shared maps pinned in `dir` (a scratch bpffs directory).
pub fn install_unattached(
    dir: &std::path::Path,
    entry_id: u32,
    snaplen: u32,
) -> Result<Unattached, CaptureError> {
    fs::create_dir_all(dir).map_err(state::StateError::io("creating", dir))?;
    let chain = discover(entry_id, |_| None);
    let stages = put_stage_recorders(dir, &chain, snaplen)?;
    let real = sys::prog_fd_by_id(entry_id).map_err(|source| CaptureError::Kernel {
        op: "opening the entry program",
        stage: chain.entry_name.clone(),
        source,
    })?;
    let mut entry = load_recorder(dir, "xdpcap_entry", 0, snaplen, &real, &chain.entry_name)?;
    let ring = take_map(&mut entry.ebpf, "capture_records")
        .and_then(|m| RingBuf::try_from(m).map_err(CaptureError::Map))?;
    Ok(Unattached {
        entry: entry.ebpf,
        program: entry.program,
        _stages: stages.into_iter().map(|l| l.ebpf).collect(),
        ring,
        stages: chain.stages.len(),
    })
}

/// Loads one recorder whose `capture_target` holds `real`: the plain one,
/// or its xdp.frags twin where the real program has frags (a prog array
/// takes only programs whose frags flag matches its owner's: EINVAL).
fn load_recorder(
    dir: &std::path::Path,
    name: &str,
    stage: u16,
    snaplen: u32,
    real: &OwnedFd,
    label: &str,
) -> Result<Loaded, CaptureError> {
    let frags_name = format!("{name}_mb");
    let mut last = None;
    for program in [name, frags_name.as_str()] {
        if program == frags_name && !sys::xdp_frags_supported() {
            break;
        }
        let mut ebpf = EbpfLoader::new()
            .default_map_pin_directory(dir)
            .override_global("stage_id", &stage, true)
            .override_global("snaplen", &snaplen, true)
            .load(OBJECT)
            .map_err(|source| CaptureError::Load {
                stage: label.to_owned(),
                source,
            })?;
        let xdp: &mut Xdp = ebpf
            .program_mut(program)
            .and_then(|p| p.try_into().ok())
            .ok_or_else(|| CaptureError::Program {
                stage: label.to_owned(),
                source: aya::programs::ProgramError::NotLoaded,
            })?;
        xdp.load().map_err(|source| CaptureError::Program {
            stage: label.to_owned(),
            source,
        })?;
        let info = xdp.info().map_err(|source| CaptureError::Program {
            stage: label.to_owned(),
            source,
        })?;
        let fd = sys::prog_fd_by_id(info.id()).map_err(|source| CaptureError::Kernel {
            op: "opening the recorder",
            stage: label.to_owned(),
            source,
        })?;
        let target = ebpf
            .map_mut(TARGET_MAP)
            .and_then(|m| match m {
                aya::maps::Map::ProgramArray(data) => Some(data),
                _ => None,
            })
            .ok_or_else(|| {
                CaptureError::Map(aya::maps::MapError::InvalidName {
                    name: TARGET_MAP.into(),
                })
            })?;
        match sys::map_update(
            target.fd().as_fd(),
            &0u32.to_ne_bytes(),
            &(real.as_raw_fd() as u32).to_ne_bytes(),
        ) {
            Ok(()) => {
                // Pinned, because the kernel empties a prog array when its
                // last file descriptor closes: a killed capture would leave
                // recorders that tail-call nothing (every frame aborted).
                let pin = dir.join(format!("target-{stage}"));
                target.pin(&pin).map_err(|e| CaptureError::Kernel {
                    op: "pinning the recorder's target",
                    stage: label.to_owned(),
                    source: std::io::Error::other(e.to_string()),
                })?;
                return Ok(Loaded {
                    program: program.to_owned(),
                    prog_id: info.id(),
                    fd,
                    ebpf,
                });
            }
            Err(e) if e.raw_os_error() == Some(nix::libc::EINVAL) => last = Some(e),
            Err(e) => {
                return Err(CaptureError::Kernel {
                    op: "giving the recorder its stage",
                    stage: label.to_owned(),
                    source: e,
                })
            }
        }
    }
    Err(CaptureError::Kernel {
        op: "giving the recorder its stage (its type, JIT or frags flag differ)",
        stage: label.to_owned(),
        source: last.unwrap_or_else(|| std::io::Error::from_raw_os_error(nix::libc::EINVAL)),
    })
}

/// How long the recorders' targets stay filled after they are swapped out.
const GRACE: Duration = Duration::from_millis(50);

/// Whether a program is one of our recorders, by its name.
fn is_recorder(prog_id: u32) -> bool {
    program_info(prog_id)
        .and_then(|p| p.name_as_str().map(|n| n.starts_with(RECORDER_PREFIX)))
        .unwrap_or(false)
}

/// The real program a recorder of ours tail-calls, by id; None for any
/// other program.
pub fn real_program(prog_id: u32) -> Option<u32> {
    let info = program_info(prog_id)?;
    if !info.name_as_str()?.starts_with(RECORDER_PREFIX) {
        return None;
    }
    let target = info
        .map_ids()
        .ok()
        .flatten()?
        .into_iter()
        .filter_map(|id| aya::maps::MapInfo::from_id(id).ok())
        .find(|m| m.name_as_str() == Some(TARGET_MAP))?;
    slots_of(&target).first().map(|(_, id)| *id)
}

/// Takes the recorders of `iface`'s capture out, whoever put them there (a
/// running capture, one that was killed), under the pin directory's lock.
pub fn undo(layout: &PinLayout, iface: &str) -> Result<Vec<String>, CaptureError> {
    let _lock = PinDirLock::acquire(&layout.dir, LOCK_WAIT)?;
    undo_locked(layout, iface)
}

/// [`undo`] for a caller that holds the pin directory's lock (load, unload).
pub fn undo_locked(layout: &PinLayout, iface: &str) -> Result<Vec<String>, CaptureError> {
    let mut done = Vec::new();
    let kernel = |op, stage: &str| {
        let stage = stage.to_owned();
        move |source| CaptureError::Kernel { op, stage, source }
    };
    if let Ok(link) = sys::obj_get(&layout.link(iface), false) {
        let running =
            sys::link_facts(link.as_fd()).map_err(kernel("reading the pinned link", iface))?;
        let entry = real_program(running.prog_id);
        if entry.is_none() && is_recorder(running.prog_id) {
            return Err(CaptureError::Orphaned {
                iface: iface.to_owned(),
            });
        }
        let entry_id = entry.unwrap_or(running.prog_id);
        if let Some(real) = entry {
            let fd =
                sys::prog_fd_by_id(real).map_err(kernel("opening the entry program", iface))?;
            sys::link_update(link.as_fd(), fd.as_fd())
                .map_err(kernel("putting the entry program back on the link", iface))?;
            done.push(format!(
                "{iface}: {} back on the link",
                super::program_name(real)
            ));
        }
        // Stages after the entry: a frame that started with the recorder
        // entry still finds recorders that forward it.
        let chain = discover(entry_id, real_program);
        for stage in &chain.stages {
            let Ok(map) = aya::maps::MapInfo::from_id(stage.map_id) else {
                continue;
            };
            let holds = slots_of(&map)
                .into_iter()
                .find(|(slot, _)| *slot == stage.slot)
                .map(|(_, id)| id);
            let Some(recorder) = holds.filter(|id| *id != stage.prog_id) else {
                continue;
            };
            if real_program(recorder) != Some(stage.prog_id) {
                continue;
            }
            let fd = sys::prog_fd_by_id(stage.prog_id)
                .map_err(kernel("opening the stage's program", &stage.label()))?;
            let map_fd = map.fd().map_err(CaptureError::Map)?;
            sys::map_update(
                map_fd.as_fd(),
                &stage.slot.to_ne_bytes(),
                &(fd.as_raw_fd() as u32).to_ne_bytes(),
            )
            .map_err(kernel("putting the stage back in its slot", &stage.label()))?;
            done.push(format!("{iface}: {} back in its slot", stage.label()));
        }
    }
    let dir = layout.capture(iface);
    if dir.is_dir() {
        if !done.is_empty() {
            // A frame already inside a recorder when it was swapped out
            // still tail-calls through the target the pins keep filled;
            // XDP runs a frame in microseconds, within one RCU read section.
            std::thread::sleep(GRACE);
        }
        for entry in fs::read_dir(&dir).into_iter().flatten().flatten() {
            let _ = fs::remove_file(entry.path());
        }
        fs::remove_dir(&dir).map_err(state::StateError::io("removing", &dir))?;
    }
    Ok(done)
}

/// Undoes the captures under `layout` whose process is gone (SIGKILL): for
/// every command that touches the pin directory, so that no recorder
/// outlives its reader. `lock_held`: the caller holds the pin directory's
/// lock (load, unload). What it did, one line each.
pub fn finish_dead_captures(layout: &PinLayout, lock_held: bool) -> Vec<String> {
    state::recorded_interfaces(layout)
        .into_iter()
        .filter(|iface| layout.capture(iface).is_dir())
        .filter(|iface| !CaptureRecord::read(layout, iface).is_some_and(|r| r.alive()))
        .flat_map(|iface| {
            let undone = if lock_held {
                undo_locked(layout, &iface)
            } else {
                undo(layout, &iface)
            };
            match undone {
                Ok(done) => done
                    .into_iter()
                    .map(|line| format!("{line} (the capture that put recorders there is gone)"))
                    .collect(),
                Err(e) => vec![format!(
                    "{iface}: a dead capture's recorders are still in place: {}",
                    crate::error_chain(&e)
                )],
            }
        })
        .collect()
}
