//! `xdploader status [-i IF] [--all-netns]`: every interface with an XDP
//! program, and for ours what the pin directory says of it: the object it
//! came from, its pins, its jump tables' slots, the peer fix in force.

use std::{collections::HashMap, os::fd::AsFd as _, path::PathBuf};

use aya::programs::ProgramInfo;
use serde::Serialize;

use super::Error;
use crate::{
    iface,
    netdev::{self, XdpMode},
    state::{self, LoadRecord, PinLayout},
    sys,
};

#[derive(Clone, Debug)]
pub struct StatusOptions {
    /// Only these interfaces (all with an XDP program when empty).
    pub interfaces: Vec<String>,
    pub pin_dir: PathBuf,
    /// Every network namespace that `ip netns` or a process names.
    pub all_netns: bool,
}

#[derive(Debug, Serialize)]
pub struct StatusReport {
    pub interfaces: Vec<InterfaceStatus>,
    /// What loaders that died mid-load left, completed or undone now (or
    /// named, where the pin directory's lock could not be had).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cleaned_up: Vec<String>,
    /// Loads of ours that this report's interfaces do not show: in the
    /// other namespaces' pin directories below this one (`netns-*`,
    /// crate::netns; without --all-netns), and, in any pin directory, those
    /// whose interface is gone.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub elsewhere: Vec<NamespacePins>,
}

#[derive(Debug, Serialize)]
pub struct NamespacePins {
    pub pin_dir: PathBuf,
    /// Interfaces whose link is attached (in that namespace).
    pub running: Vec<String>,
    /// Interfaces whose link is attached to nothing: gone with their
    /// namespace; `unload --all` removes their pins.
    pub gone: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct InterfaceStatus {
    pub iface: String,
    pub ifindex: u32,
    /// `netns NAME` or a process's namespace path; None for this one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub netns: Option<String>,
    pub mode: XdpMode,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prog_id: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prog_name: Option<String>,
    /// Whether the program runs on a link xdploader pinned under the pin dir.
    pub ours: bool,
    /// The program is the veth peer fix xdploader attached for this interface.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peer_fix_of: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub load: Option<LoadRecord>,
    /// Seconds since the epoch at which the running program was loaded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub loaded_at: Option<u64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pins: Vec<PathBuf>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub jump_tables: Vec<JumpTableStatus>,
    /// The maps of maps the running program uses, slot by slot.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub maps_of_maps: Vec<crate::map_in_map::MapOfMapsStatus>,
    /// The veth peer fix in force: one line per thing it changed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub peer_fix: Vec<String>,
    /// An `xdploader capture` running on the interface: who, since when.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capture: Option<crate::capture::recorders::CaptureRecord>,
}

/// A prog array the running program uses, slot by slot.
#[derive(Debug, Serialize)]
pub struct JumpTableStatus {
    pub map: String,
    pub map_id: u32,
    pub slots: Vec<SlotStatus>,
}

#[derive(Debug, Serialize)]
pub struct SlotStatus {
    pub slot: u32,
    pub prog_id: u32,
    pub prog_name: String,
}

pub fn run(opts: &StatusOptions) -> Result<StatusReport, Error> {
    for name in &opts.interfaces {
        iface::validate_name(name)?;
    }
    if !opts.all_netns {
        // An interface that is not here: one line and exit 1, not "nothing attached".
        iface::resolve(&opts.interfaces)?;
    }
    let layout = PinLayout::new(&opts.pin_dir);
    // Before anything is read: a dead load's running jump table must not
    // stay pinned only in its staging directory until the next load.
    let mut cleaned_up = state::finish_dead_loads(&layout, std::time::Duration::from_secs(2));
    cleaned_up.extend(crate::capture::recorders::finish_dead_captures(
        &layout, false,
    ));
    // This pin directory's and the namespaces' below it (where loads in
    // other namespaces pin by default).
    let layouts: Vec<PinLayout> = std::iter::once(layout.clone())
        .chain(
            crate::netns::namespace_pin_dirs(&opts.pin_dir)
                .into_iter()
                .map(PinLayout::new),
        )
        .collect();
    // Program id → interface and its pin directory, for our links and the
    // peer fix's pass programs.
    let by_program = |which| -> HashMap<u32, (String, PinLayout)> {
        layouts
            .iter()
            .flat_map(|layout| {
                state::pinned_links(layout, which)
                    .into_iter()
                    .map(move |(name, facts)| (facts.prog_id, (name, layout.clone())))
            })
            .collect()
    };
    let elsewhere = layouts
        .iter()
        .enumerate()
        .filter_map(|(i, layout)| {
            let mut pins = namespace_pins(layout)?;
            // Running here, or shown by --all-netns: listed as interfaces.
            if i == 0 || opts.all_netns {
                pins.running.clear();
            }
            (!pins.running.is_empty() || !pins.gone.is_empty()).then_some(pins)
        })
        .collect();
    let known = Known {
        ours: by_program(PinLayout::link),
        peer_fixes: by_program(PinLayout::peer_link)
            .into_iter()
            .map(|(id, (name, _))| (id, name))
            .collect(),
        programs: aya::programs::loaded_programs()
            .flatten()
            .map(|p| (p.id(), p))
            .collect(),
    };
    let mut interfaces = here(opts, &known, None)?;
    if opts.all_netns {
        for ns in netdev::all_netns() {
            let found =
                netdev::with_thread_in_netns(Some(&ns), || here(opts, &known, Some(&ns.label)))?;
            interfaces.extend(found);
        }
    }
    Ok(StatusReport {
        interfaces,
        cleaned_up,
        elsewhere,
    })
}

/// What a pin directory holds of ours, if anything.
fn namespace_pins(layout: &PinLayout) -> Option<NamespacePins> {
    let mut running = Vec::new();
    let mut gone = Vec::new();
    for (name, facts) in state::pinned_links(layout, PinLayout::link) {
        if matches!(facts.xdp_ifindex, None | Some(0)) {
            gone.push(name);
        } else {
            running.push(name);
        }
    }
    (!running.is_empty() || !gone.is_empty()).then(|| NamespacePins {
        pin_dir: layout.dir.clone(),
        running,
        gone,
    })
}

/// What is known of the programs, whichever namespace they run in.
struct Known {
    /// Program id → the interface whose link pin runs it, and where.
    ours: HashMap<u32, (String, PinLayout)>,
    peer_fixes: HashMap<u32, String>,
    programs: HashMap<u32, ProgramInfo>,
}

/// The interfaces of the calling thread's network namespace.
fn here(
    opts: &StatusOptions,
    known: &Known,
    netns: Option<&str>,
) -> Result<Vec<InterfaceStatus>, netdev::NetdevError> {
    let programs = &known.programs;
    let mut found = Vec::new();
    for (ifindex, name) in netdev::interfaces()? {
        if !opts.interfaces.is_empty() && !opts.interfaces.contains(&name) {
            continue;
        }
        let link = netdev::link(ifindex)?;
        if link.xdp == XdpMode::None && opts.interfaces.is_empty() {
            continue;
        }
        let program = link.xdp_prog_id.and_then(|id| programs.get(&id));
        // Ours: the program runs on the link pinned under this interface's name.
        let ours = link
            .xdp_prog_id
            .and_then(|id| known.ours.get(&id))
            .filter(|(n, _)| *n == name);
        let mine = ours.is_some();
        let mut status = InterfaceStatus {
            iface: name.clone(),
            ifindex,
            netns: netns.map(str::to_owned),
            mode: link.xdp,
            prog_id: link.xdp_prog_id,
            prog_name: program.and_then(|p| p.name_as_str()).map(str::to_owned),
            ours: mine,
            peer_fix_of: link
                .xdp_prog_id
                .and_then(|id| known.peer_fixes.get(&id))
                .cloned(),
            load: None,
            loaded_at: program
                .and_then(ProgramInfo::loaded_at)
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|d| d.as_secs()),
            pins: Vec::new(),
            jump_tables: Vec::new(),
            maps_of_maps: Vec::new(),
            peer_fix: Vec::new(),
            capture: None,
        };
        if let Some((_, layout)) = ours {
            status.load = LoadRecord::read(layout, &name);
            status.capture = crate::capture::recorders::CaptureRecord::read(layout, &name);
            status.pins = state::recorded_pins(layout, &name);
            // One walk of the kernel's maps serves both views of them.
            let maps = program.map_or_else(Vec::new, maps_of);
            status.jump_tables = jump_tables(&maps, programs);
            status.maps_of_maps = crate::map_in_map::status(&maps);
            if layout.peer_link(&name).exists() {
                status
                    .peer_fix
                    .push("xdp_pass attached to the veth peer".into());
            }
            if layout.peer_tx_marker(&name).is_dir() {
                status
                    .peer_fix
                    .push("the peer's tx checksum offload turned off".into());
            }
        }
        found.push(status);
    }
    Ok(found)
}

