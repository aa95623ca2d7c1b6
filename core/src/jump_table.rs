//! The jump tables: which program goes into which prog-array slot, and why.
//!
//! Three rules, the later overriding the earlier slot by slot:
//! 1. naming, from the Go skeleton, generalised: each `<entry>_<N>` XDP
//!    program goes into slot N of the entry's prog array (`--jmp-map`, else
//!    `jmp_map`, else the one the entry tail-calls into, else the only one);
//! 2. declared: libbpf's `.values = { [N] = (void *)&prog }` in the object;
//! 3. `--tail [MAP:]SLOT=PROG` on the command line.

use std::{collections::BTreeMap, str::FromStr};

use std::os::fd::AsFd as _;

use aya::{
    maps::{Map, MapData, MapError, ProgramArray},
    programs::Xdp,
    Ebpf,
};
use aya_obj::generated::bpf_map_type::BPF_MAP_TYPE_PROG_ARRAY;
use serde::Serialize;

use crate::elf::{MapSummary, ObjectSummary};

/// The prog array used when none is named.
pub const DEFAULT_PROG_ARRAY: &str = "jmp_map";

#[derive(Debug, thiserror::Error)]
pub enum JumpTableError {
    #[error("no XDP program named {name} (XDP programs: {available})")]
    NoSuchProgram { name: String, available: String },
    #[error("no XDP program in section {section} (sections: {available})")]
    NoSuchSection { section: String, available: String },
    #[error("the entry {entry} tail-calls {calls}, which nothing fills: every frame would take the path after a failed tail call; {fill}, or --allow-empty-slots if another program fills them")]
    EntryCallsEmptySlots {
        entry: String,
        calls: String,
        /// The flags that would fill them, or how to.
        fill: String,
    },
    #[error("several entry programs ({candidates}): choose one with --prog NAME or --sec SECTION")]
    AmbiguousEntry { candidates: String },
    #[error("no map named {name} (maps: {available})")]
    NoSuchMap { name: String, available: String },
    #[error("map {name} is a {found}, not a prog_array")]
    NotProgArray { name: String, found: String },
    #[error("{rule}: program {program} wants slot {slot} of {map}, which has {max_entries} slots")]
    SlotOutOfRange {
        rule: Rule,
        program: String,
        slot: u32,
        map: String,
        max_entries: u32,
    },
    #[error("--tail {arg}: which prog array? the object has several ({arrays}): write --tail MAP:SLOT=PROG")]
    TailNeedsMap { arg: String, arrays: String },
    #[error("program {program} is not loaded")]
    NotLoaded { program: String },
    #[error("setting slot {slot} of {map} to {program}")]
    Fill {
        map: String,
        slot: u32,
        program: String,
        #[source]
        source: MapError,
    },
}

/// `--tail [MAP:]SLOT=PROG`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TailArg {
    pub map: Option<String>,
    pub slot: u32,
    pub program: String,
}

impl FromStr for TailArg {
    type Err = String;
    fn from_str(arg: &str) -> Result<Self, String> {
        let bad = || {
            format!("{arg:?}: expected [MAP:]SLOT=PROG, e.g. 1=xdp_stage or jmp_map:1=xdp_stage")
        };
        let (place, program) = arg.split_once('=').ok_or_else(bad)?;
        let (map, slot) = match place.rsplit_once(':') {
            Some((map, slot)) => (Some(map.to_owned()), slot),
            None => (None, place),
        };
        let slot = slot.parse().map_err(|_| bad())?;
        if program.is_empty() || map.as_deref() == Some("") {
            return Err(bad());
        }
        Ok(Self {
            map,
            slot,
            program: program.to_owned(),
        })
    }
}

impl std::fmt::Display for TailArg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(map) = &self.map {
            write!(f, "{map}:")?;
        }
        write!(f, "{}={}", self.slot, self.program)
    }
}

