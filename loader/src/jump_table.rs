//! The jump table: which program goes into which prog-array slot.
//!
//! Convention (from the Go skeleton, generalised): the entry is the one XDP
//! program that is not `<entry>_<N>`; each `<entry>_<N>` goes into slot N of
//! the prog array (`jmp_map` unless told otherwise).

use aya::{maps::ProgramArray, programs::Xdp, Ebpf};
use aya_obj::generated::bpf_map_type::BPF_MAP_TYPE_PROG_ARRAY;
use serde::Serialize;

use crate::elf::ObjectSummary;

/// The prog array used when none is named.
pub const DEFAULT_PROG_ARRAY: &str = "jmp_map";

#[derive(Debug, thiserror::Error)]
pub enum JumpTableError {
    #[error("no XDP program named {name} (XDP programs: {available})")]
    NoSuchProgram { name: String, available: String },
    #[error("several entry programs ({candidates}): choose one with --prog NAME")]
    AmbiguousEntry { candidates: String },
    #[error("no map named {name} (maps: {available})")]
    NoSuchMap { name: String, available: String },
    #[error("map {name} is a {found}, not a prog_array")]
    NotProgArray { name: String, found: String },
    #[error("program {program} wants slot {slot} of {map}, which has {max_entries} slots")]
    SlotOutOfRange {
        program: String,
        slot: u32,
        map: String,
        max_entries: u32,
    },
    #[error("program {program} is not loaded")]
    NotLoaded { program: String },
    #[error("setting slot {slot} of {map} to {program}")]
    Fill {
        map: String,
        slot: u32,
        program: String,
        #[source]
        source: aya::maps::MapError,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Slot {
    pub slot: u32,
    pub program: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct JumpTablePlan {
    pub map: String,
    pub slots: Vec<Slot>,
}

/// What to do about tail calls for this object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum JumpTable {
    Fill(JumpTablePlan),
    /// Nothing to fill, and why.
    Skipped {
        reason: String,
    },
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

/// Picks the entry program: `wanted` if given, else the only XDP program that
/// is no other's `_<N>` tail target.
pub fn entry_program(
    summary: &ObjectSummary,
    wanted: Option<&str>,
) -> Result<String, JumpTableError> {
    let names = xdp_names(summary);
    if let Some(wanted) = wanted {
        return names
            .iter()
            .find(|n| **n == wanted)
            .map(|n| (*n).to_owned())
            .ok_or_else(|| JumpTableError::NoSuchProgram {
                name: wanted.to_owned(),
                available: names.join(", "),
            });
    }
    let candidates: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| !names.iter().any(|e| e != n && tail_slot(e, n).is_some()))
        .collect();
    match candidates.as_slice() {
        [one] => Ok((*one).to_owned()),
        _ => Err(JumpTableError::AmbiguousEntry {
            candidates: candidates.join(", "),
        }),
    }
}

/// Plans the jump table for `entry`. `prog_array` names the map; without it
/// `jmp_map` is used, or the object's only prog array.
pub fn plan(
    summary: &ObjectSummary,
    entry: &str,
    prog_array: Option<&str>,
) -> Result<JumpTable, JumpTableError> {
    let slots: Vec<Slot> = summary
        .xdp_programs()
        .filter_map(|p| {
            tail_slot(entry, &p.name).map(|slot| Slot {
                slot,
                program: p.name.clone(),
            })
        })
        .collect();

    let map = match prog_array {
        Some(name) => summary.map(name).ok_or_else(|| JumpTableError::NoSuchMap {
            name: name.to_owned(),
            available: summary
                .maps
                .iter()
                .map(|m| m.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        })?,
        None => {
            let arrays: Vec<_> = summary.maps_of_type(BPF_MAP_TYPE_PROG_ARRAY).collect();
            match summary.map(DEFAULT_PROG_ARRAY) {
                Some(m) => m,
                None if arrays.len() == 1 => arrays[0],
                None => {
                    let reason = if arrays.is_empty() {
                        "the object has no prog array".to_owned()
                    } else {
                        format!(
                            "no {DEFAULT_PROG_ARRAY} and several prog arrays: choose one with --jmp-map"
                        )
                    };
                    return Ok(JumpTable::Skipped { reason });
                }
            }
        }
    };
    if !map.is(BPF_MAP_TYPE_PROG_ARRAY) {
        return Err(JumpTableError::NotProgArray {
            name: map.name.clone(),
            found: map.type_name.clone(),
        });
    }
    if let Some(slot) = slots.iter().find(|s| s.slot >= map.max_entries) {
        return Err(JumpTableError::SlotOutOfRange {
            program: slot.program.clone(),
            slot: slot.slot,
            map: map.name.clone(),
            max_entries: map.max_entries,
        });
    }
    if slots.is_empty() {
        return Ok(JumpTable::Skipped {
            reason: format!("no {entry}_<N> programs for {}", map.name),
        });
    }
    Ok(JumpTable::Fill(JumpTablePlan {
        map: map.name.clone(),
        slots,
    }))
}

/// Puts every planned program into its slot.
pub fn fill(ebpf: &mut Ebpf, plan: &JumpTablePlan) -> Result<(), JumpTableError> {
    for slot in &plan.slots {
        // A clone of the fd, so the program borrow ends before the map's begins.
        let fd = ebpf
            .program(&slot.program)
            .and_then(|p| <&Xdp>::try_from(p).ok())
            .and_then(|p| p.fd().ok())
            .and_then(|fd| fd.try_clone().ok())
            .ok_or_else(|| JumpTableError::NotLoaded {
                program: slot.program.clone(),
            })?;
        let map = ebpf
            .map_mut(&plan.map)
            .ok_or_else(|| JumpTableError::NoSuchMap {
                name: plan.map.clone(),
                available: String::new(),
            })?;
        let fill_err = |source| JumpTableError::Fill {
            map: plan.map.clone(),
            slot: slot.slot,
            program: slot.program.clone(),
            source,
        };
        ProgramArray::try_from(map)
            .map_err(fill_err)?
            .set(slot.slot, &fd, 0)
            .map_err(fill_err)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::elf::{map_type_name, MapSummary, ProgramSummary};
    use aya_obj::generated::bpf_map_type::{self, BPF_MAP_TYPE_HASH};

    fn object(progs: &[&str], maps: &[(&str, bpf_map_type, u32)]) -> ObjectSummary {
        ObjectSummary {
            license: "GPL".into(),
            programs: progs
                .iter()
                .map(|name| ProgramSummary {
                    name: (*name).into(),
                    section: "xdp".into(),
                    xdp: true,
                    frags: false,
                    instructions: 2,
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
                    global_data: false,
                })
                .collect(),
            needs_kernel_btf: false,
        }
    }

    #[test]
    fn entry_and_slots_follow_the_naming_convention() {
        let obj = object(
            &["fw_2", "fw", "fw_1"],
            &[("jmp_map", BPF_MAP_TYPE_PROG_ARRAY, 4)],
        );
        let entry = entry_program(&obj, None).unwrap();
        assert_eq!(entry, "fw");
        let JumpTable::Fill(plan) = plan(&obj, &entry, None).unwrap() else {
            panic!("expected a plan")
        };
        let slots: Vec<_> = plan
            .slots
            .iter()
            .map(|s| (s.slot, s.program.as_str()))
            .collect();
        assert_eq!(slots, [(2, "fw_2"), (1, "fw_1")]);
    }

    #[test]
    fn the_only_prog_array_is_used_when_jmp_map_is_absent() {
        let obj = object(&["a", "a_0"], &[("tails", BPF_MAP_TYPE_PROG_ARRAY, 1)]);
        let JumpTable::Fill(plan) = plan(&obj, "a", None).unwrap() else {
            panic!("expected a plan")
        };
        assert_eq!(plan.map, "tails");
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
            plan(&obj, "fw", None).unwrap_err().to_string(),
            "program fw_9 wants slot 9 of jmp_map, which has 4 slots"
        );
        assert_eq!(
            plan(&obj, "fw", Some("nope")).unwrap_err().to_string(),
            "no map named nope (maps: jmp_map, h)"
        );
        assert_eq!(
            plan(&obj, "fw", Some("h")).unwrap_err().to_string(),
            "map h is a hash, not a prog_array"
        );
        assert_eq!(
            entry_program(&obj, Some("other")).unwrap_err().to_string(),
            "no XDP program named other (XDP programs: fw, fw_9)"
        );
        let two = object(&["a", "b"], &[]);
        assert_eq!(
            entry_program(&two, None).unwrap_err().to_string(),
            "several entry programs (a, b): choose one with --prog NAME"
        );
    }

    #[test]
    fn no_prog_array_is_skipped_and_said() {
        let obj = object(&["solo"], &[]);
        assert_eq!(
            plan(&obj, "solo", None).unwrap(),
            JumpTable::Skipped {
                reason: "the object has no prog array".into()
            }
        );
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
