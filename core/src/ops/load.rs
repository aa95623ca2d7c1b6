//! `xdploader -file FILE -i IF[,IF]`: the main job.
//!
//! [`prepare`] does everything that needs neither root nor the kernel
//! (read, inspect, plan, resolve interfaces), so bad input is refused before
//! anything exists to clean up. [`execute`] then loads, fills, attaches and
//! pins; until its last step commits, a failure drops everything it made.
//!
//! Between the two a binary may move its process into a private mount
//! namespace (see [`crate::bpffs::isolate_mounts`]); `execute` never does
//! anything process-wide itself.

use std::path::PathBuf;

use serde::Serialize;

use super::{read_object, require_capabilities, Error};
use crate::{
    attach::{self, Attachment, Mode},
    bpffs,
    devmap::{self, DevmapPlan},
    elf::ObjectSummary,
    iface::{self, Interface},
    jump_table::{self, ChainOptions, JumpTables},
    load,
    peer::{self, PeerFix},
    state::PinLayout,
    transaction::{MapPin, Transaction},
    DEFAULT_PIN_DIR,
};

/// What to load, where, and how.
#[derive(Clone, Debug)]
pub struct LoadOptions {
    pub file: PathBuf,
    pub interfaces: Vec<String>,
    pub pin_dir: PathBuf,
    pub chain: ChainOptions,
    /// The devmap to fill with the interfaces (default: if_redirect).
    pub devmap: Option<String>,
    /// Sizes of maps the object leaves to user space (max_entries 0).
    pub max_entries: Vec<load::MaxEntries>,
    pub mode: Mode,
    /// Replace pinned maps that do not match the object instead of refusing.
    pub fresh: bool,
    /// Fix a veth's peer in native mode (pass program, tx checksum off).
    pub peer_fix: bool,
    /// How long to wait for another loader on the same pin directory.
    pub lock_wait: std::time::Duration,
    /// Permissions of the pins and directories this load makes.
    pub pin_mode: crate::state::PinMode,
    /// Replace a program another tool attached through netlink (saying so).
    pub force: bool,
}

impl LoadOptions {
    /// The options that shape what runs, as the command-line flags that give
    /// them, in a fixed order (interfaces, pin dir and file aside): two loads
    /// with the same flags and object are the same load.
    pub fn flags(&self) -> String {
        let mut flags = vec![format!("--mode {}", self.mode.name())];
        let mut push = |flag: &str, value: &Option<String>| {
            if let Some(value) = value {
                flags.push(format!("{flag} {value}"));
            }
        };
        push("--prog", &self.chain.prog);
        push("--sec", &self.chain.sec);
        push("--jmp-map", &self.chain.jmp_map);
        push("--devmap", &self.devmap);
        if self.chain.allow_empty_slots {
            flags.push("--allow-empty-slots".to_owned());
        }
        for tail in &self.chain.tail {
            let map = tail
                .map
                .as_deref()
                .map(|m| format!("{m}:"))
                .unwrap_or_default();
            flags.push(format!("--tail {map}{}={}", tail.slot, tail.program));
        }
        for size in &self.max_entries {
            flags.push(format!("--max-entries {}={}", size.map, size.entries));
        }
        if !self.peer_fix {
            flags.push("--no-peer-fix".to_owned());
        }
        flags.push(format!("--pin-mode {:04o}", self.pin_mode.pin()));
        flags.join(" ")
    }
}

/// Everything decided before touching the kernel.
#[derive(Debug)]
pub struct Prepared {
    pub file: PathBuf,
    /// What the pins will say this load came from.
    pub record: crate::state::LoadRecord,
    /// The bytes aya loads (the object, rewritten where aya needs it).
    pub(super) data: Vec<u8>,
    pub summary: ObjectSummary,
    pub entry: String,
    pub jump_tables: JumpTables,
    pub devmap: DevmapPlan,
    pub interfaces: Vec<Interface>,
    /// What this kernel lacks that the object asks for, and what the load
    /// does instead (one sentence each).
    pub degraded: Vec<String>,
}