/// Which rule put a program in a slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// `<entry>_<N>` goes into slot N.
    Naming,
    /// The object's declarative `.values` initialisation.
    Declared,
    /// `--tail` on the command line.
    Tail,
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Naming => "naming",
            Self::Declared => "declared",
            Self::Tail => "--tail",
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Slot {
    pub slot: u32,
    pub program: String,
    pub rule: Rule,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct JumpTablePlan {
    pub map: String,
    pub slots: Vec<Slot>,
}

/// Every prog array to fill, and notes on what was not filled and why.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct JumpTables {
    pub tables: Vec<JumpTablePlan>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// How the entry program is chosen.
#[derive(Clone, Debug, Default)]
pub struct EntryChoice<'a> {
    pub prog: Option<&'a str>,
    pub sec: Option<&'a str>,
}

/// Which program is the entry, and what goes into the jump tables: what
/// `--prog`, `--sec`, `--jmp-map` and `--tail` ask for.
#[derive(Clone, Debug, Default)]
pub struct ChainOptions {
    /// Entry program by function name.
    pub prog: Option<String>,
    /// Entry program by section name.
    pub sec: Option<String>,
    /// The prog array `<entry>_<N>` programs go into.
    pub jmp_map: Option<String>,
    pub tail: Vec<TailArg>,
    /// Load even when the entry tail-calls a constant slot nothing fills
    /// (the user fills it after the load).
    pub allow_empty_slots: bool,
}

/// The entry program and the jump tables, as `chain` asks (load and inspect).
pub fn plan_chain(
    summary: &ObjectSummary,
    chain: &ChainOptions,
) -> Result<(String, JumpTables), JumpTableError> {
    let choice = EntryChoice {
        prog: chain.prog.as_deref(),
        sec: chain.sec.as_deref(),
    };
    let entry = entry_program(summary, &choice, &chain.tail)?;
    let tables = plan(summary, &entry, chain.jmp_map.as_deref(), &chain.tail)?;
    if !chain.allow_empty_slots {
        entry_slots_filled(summary, &entry, &tables)?;
    }
    Ok((entry, tables))
}

/// Refuses a chain whose entry tail-calls a constant slot that the plan
/// leaves empty: the call fails, and the entry's code after it runs for
/// every frame (often `return XDP_ABORTED` or a drop: a black hole that a
/// load would report as success). Names the flags that fill the slots.
fn entry_slots_filled(
    summary: &ObjectSummary,
    entry: &str,
    tables: &JumpTables,
) -> Result<(), JumpTableError> {
    let Some(program) = summary.xdp_programs().find(|p| p.name == entry) else {
        return Ok(());
    };
    let filled = |map: &str, slot: u32| {
        tables
            .tables
            .iter()
            .any(|t| t.map == map && t.slots.iter().any(|s| s.slot == slot))
    };
    let mut empty: Vec<(&str, u32)> = Vec::new();
    for call in &program.tail_calls {
        if let (Some(map), Some(slot)) = (call.map.as_deref(), call.slot) {
            if !filled(map, slot) && !empty.contains(&(map, slot)) {
                empty.push((map, slot));
            }
        }
    }
    if empty.is_empty() {
        return Ok(());
    }
    let placed = |name: &str| {
        tables
            .tables
            .iter()
            .any(|t| t.slots.iter().any(|s| s.program == name))
    };
    let idle: Vec<&str> = summary
        .xdp_programs()
        .filter(|p| p.name != entry && !p.map_program && !placed(&p.name))
        .map(|p| p.name.as_str())
        .collect();
    let flags: Vec<String> = empty
        .iter()
        .enumerate()
        .map(|(i, (map, slot))| {
            let program = idle.get(i).copied().unwrap_or("PROG");
            format!("--tail {map}:{slot}={program}")
        })
        .collect();
    Err(JumpTableError::EntryCallsEmptySlots {
        entry: entry.to_owned(),
        calls: empty
            .iter()
            .map(|(map, slot)| format!("{map}[{slot}]"))
            .collect::<Vec<_>>()
            .join(", "),
        fill: format!("fill them with {}", flags.join(" ")),
    })
}

