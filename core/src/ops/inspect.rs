//! `xdploader inspect -file FILE`: what a load would do, without root and
//! without touching the kernel.

use std::path::PathBuf;

use serde::Serialize;

use super::{read_object, Error};
use crate::{
    elf::ObjectSummary,
    jump_table::{self, ChainOptions, JumpTables},
};

#[derive(Clone, Debug)]
pub struct InspectOptions {
    pub file: PathBuf,
    /// The pin directory a load would use (only changes the pin paths shown).
    pub pin_dir: PathBuf,
    pub chain: ChainOptions,
    /// Sizes of maps the object leaves to user space, as a load would take them.
    pub max_entries: Vec<crate::load::MaxEntries>,
}

#[derive(Debug, Serialize)]
pub struct InspectReport {
    pub file: PathBuf,
    pub pin_dir: PathBuf,
    pub summary: ObjectSummary,
    /// The entry program, when one can be chosen.
    pub entry: Option<String>,
    pub jump_tables: Option<JumpTables>,
    /// Why a load would fail as asked (the object itself is fine).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// The kfuncs the object calls, and where each is on this kernel.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub kfuncs: Vec<crate::ksyms::Ksym>,
}

pub fn run(opts: &InspectOptions) -> Result<InspectReport, Error> {
    let (_, inspected) = read_object(&opts.file)?;
    let mut summary = inspected.summary;
    // What a load would refuse, said before the kernel is asked.
    let kfuncs = crate::ksyms::resolve(&summary.externs);
    let sized = crate::load::check_linkable(&summary, &kfuncs)
        .and_then(|()| crate::load::size_maps(&mut summary, &opts.max_entries));
    let (entry, jump_tables, problem) = match jump_table::plan_chain(&summary, &opts.chain) {
        Ok((entry, tables)) => (
            Some(entry),
            Some(tables),
            sized.err().map(|e| crate::error_chain(&e)),
        ),
        Err(e) => (None, None, Some(crate::error_chain(&e))),
    };
    Ok(InspectReport {
        file: opts.file.clone(),
        pin_dir: opts.pin_dir.clone(),
        summary,
        entry,
        jump_tables,
        problem,
        kfuncs,
    })
}