/// The maps `program` uses, as the kernel describes them.
fn maps_of(program: &ProgramInfo) -> Vec<aya::maps::MapInfo> {
    let map_ids = program.map_ids().ok().flatten().unwrap_or_default();
    aya::maps::loaded_maps()
        .flatten()
        .filter(|m| map_ids.contains(&m.id()))
        .collect()
}

/// The prog arrays among `maps` (a program's), with what each slot holds.
fn jump_tables(
    maps: &[aya::maps::MapInfo],
    programs: &HashMap<u32, ProgramInfo>,
) -> Vec<JumpTableStatus> {
    maps.iter()
        .filter(|m| {
            m.map_type()
                .is_ok_and(|t| t == aya::maps::MapType::ProgramArray)
        })
        .filter_map(|m| {
            let fd = m.fd().ok()?;
            let slots = (0..m.max_entries())
                .filter_map(|slot| {
                    let mut id = [0u8; 4];
                    sys::map_lookup(fd.as_fd(), &slot.to_ne_bytes(), &mut id).ok()?;
                    let prog_id = u32::from_ne_bytes(id);
                    let prog_name = programs
                        .get(&prog_id)
                        .and_then(|p| p.name_as_str())
                        .unwrap_or("?")
                        .to_owned();
                    Some(SlotStatus {
                        slot,
                        prog_id,
                        prog_name,
                    })
                })
                .collect();
            Some(JumpTableStatus {
                map: m.name_as_str().unwrap_or("?").to_owned(),
                map_id: m.id(),
                slots,
            })
        })
        .collect()
}