/// `<entry>_<N>` → N.
fn tail_slot(entry: &str, name: &str) -> Option<u32> {
    let digits = name.strip_prefix(entry)?.strip_prefix('_')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn xdp_names(summary: &ObjectSummary) -> Vec<&str> {
    summary.xdp_programs().map(|p| p.name.as_str()).collect()
}

fn list<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    let items: Vec<&str> = items.into_iter().collect();
    if items.is_empty() {
        "none".into()
    } else {
        items.join(", ")
    }
}

/// Picks the entry program: by `--prog` and/or `--sec` if given, else the
/// only XDP program that no rule puts in a slot.
pub fn entry_program(
    summary: &ObjectSummary,
    choice: &EntryChoice<'_>,
    tails: &[TailArg],
) -> Result<String, JumpTableError> {
    let names = xdp_names(summary);
    if let Some(wanted) = choice.prog {
        if !names.contains(&wanted) {
            return Err(JumpTableError::NoSuchProgram {
                name: wanted.to_owned(),
                available: list(names),
            });
        }
    }
    let mut candidates: Vec<&str> = summary
        .xdp_programs()
        // A devmap/cpumap program never runs on an interface.
        .filter(|p| !p.map_program || choice.prog.is_some_and(|w| p.name == w))
        .filter(|p| choice.prog.is_none_or(|w| p.name == w))
        .filter(|p| choice.sec.is_none_or(|w| p.section == w))
        .map(|p| p.name.as_str())
        .collect();
    if let (Some(section), true) = (choice.sec, candidates.is_empty()) {
        let mut sections: Vec<&str> = summary.xdp_programs().map(|p| p.section.as_str()).collect();
        sections.dedup();
        return Err(JumpTableError::NoSuchSection {
            section: section.to_owned(),
            available: list(sections),
        });
    }
    if choice.prog.is_none() && candidates.len() > 1 {
        let in_a_slot = |n: &str| {
            names.iter().any(|e| *e != n && tail_slot(e, n).is_some())
                || summary
                    .maps
                    .iter()
                    .any(|m| m.declared_slots.iter().any(|s| s.program == n))
                || tails.iter().any(|t| t.program == n)
        };
        candidates.retain(|n| !in_a_slot(n));
    }
    match candidates.as_slice() {
        [one] => Ok((*one).to_owned()),
        _ => Err(JumpTableError::AmbiguousEntry {
            candidates: list(candidates),
        }),
    }
}

fn prog_array<'a>(
    summary: &'a ObjectSummary,
    name: &str,
) -> Result<&'a MapSummary, JumpTableError> {
    let map = summary.map(name).ok_or_else(|| JumpTableError::NoSuchMap {
        name: name.to_owned(),
        available: list(summary.maps.iter().map(|m| m.name.as_str())),
    })?;
    if !map.is(BPF_MAP_TYPE_PROG_ARRAY) {
        return Err(JumpTableError::NotProgArray {
            name: map.name.clone(),
            found: map.type_name.clone(),
        });
    }
    Ok(map)
}

/// The entry's own prog array: named, `jmp_map`, the one its bytecode
/// tail-calls into, or the object's only one.
fn entry_prog_array<'a>(
    summary: &'a ObjectSummary,
    entry: &str,
    named: Option<&str>,
) -> Result<Result<&'a MapSummary, String>, JumpTableError> {
    if let Some(name) = named {
        return prog_array(summary, name).map(Ok);
    }
    if let Some(map) = summary.map(DEFAULT_PROG_ARRAY) {
        return prog_array(summary, &map.name).map(Ok);
    }
    let arrays: Vec<&MapSummary> = summary.maps_of_type(BPF_MAP_TYPE_PROG_ARRAY).collect();
    let mut called: Vec<&str> = summary
        .programs
        .iter()
        .filter(|p| p.name == entry)
        .flat_map(|p| p.tail_calls.iter().filter_map(|t| t.map.as_deref()))
        .collect();
    called.sort_unstable();
    called.dedup();
    match (arrays.as_slice(), called.as_slice()) {
        ([], _) => Ok(Err("the object has no prog array".to_owned())),
        ([only], _) => Ok(Ok(*only)),
        (_, [one]) => prog_array(summary, one).map(Ok),
        _ => Ok(Err(format!(
            "no {DEFAULT_PROG_ARRAY} and several prog arrays ({}): choose one with --jmp-map",
            list(arrays.iter().map(|m| m.name.as_str()))
        ))),
    }
}

