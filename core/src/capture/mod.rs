//! Seeing inside a tail-call chain (`xdploader capture`).
//!
//! No tracing hook sees a tail-called program (fentry/fexit never fire on
//! one, `bpf_stats_enabled` counts the entry only), but the loader owns the
//! jump tables. While a capture runs, every filled slot of the chain's prog
//! arrays holds a recorder that records the frame and tail-calls the real
//! stage, and the interface's pinned link runs a recorder entry that calls
//! the real entry and sees the chain's verdict come back (kern/xdp_capture.c
//! says how). Each swap is one atomic update: a map slot, or BPF_LINK_UPDATE.
//!
//! | module        | what it owns                                                      |
//! |---------------|-------------------------------------------------------------------|
//! | this one      | the chain: which prog arrays and slots a running entry reaches      |
//! | [`recorders`] | putting recorders in and taking them out again (also a dead capture's) |
//! | [`frames`]    | the ring's records, parsed and put together frame by frame         |
//! | [`pcapng`]    | the capture file: an interface per stage, the verdict as a comment |
//! | [`stage_stats`] | per-stage frames, deciding share and time (statswatch --stages) |

pub mod frames;
pub mod pcapng;
pub mod recorders;
pub mod stage_stats;

use std::{
    collections::{HashMap, HashSet},
    os::fd::AsFd as _,
};

use aya::{maps::MapInfo, programs::ProgramInfo};
use serde::Serialize;

/// A prog array's slot, and the program in it, seen as one stage of a chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Stage {
    /// 1, 2, …: the number records carry (0 is the entry's input).
    pub number: u16,
    pub map_id: u32,
    pub map_name: String,
    pub slot: u32,
    pub prog_id: u32,
    pub prog_name: String,
}

impl Stage {
    /// How a user names it: `jmp_table[1] parse_ip`.
    pub fn label(&self) -> String {
        format!("{}[{}] {}", self.map_name, self.slot, self.prog_name)
    }
}

/// What a running entry program reaches through its prog arrays.
#[derive(Clone, Debug, Serialize)]
pub struct Chain {
    pub entry_id: u32,
    pub entry_name: String,
    pub stages: Vec<Stage>,
    /// The most tail calls one frame can make through the chain; None when
    /// a stage can reach itself again (a loop bounded only by the kernel).
    pub longest_path: Option<usize>,
}

/// A program's kernel facts, looked up by id.
pub(crate) fn program_info(id: u32) -> Option<ProgramInfo> {
    aya::programs::loaded_programs()
        .flatten()
        .find(|p| p.id() == id)
}

pub(crate) fn program_name(id: u32) -> String {
    program_info(id)
        .and_then(|p| p.name_as_str().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned())
}

/// The prog arrays among `prog_id`'s maps, with their ids and names.
fn prog_arrays_of(prog_id: u32) -> Vec<MapInfo> {
    let Some(ids) = program_info(prog_id).and_then(|p| p.map_ids().ok().flatten()) else {
        return Vec::new();
    };
    ids.into_iter()
        .filter_map(|id| MapInfo::from_id(id).ok())
        .filter(|m| {
            m.map_type()
                .is_ok_and(|t| t == aya::maps::MapType::ProgramArray)
        })
        .collect()
}

/// Slot → program id of a prog array (the kernel answers a lookup with the id).
pub(crate) fn slots_of(map: &MapInfo) -> Vec<(u32, u32)> {
    let Ok(fd) = map.fd() else {
        return Vec::new();
    };
    (0..map.max_entries())
        .filter_map(|slot| {
            let mut id = [0u8; 4];
            crate::sys::map_lookup(fd.as_fd(), &slot.to_ne_bytes(), &mut id).ok()?;
            Some((slot, u32::from_ne_bytes(id)))
        })
        .collect()
}