pub fn prepare(opts: &LoadOptions) -> Result<Prepared, Error> {
    let (data, inspected) = read_object(&opts.file)?;
    let (inspected, degraded) =
        load::for_this_kernel(&data, inspected).map_err(|source| Error::Elf {
            file: opts.file.display().to_string(),
            source,
        })?;
    let degraded: Vec<String> = degraded.into_iter().collect();
    let here = crate::netns::here();
    let record = crate::state::LoadRecord {
        object: opts.file.clone(),
        sha256: sha256_hex(&data),
        entry: String::new(),
        flags: opts.flags(),
        mode: Some(opts.mode),
        applied_from: None,
        // So that `unload --all` from the host finds the namespace again.
        netns: here.name.clone().filter(|_| !here.host),
        netns_inode: (!here.host).then_some(here.inode),
    };
    let mut summary = inspected.summary;
    let kfuncs = crate::ksyms::resolve(&summary.externs);
    load::check_linkable(&summary, &kfuncs)?;
    load::size_maps(&mut summary, &opts.max_entries)?;
    // aya gets the rewritten object when there is one, its kfunc calls
    // linked for this kernel.
    let data = inspected.rewritten.unwrap_or(data);
    let data = if kfuncs.is_empty() {
        data
    } else {
        crate::elf::kfunc_link::link(&data, &kfuncs).map_err(|source| Error::Elf {
            file: opts.file.display().to_string(),
            source,
        })?
    };
    let (entry, jump_tables) = jump_table::plan_chain(&summary, &opts.chain)?;
    let interfaces = iface::resolve(&opts.interfaces)?;
    let devmap = devmap::plan(&summary, opts.devmap.as_deref(), &interfaces)?;
    let record = crate::state::LoadRecord {
        entry: entry.clone(),
        ..record
    };
    Ok(Prepared {
        record,
        file: opts.file.clone(),
        data,
        summary,
        entry,
        jump_tables,
        devmap,
        interfaces,
        degraded,
    })
}

#[derive(Debug, Serialize)]
pub struct Attached {
    pub iface: String,
    pub ifindex: u32,
    pub mode: &'static str,
    pub replaced: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub native_refused: Option<String>,
    /// What `--force` replaced.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forced: Option<String>,
    pub link: PathBuf,
}

#[derive(Debug, Serialize)]
pub struct LoadReport {
    pub file: PathBuf,
    pub summary: ObjectSummary,
    pub entry: String,
    pub jump_tables: JumpTables,
    pub devmap: DevmapPlan,
    pub pins: Vec<MapPin>,
    /// Pins of an earlier load on these interfaces that this object does not have.
    pub released: Vec<PathBuf>,
    /// What loaders that died mid-load had left, and what was done with it.
    pub cleaned: Vec<String>,
    pub attached: Vec<Attached>,
    /// The veth peer fix, per interface whose peer needed or got it.
    pub peers: Vec<PeerFix>,
    /// Peer fixes that failed: the program is attached, but frames it sends
    /// to that peer may be lost.
    pub peer_warnings: Vec<String>,
    /// What this kernel lacks, and what the load did instead.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub degraded: Vec<String>,
    /// How to undo this load, as the binary that did it was invoked (the
    /// binary fills in its own name: only it knows whether it is on the PATH).
    pub unload_command: String,
}

/// SHA-256 of `data` in hex: a changed object is a different hash.
fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Prepared {
    /// Fills the loaded object's jump tables, its maps of maps and its
    /// devmap (with the interfaces), as planned: a load's step, and a
    /// benchmark's.
    pub fn fill_tables(&self, ebpf: &aya::Ebpf) -> Result<(), Error> {
        jump_table::fill(ebpf, &self.jump_tables)?;
        crate::map_in_map::fill(ebpf, &self.summary)?;
        if let DevmapPlan::Fill { map, .. } = &self.devmap {
            let value_size = self.summary.map(map).map_or(8, |m| m.value_size);
            devmap::fill(ebpf, map, value_size, &self.interfaces)?;
        }
        Ok(())
    }

    /// Whether aya needs the kernel's BTF for this object (CO-RE relocations).
    pub fn needs_kernel_btf(&self) -> bool {
        self.summary.needs_kernel_btf
    }
}

/// Loads, fills the jump tables and the devmap, attaches and pins. The pin
/// directory must be on bpffs already ([`bpffs::ensure_bpffs`], called by the
/// binary before it isolates its mounts); else it is mounted here.
pub fn execute(prepared: Prepared, opts: &LoadOptions) -> Result<LoadReport, Error> {
    execute_unless(prepared, opts, &|| None)
}

