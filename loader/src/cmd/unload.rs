//! `xdploader unload -i IF[,IF]`: detach and remove the pins the load made.

use std::fmt;

use serde::Serialize;

use super::{require_root, Error};
use crate::{
    attach::{self, PinLayout, Unloaded},
    cli::Target,
    peer,
};

#[derive(Debug, Serialize)]
pub struct UnloadReport {
    pub unloaded: Vec<Unloaded>,
    /// What the veth peer fix had changed and is now restored.
    pub peers_restored: Vec<String>,
}

pub fn run(target: &Target) -> Result<UnloadReport, Error> {
    require_root("unload")?;
    let layout = PinLayout::new(&target.pin_dir);
    let mut unloaded = Vec::new();
    let mut peers_restored = Vec::new();
    for iface in &target.interfaces {
        // First: its records live in the interface's state directory.
        peers_restored.extend(peer::restore(&layout, iface)?);
        unloaded.push(attach::unload(&layout, iface)?);
    }
    Ok(UnloadReport {
        unloaded,
        peers_restored,
    })
}

impl fmt::Display for UnloadReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for u in &self.unloaded {
            write!(f, "{}: detached", u.iface)?;
            if u.removed.is_empty() {
                writeln!(f)?;
            } else {
                let removed: Vec<_> = u.removed.iter().map(|p| p.display().to_string()).collect();
                writeln!(f, ", removed {}", removed.join(" "))?;
            }
        }
        for line in &self.peers_restored {
            writeln!(f, "{line}")?;
        }
        Ok(())
    }
}