/// The chain that entry program `entry_id` runs: every filled slot of every
/// prog array it reaches, breadth first, each program's arrays after it.
/// `through` names the real program behind a recorder of ours, which is
/// looked through, not listed.
pub fn discover(entry_id: u32, through: impl Fn(u32) -> Option<u32>) -> Chain {
    let mut stages: Vec<Stage> = Vec::new();
    let mut seen_maps = HashSet::new();
    // Program → the programs it can tail-call (for the longest path).
    let mut calls: HashMap<u32, Vec<u32>> = HashMap::new();
    let mut queue = std::collections::VecDeque::from([entry_id]);
    let mut seen_progs = HashSet::from([entry_id]);
    while let Some(prog) = queue.pop_front() {
        let arrays = prog_arrays_of(prog);
        let sites = tail_call_sites(prog);
        let mut callees = Vec::new();
        for map in &arrays {
            let slots: Vec<(u32, u32)> = slots_of(map)
                .into_iter()
                .map(|(slot, id)| (slot, through(id).unwrap_or(id)))
                .collect();
            // The slots this program's tail calls can reach in this array:
            // a constant index names one; without its instructions, all.
            let reached = |slot: u32| {
                sites.as_ref().is_none_or(|sites| {
                    sites.iter().any(|(m, s)| {
                        m.is_none_or(|m| m == map.id()) && s.is_none_or(|s| s == slot)
                    })
                })
            };
            callees.extend(
                slots
                    .iter()
                    .filter(|(slot, _)| reached(*slot))
                    .map(|(_, id)| *id),
            );
            if !seen_maps.insert(map.id()) {
                continue;
            }
            let map_name = map.name_as_str().unwrap_or("?").to_owned();
            for (slot, real) in slots {
                stages.push(Stage {
                    number: u16::try_from(stages.len() + 1).unwrap_or(u16::MAX),
                    map_id: map.id(),
                    map_name: map_name.clone(),
                    slot,
                    prog_id: real,
                    prog_name: program_name(real),
                });
                if seen_progs.insert(real) {
                    queue.push_back(real);
                }
            }
        }
        calls.insert(prog, callees);
    }
    Chain {
        entry_id,
        entry_name: program_name(entry_id),
        longest_path: longest_path(entry_id, &calls),
        stages,
    }
}

/// BPF_FUNC_tail_call.
const TAIL_CALL: i32 = 12;

/// Where `prog_id` tail-calls, read from its instructions: (prog array id,
/// slot) for each call, None where a register rather than a constant says
/// (`bpf_tail_call(ctx, &map, 1)` gives both). None when the kernel does
/// not show the instructions.
fn tail_call_sites(prog_id: u32) -> Option<Vec<(Option<u32>, Option<u32>)>> {
    let fd = crate::sys::prog_fd_by_id(prog_id).ok()?;
    let insns = crate::sys::prog_xlated_insns(fd.as_fd()).ok()?;
    Some(tail_call_sites_in(&insns))
}

fn tail_call_sites_in(insns: &[aya_obj::generated::bpf_insn]) -> Vec<(Option<u32>, Option<u32>)> {
    const LD_IMM64: u8 = 0x18;
    const CALL: u8 = 0x85;
    const PSEUDO_MAP_FD: u8 = 1;
    // The instruction that last set `reg` before `at`, on the straight
    // path back (a branch into the middle is not followed: a guess then).
    let writer = |at: usize, reg: u8| {
        (0..at).rev().find_map(|j| {
            let insn = &insns[j];
            if j > 0 && insns[j - 1].code == LD_IMM64 {
                return None; // the second half of an ld_imm64
            }
            if insn.code == CALL {
                return Some(None); // r1-r5 do not survive a call
            }
            let class = insn.code & 7;
            // LD, LDX, ALU, ALU64 write their destination register.
            (matches!(class, 0 | 1 | 4 | 7) && insn.dst_reg() == reg).then_some(Some(insn))
        })?
    };
    insns
        .iter()
        .enumerate()
        .filter(|(_, i)| i.code == CALL && i.src_reg() == 0 && i.imm == TAIL_CALL)
        .map(|(at, _)| {
            let map = writer(at, 2)
                .filter(|i| i.code == LD_IMM64 && i.src_reg() == PSEUDO_MAP_FD)
                .map(|i| i.imm as u32);
            // mov r3, K (64- or 32-bit).
            let slot = writer(at, 3)
                .filter(|i| i.code == 0xb7 || i.code == 0xb4)
                .map(|i| i.imm as u32);
            (map, slot)
        })
        .collect()
}