/// Plans every jump table for `entry`.
pub fn plan(
    summary: &ObjectSummary,
    entry: &str,
    jmp_map: Option<&str>,
    tails: &[TailArg],
) -> Result<JumpTables, JumpTableError> {
    // (map, slot) → (program, rule); later rules overwrite earlier ones.
    let mut slots: BTreeMap<(String, u32), (String, Rule)> = BTreeMap::new();
    let mut notes = Vec::new();

    let naming: Vec<(u32, &str)> = summary
        .xdp_programs()
        .filter_map(|p| tail_slot(entry, &p.name).map(|n| (n, p.name.as_str())))
        .collect();
    let entry_array = entry_prog_array(summary, entry, jmp_map)?;
    match (&entry_array, naming.is_empty()) {
        (Ok(map), false) => {
            for (slot, program) in &naming {
                slots.insert(
                    (map.name.clone(), *slot),
                    ((*program).to_owned(), Rule::Naming),
                );
            }
        }
        (Err(reason), false) => notes.push(format!("{entry}_<N> programs not placed: {reason}")),
        (Ok(map), true) if map.declared_slots.is_empty() && tails.is_empty() => {
            notes.push(format!("no {entry}_<N> programs for {}", map.name));
        }
        (Err(reason), true)
            if tails.is_empty() && summary.maps.iter().all(|m| m.declared_slots.is_empty()) =>
        {
            notes.push(reason.clone());
        }
        _ => {}
    }

    for map in &summary.maps {
        for declared in &map.declared_slots {
            slots.insert(
                (map.name.clone(), declared.slot),
                (declared.program.clone(), Rule::Declared),
            );
        }
    }

    let names = xdp_names(summary);
    for tail in tails {
        if !names.contains(&tail.program.as_str()) {
            return Err(JumpTableError::NoSuchProgram {
                name: tail.program.clone(),
                available: list(names),
            });
        }
        let map = match (&tail.map, &entry_array) {
            (Some(name), _) => prog_array(summary, name)?,
            (None, Ok(map)) => map,
            (None, Err(_)) => {
                return Err(JumpTableError::TailNeedsMap {
                    arg: tail.to_string(),
                    arrays: list(
                        summary
                            .maps_of_type(BPF_MAP_TYPE_PROG_ARRAY)
                            .map(|m| m.name.as_str()),
                    ),
                })
            }
        };
        slots.insert(
            (map.name.clone(), tail.slot),
            (tail.program.clone(), Rule::Tail),
        );
    }

    let mut tables: Vec<JumpTablePlan> = Vec::new();
    for ((map, slot), (program, rule)) in slots {
        let array = prog_array(summary, &map)?;
        if slot >= array.max_entries {
            return Err(JumpTableError::SlotOutOfRange {
                rule,
                program,
                slot,
                map,
                max_entries: array.max_entries,
            });
        }
        let entry = Slot {
            slot,
            program,
            rule,
        };
        match tables.iter_mut().find(|t| t.map == map) {
            Some(table) => table.slots.push(entry),
            None => tables.push(JumpTablePlan {
                map,
                slots: vec![entry],
            }),
        }
    }
    notes.extend(unfilled(summary, entry, &tables));
    Ok(JumpTables { tables, notes })
}

