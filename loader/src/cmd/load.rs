//! `xdploader -file FILE -i IF[,IF]`: the main job.
//!
//! [`prepare`] does everything that needs neither root nor the kernel
//! (read, inspect, plan, resolve interfaces), so bad input is refused before
//! anything exists to clean up. [`execute`] then loads, fills, attaches and
//! pins; until its last step commits, a failure drops everything it made.

use std::{fmt, path::PathBuf};

use serde::Serialize;

use super::{require_root, Error};
use crate::{
    attach::{self, Attachment, MapPin, PinAction, PinLayout, Transaction},
    bpffs,
    cli::LoadArgs,
    devmap::{self, DevmapPlan},
    elf::{self, ObjectSummary},
    iface::{self, Interface},
    jump_table::{self, EntryChoice, JumpTables},
    load,
    peer::{self, PeerFix},
    DEFAULT_PIN_DIR,
};

/// Everything decided before touching the kernel.
#[derive(Debug)]
pub struct Prepared {
    pub file: PathBuf,
    data: Vec<u8>,
    pub summary: ObjectSummary,
    pub entry: String,
    pub jump_tables: JumpTables,
    pub devmap: DevmapPlan,
    pub interfaces: Vec<Interface>,
}

/// Reads and inspects `file` (no root needed).
pub fn read_object(file: &std::path::Path) -> Result<(Vec<u8>, elf::Inspected), Error> {
    let data = std::fs::read(file).map_err(|e| Error::Read {
        path: file.to_owned(),
        errno: crate::errno_text(&e),
    })?;
    let inspected = elf::inspect(&data).map_err(|source| Error::Elf {
        file: file.display().to_string(),
        source,
    })?;
    Ok((data, inspected))
}

/// The entry program and jump tables, as `chain` asks.
pub fn plan_chain(
    summary: &ObjectSummary,
    chain: &crate::cli::ChainArgs,
) -> Result<(String, JumpTables), Error> {
    let choice = EntryChoice {
        prog: chain.prog.as_deref(),
        sec: chain.sec.as_deref(),
    };
    let entry = jump_table::entry_program(summary, &choice, &chain.tail)?;
    let tables = jump_table::plan(summary, &entry, chain.jmp_map.as_deref(), &chain.tail)?;
    Ok((entry, tables))
}