/// The most tail calls from `from` along `calls`; None on a cycle.
fn longest_path(from: u32, calls: &HashMap<u32, Vec<u32>>) -> Option<usize> {
    fn walk(
        at: u32,
        calls: &HashMap<u32, Vec<u32>>,
        on_path: &mut HashSet<u32>,
        memo: &mut HashMap<u32, usize>,
    ) -> Option<usize> {
        if let Some(&n) = memo.get(&at) {
            return Some(n);
        }
        if !on_path.insert(at) {
            return None;
        }
        let mut most = 0;
        for &next in calls.get(&at).map(Vec::as_slice).unwrap_or_default() {
            most = most.max(1 + walk(next, calls, on_path, memo)?);
        }
        on_path.remove(&at);
        memo.insert(at, most);
        Some(most)
    }
    walk(from, calls, &mut HashSet::new(), &mut HashMap::new())
}

/// The kernel's limit on tail calls per frame (MAX_TAIL_CALL_CNT).
pub const MAX_TAIL_CALLS: usize = 33;

/// Tail calls a frame makes with recorders in place: one into the real
/// entry, and one more per stage (recorder, then the stage).
pub fn tail_calls_with_recorders(longest_path: usize) -> usize {
    1 + 2 * longest_path
}

#[cfg(test)]
mod tests {
    use super::*;

    fn insn(code: u8, dst: u8, src: u8, imm: i32) -> aya_obj::generated::bpf_insn {
        // SAFETY: plain data, all-zero is valid.
        let mut i: aya_obj::generated::bpf_insn = unsafe { std::mem::zeroed() };
        i.code = code;
        i.set_dst_reg(dst);
        i.set_src_reg(src);
        i.imm = imm;
        i
    }

    #[test]
    fn tail_call_sites_name_the_array_and_a_constant_slot() {
        let insns = [
            insn(0xbf, 1, 6, 0),  // r1 = r6
            insn(0x18, 2, 1, 42), // r2 = map[id:42]
            insn(0, 0, 0, 0),
            insn(0xb7, 3, 0, 2),  // r3 = 2
            insn(0x85, 0, 0, 12), // call bpf_tail_call
            insn(0x61, 3, 6, 0),  // r3 = *(u32 *)(r6 + 0)
            insn(0x18, 2, 1, 42), // r2 = map[id:42]
            insn(0, 0, 0, 0),
            insn(0x85, 0, 0, 12), // call bpf_tail_call: slot from memory
            insn(0x85, 0, 0, 1),  // call bpf_map_lookup_elem
            insn(0x85, 0, 0, 12), // r2 and r3 clobbered by the call before
        ];
        assert_eq!(
            tail_call_sites_in(&insns),
            vec![(Some(42), Some(2)), (Some(42), None), (None, None)]
        );
    }

    #[test]
    fn the_longest_path_counts_tail_calls_and_a_loop_has_none() {
        let calls = HashMap::from([(1, vec![2, 3]), (2, vec![3]), (3, vec![])]);
        assert_eq!(longest_path(1, &calls), Some(2));
        assert_eq!(longest_path(3, &calls), Some(0));
        let looped = HashMap::from([(1, vec![2]), (2, vec![1])]);
        assert_eq!(longest_path(1, &looped), None);
        // 16 stages deep fit in 33 tail calls with recorders; 17 do not.
        assert!(tail_calls_with_recorders(16) <= MAX_TAIL_CALLS);
        assert!(tail_calls_with_recorders(17) > MAX_TAIL_CALLS);
    }
}