/// [`execute`], asking `interrupted` at each step before the commit point
/// whether to stop (a binary passes "is SIGINT or SIGTERM pending"): then
/// everything made so far is undone, as for any failure, and the error is
/// [`Error::Interrupted`]. Past the commit point the load completes.
pub fn execute_unless(
    prepared: Prepared,
    opts: &LoadOptions,
    interrupted: &dyn Fn() -> Option<&'static str>,
) -> Result<LoadReport, Error> {
    let check = || match interrupted() {
        Some(signal) => Err(Error::Interrupted(signal)),
        None => Ok(()),
    };
    require_capabilities("load")?;
    let pin_dir = &opts.pin_dir;
    crate::netns::check_earlier_layout(pin_dir, &prepared.interfaces)?;
    bpffs::ensure_bpffs(pin_dir)?;
    // Held until the report is made: pins, records and the peer fix included.
    let _lock = crate::state::PinDirLock::acquire(pin_dir, opts.lock_wait)?;

    let layout = PinLayout::new(pin_dir).with_mode(opts.pin_mode);
    let mut cleaned = crate::state::clean_dead_staging(&layout);
    cleaned.extend(crate::capture::recorders::finish_dead_captures(
        &layout, true,
    ));
    attach::clean_dead_trace_instances();
    let interfaces: Vec<&str> = prepared
        .interfaces
        .iter()
        .map(|i| i.name.as_str())
        .collect();
    let pins =
        crate::transaction::plan_map_pins(&layout, &prepared.summary, opts.fresh, &interfaces)?;
    let mut transaction = Transaction::begin(&layout)?;
    let map_pin_paths = transaction.map_pin_paths(&pins)?;
    check()?;
    let mut ebpf = load::load(&prepared.data, &prepared.summary, &map_pin_paths)?;
    check()?;

    prepared.fill_tables(&ebpf)?;

    let mut attachments: Vec<Attachment> = Vec::new();
    for iface in &prepared.interfaces {
        check()?;
        attachments.push(attach::attach(
            &mut ebpf,
            &prepared.entry,
            iface,
            opts.mode,
            &layout,
            opts.force,
        )?);
    }
    // The last moment to stop: after it, the load completes.
    check()?;
    let attached = attachments
        .iter()
        .map(|a| Attached {
            iface: a.iface.name.clone(),
            ifindex: a.iface.ifindex,
            mode: a.mode,
            replaced: a.replaced,
            native_refused: a.native_refused.clone(),
            forced: a.forced.clone(),
            link: layout.link(&a.iface.name),
        })
        .collect();
    let committed = transaction.commit(&ebpf, pins, attachments, &prepared.record)?;
    crate::state::mark_made(
        &layout,
        bpffs::mounted_by_this_process(pin_dir),
        bpffs::created_by_this_process(pin_dir),
    )?;

    // After the commit: the program is in place whatever happens to a peer.
    let (mut peers, mut peer_warnings) = (Vec::new(), Vec::new());
    if opts.peer_fix {
        for iface in &prepared.interfaces {
            match peer::fix(&layout, iface) {
                Ok(Some(fix)) if !fix.actions.is_empty() => peers.push(fix),
                Ok(_) => {}
                Err(e) => peer_warnings.push(format!(
                    "{}: peer fix failed, XDP_TX/REDIRECT frames to its peer may be lost: {}",
                    iface.name,
                    crate::error_chain(&e)
                )),
            }
        }
    }

    let ifaces: Vec<&str> = prepared
        .interfaces
        .iter()
        .map(|i| i.name.as_str())
        .collect();
    let mut unload_command = format!("unload -i {}", ifaces.join(","));
    if pin_dir.as_path() != std::path::Path::new(DEFAULT_PIN_DIR) {
        unload_command.push_str(&format!(" --pin-dir {}", pin_dir.display()));
    }
    Ok(LoadReport {
        file: prepared.file,
        summary: prepared.summary,
        entry: prepared.entry,
        jump_tables: prepared.jump_tables,
        devmap: prepared.devmap,
        pins: committed.pins,
        released: committed.released,
        cleaned,
        attached,
        peers,
        peer_warnings,
        degraded: prepared.degraded,
        unload_command,
    })
}
