//! `xdploader unload -i IF[,IF]`: detach and remove the pins the load made.

use std::path::PathBuf;

use serde::Serialize;

use super::{require_capabilities, Error};
use crate::{
    iface, peer,
    state::{self, PinLayout, Released},
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
    let cleaned = state::clean_dead_staging(&layout);
    let mut unloaded = Vec::new();
    let mut peers_restored = Vec::new();
    for iface in &opts.interfaces {
        // First: its records live in the interface's state directory.
        peers_restored.extend(peer::restore(&layout, iface)?);
        unloaded.push(state::release_interface(&layout, iface)?);
    }
    Ok(UnloadReport {
        unloaded,
        peers_restored,
        cleaned,
    })
}