pub fn prepare(file: PathBuf, args: &LoadArgs) -> Result<Prepared, Error> {
    let (data, inspected) = read_object(&file)?;
    let summary = inspected.summary;
    // aya gets the rewritten object when there is one.
    let data = inspected.rewritten.unwrap_or(data);
    let (entry, jump_tables) = plan_chain(&summary, &args.chain)?;
    let interfaces = iface::resolve(&args.target.interfaces)?;
    let devmap = devmap::plan(&summary, args.devmap.as_deref(), &interfaces)?;
    Ok(Prepared {
        file,
        data,
        summary,
        entry,
        jump_tables,
        devmap,
        interfaces,
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
    pub attached: Vec<Attached>,
    /// The veth peer fix, per interface whose peer needed or got it.
    pub peers: Vec<PeerFix>,
    /// Peer fixes that failed: the program is attached, but frames it sends
    /// to that peer may be lost.
    pub peer_warnings: Vec<String>,
    /// How to undo this load, as the binary that did it was invoked (the
    /// binary fills in its own name: only it knows whether it is on the PATH).
    pub unload_command: String,
}

pub fn execute(prepared: Prepared, args: &LoadArgs) -> Result<LoadReport, Error> {
    require_root("load")?;
    let pin_dir = &args.target.pin_dir;
    bpffs::ensure_bpffs(pin_dir)?;
    // From here on our own mounts stay private. Not fatal when refused (a
    // multi-threaded caller such as a test harness): only slower.
    if bpffs::enter_private_mount_namespace().is_ok() && !prepared.summary.needs_kernel_btf {
        bpffs::hide_kernel_btf();
    }

    let layout = PinLayout::new(pin_dir);
    let pins = attach::plan_map_pins(&layout, &prepared.summary, args.fresh)?;
    let mut transaction = Transaction::begin(&layout)?;
    let map_pin_paths = transaction.map_pin_paths(&pins)?;
    let mut ebpf = load::load(&prepared.data, &prepared.summary, &map_pin_paths)?;

    jump_table::fill(&ebpf, &prepared.jump_tables)?;
    if let DevmapPlan::Fill { map, hash } = &prepared.devmap {
        devmap::fill(&mut ebpf, map, *hash, &prepared.interfaces)?;
    }

    let attachments: Vec<Attachment> = prepared
        .interfaces
        .iter()
        .map(|i| attach::attach(&mut ebpf, &prepared.entry, i, args.mode, &layout))
        .collect::<Result<_, _>>()?;
    let attached = attachments
        .iter()
        .map(|a| Attached {
            iface: a.iface.name.clone(),
            ifindex: a.iface.ifindex,
            mode: a.mode,
            replaced: a.replaced,
            native_refused: a.native_refused.clone(),
            link: layout.link(&a.iface.name),
        })
        .collect();
    let committed = transaction.commit(&ebpf, pins, attachments)?;

    // After the commit: the program is in place whatever happens to a peer.
    let (mut peers, mut peer_warnings) = (Vec::new(), Vec::new());
    if !args.no_peer_fix {
        for iface in &prepared.interfaces {
            match peer::fix(&layout, iface) {
                Ok(Some(fix)) if !fix.actions.is_empty() => peers.push(fix),
                Ok(_) => {}
                Err(e) => peer_warnings.push(format!(
                    "{}: peer fix failed, XDP_TX/REDIRECT frames to its peer may be lost: {}",
                    iface.name,
                    crate::one_line(&anyhow::Error::new(e))
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
        attached,
        peers,
        peer_warnings,
        unload_command,
    })
}

/// The object summary: maps, then programs, in file order, with where each
/// map is pinned (under `pin_dir`) and the tail calls each program makes.
#[derive(Debug)]
pub struct SummaryText<'a> {
    pub file: &'a std::path::Path,
    pub summary: &'a ObjectSummary,
    pub pin_dir: &'a std::path::Path,
}

impl fmt::Display for SummaryText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.summary;
        writeln!(
            f,
            "{}: license {}, {}, {}",
            self.file.display(),
            if s.license.is_empty() {
                "none"
            } else {
                &s.license
            },
            plural(s.programs.len(), "program"),
            plural(s.maps.len(), "map")
        )?;
        let width = s
            .maps
            .iter()
            .map(|m| m.name.len())
            .chain(s.programs.iter().map(|p| p.name.len()))
            .max()
            .unwrap_or(0);
        for m in &s.maps {
            write!(
                f,
                "  map  {:width$}  {:14} key {:<3} value {:<5} entries {:<6}",
                m.name, m.type_name, m.key_size, m.value_size, m.max_entries,
            )?;
            match &m.pin {
                None => writeln!(f, " global data, not pinned")?,
                Some(pin) => writeln!(
                    f,
                    " pin {} ({})",
                    self.pin_dir.join(&pin.path).display(),
                    pin.rule.describe()
                )?,
            }
            for declared in &m.declared_slots {
                writeln!(
                    f,
                    "  {:width$}        slot {} <- {} (declared)",
                    "", declared.slot, declared.program
                )?;
            }
        }
        for p in &s.programs {
            write!(
                f,
                "  prog {:width$}  {:14} {} insns{}",
                p.name,
                p.section,
                p.instructions,
                match (p.xdp, p.frags) {
                    (false, _) => "  (not XDP: not loaded)",
                    (true, true) => "  frags",
                    (true, false) => "",
                }
            )?;
            for call in &p.tail_calls {
                let slot = call.slot.map_or("?".to_owned(), |s| s.to_string());
                write!(
                    f,
                    "  tail-calls {}[{slot}]",
                    call.map.as_deref().unwrap_or("?")
                )?;
            }
            writeln!(f)?;
        }
        for rewrite in &s.rewritten_for_aya {
            writeln!(f, "  note: {rewrite}")?;
        }
        Ok(())
    }
}

/// Jump tables, one line each, with the rule behind every slot.
#[derive(Debug)]
pub struct JumpTablesText<'a>(pub &'a JumpTables);

impl fmt::Display for JumpTablesText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for table in &self.0.tables {
            let slots: Vec<_> = table
                .slots
                .iter()
                .map(|s| format!("{} <- {} ({})", s.slot, s.program, s.rule))
                .collect();
            writeln!(f, "jump table {}: {}", table.map, slots.join(", "))?;
        }
        for note in &self.0.notes {
            writeln!(f, "jump table: {note}")?;
        }
        Ok(())
    }
}

fn plural(n: usize, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

impl fmt::Display for LoadReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", JumpTablesText(&self.jump_tables))?;
        match &self.devmap {
            DevmapPlan::Fill { map, .. } => {
                let ifs: Vec<_> = self
                    .attached
                    .iter()
                    .map(|a| format!("{} ({})", a.iface, a.ifindex))
                    .collect();
                writeln!(f, "devmap {map}: {}", ifs.join(", "))?;
            }
            DevmapPlan::Skipped { reason } => writeln!(f, "devmap: skipped, {reason}")?,
        }
        let pins: Vec<_> = self
            .pins
            .iter()
            .map(|p| {
                let how = match p.action {
                    PinAction::Create => "new",
                    PinAction::Reuse => "reused",
                    PinAction::Replace => "replaced",
                };
                format!("{} ({how})", p.path.display())
            })
            .collect();
        writeln!(f, "pinned: {}", pins.join(", "))?;
        for path in &self.released {
            writeln!(f, "removed {} (not in this object)", path.display())?;
        }
        for a in &self.attached {
            if let Some(reason) = &a.native_refused {
                writeln!(f, "{}: native mode refused: {reason}", a.iface)?;
            }
            let verb = if a.replaced {
                "replaced the program on"
            } else {
                "attached to"
            };
            let mode = if a.replaced {
                String::new()
            } else {
                format!(" in {} mode", a.mode)
            };
            writeln!(
                f,
                "{}: {} {verb} {}{mode}, link pinned at {}",
                a.iface,
                self.entry,
                a.iface,
                a.link.display()
            )?;
        }
        for action in self.peers.iter().flat_map(|p| &p.actions) {
            writeln!(f, "peer {action}")?;
        }
        for warning in &self.peer_warnings {
            writeln!(f, "warning: {warning}")?;
        }
        writeln!(f, "detach with: {}", self.unload_command)
    }
}
