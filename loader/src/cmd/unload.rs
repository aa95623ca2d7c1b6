//! `xdploader unload -i IF[,IF]`: detach and remove the pins the load made.

use std::fmt;

use serde::Serialize;

use super::{require_root, Error};
use crate::{
    attach::{self, PinLayout, Unloaded},
    cli::Target,
};

#[derive(Debug, Serialize)]
pub struct UnloadReport {
    pub unloaded: Vec<Unloaded>,
}

pub fn run(target: &Target) -> Result<UnloadReport, Error> {
    require_root("unload")?;
    let layout = PinLayout::new(&target.pin_dir);
    let unloaded = target
        .interfaces
        .iter()
        .map(|iface| attach::unload(&layout, iface))
        .collect::<Result<_, _>>()?;
    Ok(UnloadReport { unloaded })
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
        Ok(())
    }
}
