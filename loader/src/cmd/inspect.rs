//! `xdploader inspect -file FILE`: what a load would do, without root and
//! without touching the kernel.

use std::{fmt, path::PathBuf};

use serde::Serialize;

use super::{load, Error};
use crate::{cli::InspectArgs, elf::ObjectSummary, jump_table::JumpTables};

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
}

pub fn run(file: PathBuf, args: &InspectArgs) -> Result<InspectReport, Error> {
    let (_, inspected) = load::read_object(&file)?;
    let summary = inspected.summary;
    let (entry, jump_tables, problem) = match load::plan_chain(&summary, &args.chain) {
        Ok((entry, tables)) => (Some(entry), Some(tables), None),
        Err(e) => (None, None, Some(e.to_string())),
    };
    Ok(InspectReport {
        file,
        pin_dir: args.pin_dir.clone(),
        summary,
        entry,
        jump_tables,
        problem,
    })
}

impl fmt::Display for InspectReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}",
            load::SummaryText {
                file: &self.file,
                summary: &self.summary,
                pin_dir: &self.pin_dir,
            }
        )?;
        if let Some(entry) = &self.entry {
            writeln!(f, "entry: {entry}")?;
        }
        if let Some(tables) = &self.jump_tables {
            write!(f, "{}", load::JumpTablesText(tables))?;
        }
        if let Some(problem) = &self.problem {
            writeln!(f, "a load would fail: {problem}")?;
        }
        Ok(())
    }
}
