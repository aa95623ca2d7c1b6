//! Text renderings shared by two subcommands (load and inspect): the object
//! summary and the jump tables.

use std::fmt;

use xdp_core::{elf::ObjectSummary, jump_table::JumpTables};

/// The object summary: maps, then programs, in file order, with where each
/// map is pinned (under `pin_dir`) and the tail calls each program makes.
#[derive(Debug)]
pub struct SummaryText<'a> {
    pub file: &'a std::path::Path,
    pub summary: &'a ObjectSummary,
    pub pin_dir: &'a std::path::Path,
    /// The load's first interface: maps that ask for no pinning go in its
    /// directory (None for inspect: shown as `<iface>`).
    pub first_iface: Option<&'a str>,
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
                    self.pin_dir.join(pin.relative(self.first_iface)).display(),
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
            for declared in &m.inner_maps {
                writeln!(
                    f,
                    "  {:width$}        slot {} <- map {} (declared)",
                    "", declared.slot, declared.map
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

pub fn plural(n: usize, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}
