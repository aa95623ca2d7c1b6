//! `xdploader unload -i IF[,IF]`: detach and remove the pins the load made.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use serde::Serialize;

use super::{require_capabilities, Error};
use crate::{
    iface,
    netdev::{Netns, ThreadInNetns},
    peer,
    state::{self, LoadRecord, PinLayout, Released},
};

#[derive(Clone, Debug)]
pub struct UnloadOptions {
    pub interfaces: Vec<String>,
    pub pin_dir: PathBuf,
    /// How long to wait for another loader on the same pin directory.
    pub lock_wait: std::time::Duration,
}

#[derive(Debug, Serialize)]
pub struct UnloadReport {
    pub unloaded: Vec<Released>,
    /// What the veth peer fix had changed and is now restored.
    pub peers_restored: Vec<String>,
    /// What loaders that died mid-load had left, and what was done with it.
    pub cleaned: Vec<String>,
}

pub fn run(opts: &UnloadOptions) -> Result<UnloadReport, Error> {
    require_capabilities("unload")?;
    // Names become paths under the pin directory: only valid ones do.
    for name in &opts.interfaces {
        iface::validate_name(name)?;
    }
    // No pin directory: nothing of ours there, which the first interface says.
    let _lock = opts
        .pin_dir
        .is_dir()
        .then(|| state::PinDirLock::acquire(&opts.pin_dir, opts.lock_wait))
        .transpose()?;
    let layout = PinLayout::new(&opts.pin_dir);
    let mut cleaned = state::clean_dead_staging(&layout);
    cleaned.extend(crate::capture::recorders::finish_dead_captures(
        &layout, true,
    ));
    let mut unloaded = Vec::new();
    let mut peers_restored = Vec::new();
    // Every link checked before anything changes: one another namespace's
    // load pinned here (same interface name) is refused, all or nothing.
    let mut gone = Vec::new();
    for iface in &opts.interfaces {
        let path = layout.link(iface);
        let Ok(facts) = crate::sys::pinned_link_facts(&path) else {
            continue;
        };
        let ifindex = crate::netdev::link_by_name(iface).map_or(0, |l| l.ifindex);
        if crate::netns::check_link(&facts, &path, iface, ifindex)? == crate::netns::LinkPlace::Gone
        {
            gone.push(iface.clone());
        }
    }
    for iface in &opts.interfaces {
        // First: its records live in the interface's state directory. An
        // interface that is gone took its peer along: a same-named one here
        // is someone else's, and its peer is left alone.
        let restored = if gone.contains(iface) {
            peer::forget(&layout, iface)?
        } else {
            peer::restore(&layout, iface)?
        };
        peers_restored.extend(restored);
        // A capture running on it loses its recorders with the chain: the
        // real programs go back first, so the detach leaves nothing of it.
        cleaned.extend(crate::capture::recorders::undo_locked(&layout, iface)?);
        unloaded.push(state::release_interface(&layout, iface)?);
    }
    Ok(UnloadReport {
        unloaded,
        peers_restored,
        cleaned,
    })
}

/// `unload --all`: every load of ours in `pin_dir` and in the pin
/// directories below it (a netns entry of `apply` pins under
/// /sys/fs/bpf/netns-NAME), each interface in the namespace its record names.
pub fn run_all(pin_dir: &Path, lock_wait: std::time::Duration) -> Result<UnloadReport, Error> {
    require_capabilities("unload")?;
    let mut all = UnloadReport {
        unloaded: Vec::new(),
        peers_restored: Vec::new(),
        cleaned: Vec::new(),
    };
    for dir in state::pin_dirs_below(pin_dir) {
        let layout = PinLayout::new(&dir);
        // By namespace: the peer fix is undone where the interface is.
        let mut by_netns: BTreeMap<(Option<String>, Option<u64>), Vec<String>> = BTreeMap::new();
        for iface in state::recorded_interfaces(&layout) {
            let key = LoadRecord::read(&layout, &iface)
                .map(|r| (r.netns, r.netns_inode))
                .unwrap_or_default();
            by_netns.entry(key).or_default().push(iface);
        }
        for ((name, inode), interfaces) in by_netns {
            // A namespace deleted since took its interfaces along: what is
            // left are pins and records, removed from here (their links,
            // attached to nothing, say so: crate::netns::LinkPlace::Gone).
            let netns = match (name, inode) {
                (Some(name), _) => Netns::named(&name).ok(),
                (None, Some(inode)) => crate::netdev::all_netns()
                    .into_iter()
                    .find(|ns| ns.inode() == Some(inode)),
                (None, None) => None,
            };
            let _inside = netns.as_ref().map(ThreadInNetns::enter).transpose()?;
            let report = run(&UnloadOptions {
                interfaces,
                pin_dir: dir.clone(),
                lock_wait,
            })?;
            all.unloaded.extend(report.unloaded);
            all.peers_restored.extend(report.peers_restored);
            all.cleaned.extend(report.cleaned);
        }
    }
    Ok(all)
}