/// What the plan leaves out, said with the flags that would fill it: XDP
/// programs in no slot, and slots the bytecode tail-calls with a constant
/// index that nothing fills (such a call fails, and the program goes on).
fn unfilled(summary: &ObjectSummary, entry: &str, tables: &[JumpTablePlan]) -> Vec<String> {
    let placed = |name: &str| {
        tables
            .iter()
            .any(|t| t.slots.iter().any(|s| s.program == name))
    };
    let filled = |map: &str, slot: u32| {
        tables
            .iter()
            .any(|t| t.map == map && t.slots.iter().any(|s| s.slot == slot))
    };
    let idle: Vec<&str> = summary
        .xdp_programs()
        .filter(|p| p.name != entry && !p.map_program && !placed(&p.name))
        .map(|p| p.name.as_str())
        .collect();
    let mut empty: Vec<(String, u32)> = Vec::new();
    for call in summary.xdp_programs().flat_map(|p| &p.tail_calls) {
        if let (Some(map), Some(slot)) = (&call.map, call.slot) {
            if !filled(map, slot) && !empty.contains(&(map.clone(), slot)) {
                empty.push((map.clone(), slot));
            }
        }
    }
    let calls: Vec<String> = empty.iter().map(|(m, s)| format!("{m}[{s}]")).collect();
    let mut notes = Vec::new();
    match (idle.is_empty(), empty.is_empty()) {
        (true, true) => {}
        (false, true) => notes.push(format!(
            "{} in no slot: --tail MAP:SLOT=PROG places a program",
            plural_is(&idle)
        )),
        (true, false) => notes.push(format!(
            "the bytecode tail-calls {}, which nothing fills: such a call fails and the program goes on",
            calls.join(", ")
        )),
        (false, false) => {
            let flags: Vec<String> = empty
                .iter()
                .zip(&idle)
                .map(|((map, slot), prog)| format!("--tail {map}:{slot}={prog}"))
                .collect();
            notes.push(format!(
                "{} in no slot while {} {} empty: e.g. {}",
                plural_is(&idle),
                calls.join(", "),
                if calls.len() == 1 { "is" } else { "are" },
                flags.join(" ")
            ));
        }
    }
    notes
}

/// `a is` / `a, b are`.
fn plural_is(names: &[&str]) -> String {
    format!(
        "{} {}",
        names.join(", "),
        if names.len() == 1 { "is" } else { "are" }
    )
}

/// Puts every planned program into its slot.
pub fn fill(ebpf: &Ebpf, tables: &JumpTables) -> Result<(), JumpTableError> {
    for plan in &tables.tables {
        fill_one(ebpf, plan)?;
    }
    Ok(())
}

