//! The tail calls a program makes, read off its bytecode: `r2 = <map> ll;
//! r3 = <constant>; call bpf_tail_call`. A slot computed at run time shows as
//! unknown; the scan forgets what it knew at every jump target, so a
//! constant from another path is never reported.

use std::collections::{HashMap, HashSet};

use aya_obj::generated::bpf_insn;
use serde::Serialize;

/// `BPF_FUNC_tail_call`.
const TAIL_CALL_HELPER: i32 = 12;

const CLASS_LD: u8 = 0x00;
const CLASS_LDX: u8 = 0x01;
const CLASS_ALU: u8 = 0x04;
const CLASS_JMP: u8 = 0x05;
const CLASS_JMP32: u8 = 0x06;
const CLASS_ALU64: u8 = 0x07;
const LD_IMM64: u8 = 0x18;
const MOV64_IMM: u8 = 0xb7;
const MOV32_IMM: u8 = 0xb4;
const CALL: u8 = 0x85;
const EXIT: u8 = 0x95;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TailCall {
    /// The prog array, when a relocation names it.
    pub map: Option<String>,
    /// The slot, when it is a constant.
    pub slot: Option<u32>,
}

/// Scans `insns`; `reloc_symbol(i)` names the symbol instruction `i` is relocated against.
pub(super) fn scan(
    insns: &[bpf_insn],
    reloc_symbol: impl Fn(usize) -> Option<String>,
) -> Vec<TailCall> {
    let targets: HashSet<usize> = insns
        .iter()
        .enumerate()
        .filter(|(_, insn)| {
            let class = insn.code & 0x07;
            (class == CLASS_JMP || class == CLASS_JMP32) && insn.code != CALL && insn.code != EXIT
        })
        .filter_map(|(i, insn)| (i as i64 + 1).checked_add(i64::from(insn.off)))
        .filter_map(|t| usize::try_from(t).ok())
        .collect();

    let mut regs: HashMap<u8, Value> = HashMap::new();
    let mut calls = Vec::new();
    let mut i = 0;
    while i < insns.len() {
        if targets.contains(&i) {
            regs.clear();
        }
        let insn = &insns[i];
        let dst = insn.dst_reg();
        match insn.code {
            LD_IMM64 => {
                match reloc_symbol(i) {
                    Some(name) => regs.insert(dst, Value::Map(name)),
                    None => regs.remove(&dst),
                };
                i += 1; // the second half of the 16-byte instruction
            }
            MOV64_IMM | MOV32_IMM => {
                regs.insert(dst, Value::Const(insn.imm));
            }
            CALL => {
                if insn.src_reg() == 0 && insn.imm == TAIL_CALL_HELPER {
                    calls.push(TailCall {
                        map: match regs.get(&2) {
                            Some(Value::Map(m)) => Some(m.clone()),
                            _ => None,
                        },
                        slot: match regs.get(&3) {
                            Some(Value::Const(c)) => u32::try_from(*c).ok(),
                            _ => None,
                        },
                    });
                }
                // Calls clobber r0-r5.
                regs.retain(|r, _| *r > 5);
            }
            code if matches!(code & 0x07, CLASS_ALU | CLASS_ALU64 | CLASS_LDX | CLASS_LD) => {
                regs.remove(&dst);
            }
            _ => {}
        }
        i += 1;
    }
    calls
}

#[derive(Debug)]
enum Value {
    Map(String),
    Const(i32),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> bpf_insn {
        bpf_insn {
            code,
            _bitfield_align_1: [],
            _bitfield_1: bpf_insn::new_bitfield_1(dst, src),
            off,
            imm,
        }
    }

    #[test]
    fn a_constant_slot_and_a_relocated_map_are_found() {
        let insns = [
            insn(LD_IMM64, 2, 1, 0, 0),
            insn(0, 0, 0, 0, 0),
            insn(MOV64_IMM, 3, 0, 0, 7),
            insn(CALL, 0, 0, 0, TAIL_CALL_HELPER),
            insn(EXIT, 0, 0, 0, 0),
        ];
        let calls = scan(&insns, |i| (i == 0).then(|| "jmp_map".to_owned()));
        assert_eq!(
            calls,
            [TailCall {
                map: Some("jmp_map".into()),
                slot: Some(7)
            }]
        );
    }

    #[test]
    fn a_slot_loaded_from_memory_or_another_path_is_unknown() {
        let insns = [
            insn(MOV64_IMM, 3, 0, 0, 1),
            insn(0x15, 1, 0, 1, 0), // if r1 == 0 goto +1
            insn(MOV64_IMM, 3, 0, 0, 2),
            insn(CALL, 0, 0, 0, TAIL_CALL_HELPER), // a jump target: r3 is 1 or 2
            insn(0x61, 3, 1, 0, 0),                // r3 = *(u32 *)(r1 + 0)
            insn(CALL, 0, 0, 0, TAIL_CALL_HELPER),
        ];
        let calls = scan(&insns, |_| None);
        assert_eq!(calls.len(), 2);
        assert!(calls.iter().all(|c| c.slot.is_none() && c.map.is_none()));
    }
}