fn fill_one(ebpf: &Ebpf, plan: &JumpTablePlan) -> Result<(), JumpTableError> {
    let fill_err = |slot: &Slot| {
        let (slot, program) = (slot.slot, slot.program.clone());
        move |source| JumpTableError::Fill {
            map: plan.map.clone(),
            slot,
            program,
            source,
        }
    };
    // The map as the kernel describes it, not as aya parsed it: aya sees no
    // value size in a declarative prog array (see load::create_declared_prog_array).
    let Some(Map::ProgramArray(data)) = ebpf.map(&plan.map) else {
        return Err(JumpTableError::NoSuchMap {
            name: plan.map.clone(),
            available: String::new(),
        });
    };
    let kernel_view = data
        .fd()
        .as_fd()
        .try_clone_to_owned()
        .map_err(|e| {
            MapError::SyscallError(aya::sys::SyscallError {
                call: "dup",
                io_error: e,
            })
        })
        .and_then(MapData::from_fd)
        .map_err(fill_err(&plan.slots[0]))?;
    let mut array =
        ProgramArray::try_from(Map::ProgramArray(kernel_view)).map_err(fill_err(&plan.slots[0]))?;
    for slot in &plan.slots {
        let fd = ebpf
            .program(&slot.program)
            .and_then(|p| <&Xdp>::try_from(p).ok())
            .and_then(|p| p.fd().ok())
            .ok_or_else(|| JumpTableError::NotLoaded {
                program: slot.program.clone(),
            })?;
        array.set(slot.slot, fd, 0).map_err(fill_err(slot))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::elf::{map_type_name, DeclaredSlot, MapFormat, ProgramSummary, TailCall};
    use aya_obj::generated::bpf_map_type::{self, BPF_MAP_TYPE_HASH};

    fn object(progs: &[&str], maps: &[(&str, bpf_map_type, u32)]) -> ObjectSummary {
        ObjectSummary {
            frags_global: false,
            license: "GPL".into(),
            programs: progs
                .iter()
                .map(|name| ProgramSummary {
                    name: (*name).into(),
                    section: format!("xdp/{name}"),
                    xdp: true,
                    frags: false,
                    instructions: 2,
                    tail_calls: Vec::new(),
                    map_program: false,
                    source_lines: Vec::new(),
                })
                .collect(),
            maps: maps
                .iter()
                .map(|(name, t, entries)| MapSummary {
                    name: (*name).into(),
                    type_name: map_type_name(*t as u32),
                    map_type: *t as u32,
                    key_size: 4,
                    value_size: 4,
                    max_entries: *entries,
                    flags: 0,
                    format: MapFormat::Btf,
                    global_data: false,
                    pin: None,
                    declared_slots: Vec::new(),
                    inner_maps: Vec::new(),
                    loader_creates: false,
                })
                .collect(),
            needs_kernel_btf: false,
            rewritten_for_aya: Vec::new(),
            externs: Vec::new(),
        }
    }

    fn slots(tables: &JumpTables) -> Vec<(String, u32, String, Rule)> {
        tables
            .tables
            .iter()
            .flat_map(|t| {
                t.slots
                    .iter()
                    .map(|s| (t.map.clone(), s.slot, s.program.clone(), s.rule))
            })
            .collect()
    }

    fn slot(map: &str, n: u32, prog: &str, rule: Rule) -> (String, u32, String, Rule) {
        (map.into(), n, prog.into(), rule)
    }

    #[test]
    fn entry_and_slots_follow_the_naming_convention() {
        let obj = object(
            &["fw_2", "fw", "fw_1"],
            &[("jmp_map", BPF_MAP_TYPE_PROG_ARRAY, 4)],
        );
        let entry = entry_program(&obj, &EntryChoice::default(), &[]).unwrap();
        assert_eq!(entry, "fw");
        assert_eq!(
            slots(&plan(&obj, &entry, None, &[]).unwrap()),
            [
                slot("jmp_map", 1, "fw_1", Rule::Naming),
                slot("jmp_map", 2, "fw_2", Rule::Naming)
            ]
        );
    }

    #[test]
    fn the_only_prog_array_is_used_when_jmp_map_is_absent() {
        let obj = object(&["a", "a_0"], &[("tails", BPF_MAP_TYPE_PROG_ARRAY, 1)]);
        assert_eq!(plan(&obj, "a", None, &[]).unwrap().tables[0].map, "tails");
    }

    #[test]
    fn with_several_prog_arrays_the_one_the_entry_calls_is_used() {
        let mut obj = object(
            &["a", "a_1"],
            &[
                ("x", BPF_MAP_TYPE_PROG_ARRAY, 4),
                ("y", BPF_MAP_TYPE_PROG_ARRAY, 4),
            ],
        );
        let reason = plan(&obj, "a", None, &[]).unwrap().notes.join("");
        assert!(reason.contains("several prog arrays (x, y)"), "{reason}");
        obj.programs[0].tail_calls.push(TailCall {
            map: Some("y".into()),
            slot: Some(1),
        });
        assert_eq!(
            slots(&plan(&obj, "a", None, &[]).unwrap()),
            [slot("y", 1, "a_1", Rule::Naming)]
        );
    }

    #[test]
    fn declared_slots_fill_their_own_arrays_and_tail_overrides_both() {
        let mut obj = object(
            &["classify", "stage_a", "stage_b", "other"],
            &[
                ("stages", BPF_MAP_TYPE_PROG_ARRAY, 8),
                ("more", BPF_MAP_TYPE_PROG_ARRAY, 2),
            ],
        );
        obj.maps[0].declared_slots.push(DeclaredSlot {
            slot: 3,
            program: "stage_a".into(),
        });
        obj.maps[1].declared_slots.push(DeclaredSlot {
            slot: 0,
            program: "stage_b".into(),
        });
        // "other" is in no slot yet, so the entry is ambiguous.
        assert!(entry_program(&obj, &EntryChoice::default(), &[]).is_err());
        let tails: Vec<TailArg> = vec!["more:0=other".parse().unwrap()];
        let entry = entry_program(&obj, &EntryChoice::default(), &tails).unwrap();
        assert_eq!(entry, "classify");
        assert_eq!(
            slots(&plan(&obj, &entry, None, &tails).unwrap()),
            [
                slot("more", 0, "other", Rule::Tail),
                slot("stages", 3, "stage_a", Rule::Declared)
            ]
        );
        let unplaced: Vec<TailArg> = vec!["1=other".parse().unwrap()];
        assert_eq!(
            plan(&obj, &entry, None, &unplaced).unwrap_err().to_string(),
            "--tail 1=other: which prog array? the object has several (stages, more): write --tail MAP:SLOT=PROG"
        );
    }

    #[test]
    fn sec_selects_the_entry_by_section() {
        let obj = object(&["a", "b"], &[]);
        let by_sec = EntryChoice {
            prog: None,
            sec: Some("xdp/b"),
        };
        assert_eq!(entry_program(&obj, &by_sec, &[]).unwrap(), "b");
        let missing = EntryChoice {
            prog: None,
            sec: Some("xdp_c"),
        };
        assert_eq!(
            entry_program(&obj, &missing, &[]).unwrap_err().to_string(),
            "no XDP program in section xdp_c (sections: xdp/a, xdp/b)"
        );
    }

    #[test]
    fn tail_args_parse_with_and_without_a_map() {
        assert_eq!(
            "3=stage".parse::<TailArg>().unwrap(),
            TailArg {
                map: None,
                slot: 3,
                program: "stage".into()
            }
        );
        let full: TailArg = "jmp:0=p".parse().unwrap();
        assert_eq!((full.map.as_deref(), full.slot), (Some("jmp"), 0));
        for bad in ["", "3", "x=p", "3=", ":3=p", "-1=p"] {
            assert!(bad.parse::<TailArg>().is_err(), "{bad}");
        }
    }

    #[test]
    fn bad_plans_are_clear_errors() {
        let obj = object(
            &["fw", "fw_9"],
            &[
                ("jmp_map", BPF_MAP_TYPE_PROG_ARRAY, 4),
                ("h", BPF_MAP_TYPE_HASH, 4),
            ],
        );
        assert_eq!(
            plan(&obj, "fw", None, &[]).unwrap_err().to_string(),
            "naming: program fw_9 wants slot 9 of jmp_map, which has 4 slots"
        );
        assert_eq!(
            plan(&obj, "fw", Some("nope"), &[]).unwrap_err().to_string(),
            "no map named nope (maps: jmp_map, h)"
        );
        assert_eq!(
            plan(&obj, "fw", Some("h"), &[]).unwrap_err().to_string(),
            "map h is a hash, not a prog_array"
        );
        let other = EntryChoice {
            prog: Some("other"),
            sec: None,
        };
        assert_eq!(
            entry_program(&obj, &other, &[]).unwrap_err().to_string(),
            "no XDP program named other (XDP programs: fw, fw_9)"
        );
        let two = object(&["a", "b"], &[]);
        assert_eq!(
            entry_program(&two, &EntryChoice::default(), &[])
                .unwrap_err()
                .to_string(),
            "several entry programs (a, b): choose one with --prog NAME or --sec SECTION"
        );
    }

    #[test]
    fn no_prog_array_is_noted() {
        let obj = object(&["solo"], &[]);
        let tables = plan(&obj, "solo", None, &[]).unwrap();
        assert!(tables.tables.is_empty());
        assert_eq!(tables.notes, ["the object has no prog array"]);
    }

    #[test]
    fn tail_slots_need_the_entry_name_and_digits() {
        assert_eq!(tail_slot("xdp_skeleton", "xdp_skeleton_1"), Some(1));
        assert_eq!(tail_slot("xdp_skeleton", "xdp_skeleton_15"), Some(15));
        assert_eq!(tail_slot("xdp_skeleton", "xdp_skeleton"), None);
        assert_eq!(tail_slot("xdp_skeleton", "xdp_skeleton_"), None);
        assert_eq!(tail_slot("xdp_skeleton", "xdp_skeleton_x1"), None);
        assert_eq!(tail_slot("xdp", "xdp_skeleton_1"), None);
        assert_eq!(tail_slot("xdp", "xdp_1"), Some(1));
    }
}
