//! Linking an object's kernel symbols (`extern … __ksym`) for this kernel,
//! as libbpf does (`bpf_object__resolve_externs`,
//! `bpf_object__relocate_data`), in the bytes handed to aya, which links
//! none:
//!
//! - A call to a kfunc in vmlinux becomes the kernel's encoding of a kfunc
//!   call: `src_reg` BPF_PSEUDO_KFUNC_CALL, `imm` the function's BTF id,
//!   `off` 0 (vmlinux's BTF needs no fd_array slot).
//! - A `__weak` kfunc this kernel lacks: its calls become a call of a helper
//!   that does not exist (libbpf's "poison"), which the verifier refuses only
//!   where it is reachable; `bpf_ksym_exists()` (a 64-bit load of the
//!   kfunc's address) reads 0 for it and 1 for a kfunc that is there, so the
//!   guarded call is dead code the verifier never walks.
//! - A typed variable (`extern const int bpf_prog_active __ksym`): its
//!   64-bit load becomes the verifier's BPF_PSEUDO_BTF_ID load of vmlinux's
//!   VAR (per-CPU ones then go through `bpf_this_cpu_ptr()`). An untyped one
//!   (`extern const void sym __ksym`) loads its kallsyms address; a `__weak`
//!   variable the kernel lacks loads 0.
//! - The BTF that clang writes for them would be refused, by aya (a `.ksyms`
//!   DATASEC of no size) or by the kernel (functions and variables of
//!   `extern` linkage): the DATASEC becomes an anonymous struct with a
//!   member per symbol, each extern function a typedef of its prototype,
//!   each extern variable an allocated one. All keep their size in bytes and
//!   their type ids, so nothing else in the BTF moves.
//!
//! The relocations against the kfunc symbols stay: aya skips relocations
//! whose symbol is in no section, and it relocates calls only where
//! `src_reg` says BPF_PSEUDO_CALL.

use object::{
    read::elf::ElfFile64, Endianness, Object as _, ObjectSection as _, ObjectSymbol as _,
    RelocationTarget,
};

use super::{
    btf_raw::{self, KIND_DATASEC, KIND_FUNC, KIND_INT, KIND_STRUCT, KIND_TYPEDEF, KIND_VAR},
    malformed,
    map_defs::u32_at,
    ElfError,
};
use crate::ksyms::{Ksym, KsymPlace};

/// linux/bpf.h
const BPF_CALL_INSN: u8 = 0x85; // BPF_JMP | BPF_CALL
const BPF_LD_IMM64: u8 = 0x18; // BPF_LD | BPF_IMM | BPF_DW
const BPF_PSEUDO_KFUNC_CALL: u8 = 2;
const BPF_PSEUDO_BTF_ID: u8 = 3;
/// The helper id libbpf calls a missing weak kfunc with: no helper has it,
/// and the verifier's "invalid func unknown#2002000000" says which.
pub const POISONED_KFUNC_CALL: i32 = 2_002_000_000;

/// A BTF FUNC's linkage (linux/btf.h): declared, defined elsewhere.
const FUNC_EXTERN: u32 = 2;
/// A BTF VAR's linkages (linux/btf.h).
const VAR_GLOBAL_ALLOCATED: u32 = 1;
const VAR_EXTERN: u32 = 2;

/// `data` with every call of `kfuncs` linked (each resolved on this kernel:
/// in vmlinux, or missing and `__weak`; the loader refuses the others
/// before it gets here).
pub fn link(data: &[u8], kfuncs: &[Ksym]) -> Result<Vec<u8>, ElfError> {
    let elf = ElfFile64::<Endianness>::parse(data).map_err(malformed)?;
    if elf.endian() != Endianness::Little {
        return Err(malformed(
            "kfunc calls are linked in little-endian objects only",
        ));
    }
    let mut out = data.to_vec();
    for section in elf.sections() {
        if section.kind() != object::SectionKind::Text {
            continue;
        }
        let Some((start, size)) = section.file_range() else {
            continue;
        };
        for (offset, relocation) in section.relocations() {
            let RelocationTarget::Symbol(index) = relocation.target() else {
                continue;
            };
            let Some(name) = elf
                .symbol_by_index(index)
                .ok()
                .and_then(|s| s.name().ok().map(str::to_owned))
            else {
                continue;
            };
            let Some(kfunc) = kfuncs.iter().find(|k| k.name == name) else {
                continue;
            };
            if offset + 8 > size {
                return Err(malformed(format!(
                    "a relocation of {name} past its section"
                )));
            }
            let at = (start + offset) as usize;
            patch(&mut out, at, kfunc)?;
        }
    }
    btf_without_extern_functions(&mut out, &elf)?;
    Ok(out)
}

/// The instruction at `at` that refers to `ksym`.
fn patch(out: &mut [u8], at: usize, ksym: &Ksym) -> Result<(), ElfError> {
    let wide = out.get(at) == Some(&BPF_LD_IMM64);
    let insn = out
        .get_mut(at..at + if wide { 16 } else { 8 })
        .ok_or_else(|| malformed(format!("{}: an instruction past the end", ksym.name)))?;
    let set_imm = |insn: &mut [u8], imm: i32| insn[4..8].copy_from_slice(&imm.to_le_bytes());
    // regs: dst in the low nibble, src in the high one (little-endian).
    let dst = insn[1] & 0x0f;
    match (insn[0], ksym.variable, &ksym.place) {
        (BPF_CALL_INSN, None, place) => {
            insn[2..4].fill(0);
            match place {
                KsymPlace::Vmlinux { btf_id } => {
                    insn[1] = dst | (BPF_PSEUDO_KFUNC_CALL << 4);
                    set_imm(insn, *btf_id as i32);
                }
                _ => {
                    insn[1] = dst;
                    set_imm(insn, POISONED_KFUNC_CALL);
                }
            }
        }
        // bpf_ksym_exists() of a kfunc: only whether it is there is read.
        (BPF_LD_IMM64, None, place) => {
            insn[1] = dst;
            set_imm(insn, i32::from(matches!(place, KsymPlace::Vmlinux { .. })));
            set_imm(&mut insn[8..], 0);
        }
        // A typed variable: the verifier's pointer to vmlinux's BTF VAR (the
        // second half's imm: the BTF object's fd, 0 for vmlinux).
        (BPF_LD_IMM64, Some(_), KsymPlace::Vmlinux { btf_id }) => {
            insn[1] = dst | (BPF_PSEUDO_BTF_ID << 4);
            set_imm(insn, *btf_id as i32);
            set_imm(&mut insn[8..], 0);
        }
        // An untyped variable: its address; a __weak one the kernel lacks: 0.
        (BPF_LD_IMM64, Some(_), place) => {
            let address = match place {
                KsymPlace::Kallsyms { address } => *address,
                _ => 0,
            };
            insn[1] = dst;
            set_imm(insn, address as u32 as i32);
            set_imm(&mut insn[8..], (address >> 32) as u32 as i32);
        }
        (code, _, _) => {
            return Err(malformed(format!(
                "{} is used by an instruction (opcode {code:#04x}) that is neither a call of a kfunc nor a 64-bit load",
                ksym.name
            )))
        }
    }
    Ok(())
}

/// See the module's comment: the `.ksyms` DATASEC and the extern functions
/// rewritten in place.
fn btf_without_extern_functions(
    out: &mut [u8],
    elf: &ElfFile64<'_, Endianness>,
) -> Result<(), ElfError> {
    let Some(section) = elf.section_by_name(".BTF") else {
        return Ok(());
    };
    let (start, size) = section
        .file_range()
        .ok_or_else(|| malformed(".BTF: no data"))?;
    let btf = out
        .get_mut(start as usize..(start + size) as usize)
        .ok_or_else(|| malformed(".BTF: past the end of the file"))?;
    let (types, strings) = btf_raw::layout(btf, Endianness::Little)?;
    let strings = btf[strings].to_vec();
    let types = &mut btf[types];
    let name = |offset: u32| -> &[u8] {
        let s = strings.get(offset as usize..).unwrap_or_default();
        &s[..s.iter().position(|b| *b == 0).unwrap_or(s.len())]
    };
    let index = btf_raw::types(types, Endianness::Little)?;
    // In bounds: btf_types walked every type's header and trailing data.
    let get = |types: &[u8], at: usize| u32_at(types, at, Endianness::Little).unwrap_or(0);
    let put =
        |types: &mut [u8], at: usize, v: u32| types[at..at + 4].copy_from_slice(&v.to_le_bytes());
    // Type ids start at 1; the members' type: an int of 4 bytes.
    let int = index
        .iter()
        .position(|(kind, at)| *kind == KIND_INT && get(types, at + 8) == 4)
        .map(|i| i as u32 + 1);
    for &(kind, at) in &index {
        let info = get(types, at + 4);
        if kind == KIND_FUNC && info & 0xffff == FUNC_EXTERN {
            put(types, at + 4, KIND_TYPEDEF << 24);
        } else if kind == KIND_VAR && get(types, at + 12) == VAR_EXTERN {
            // The kernel takes static and allocated variables of a sized
            // type only (an untyped one is `const void`); as libbpf does,
            // each becomes an allocated int. The verifier reads the type
            // from vmlinux's BTF, not from these.
            let int =
                int.ok_or_else(|| malformed(".BTF: no 4-byte int for the .ksyms variables"))?;
            put(types, at + 8, int);
            put(types, at + 12, VAR_GLOBAL_ALLOCATED);
        } else if kind == KIND_DATASEC && name(get(types, at)) == b".ksyms" {
            let vlen = info & 0xffff;
            let int = int.ok_or_else(|| malformed(".BTF: no 4-byte int for the .ksyms members"))?;
            put(types, at, 0);
            put(types, at + 4, (KIND_STRUCT << 24) | vlen);
            put(types, at + 8, 4 * vlen);
            for i in 0..vlen as usize {
                // { type, offset, size } becomes { name_off, type, bit offset }.
                let entry = at + 12 + 12 * i;
                let referred = get(types, entry) as usize;
                let member_name = referred
                    .checked_sub(1)
                    .and_then(|i| index.get(i))
                    .map_or(0, |&(_, at)| get(types, at));
                put(types, entry, member_name);
                put(types, entry + 4, int);
                put(types, entry + 8, 32 * i as u32);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The instructions of `data` that the relocations of `symbol` point at.
    fn insns_of(data: &[u8], symbol: &str) -> Vec<[u8; 16]> {
        let elf = ElfFile64::<Endianness>::parse(data).unwrap();
        let mut found = Vec::new();
        for section in elf.sections() {
            let Some((start, _)) = section.file_range() else {
                continue;
            };
            // Code only: the debug sections refer to the symbols too.
            if section.kind() != object::SectionKind::Text {
                continue;
            }
            for (offset, relocation) in section.relocations() {
                let RelocationTarget::Symbol(index) = relocation.target() else {
                    continue;
                };
                if elf.symbol_by_index(index).unwrap().name().unwrap() == symbol {
                    let at = (start + offset) as usize;
                    found.push(data[at..at + 16].try_into().unwrap());
                }
            }
        }
        found
    }

    #[test]
    fn calls_get_the_kfunc_encoding_and_a_missing_weak_one_is_poisoned_and_reads_0() {
        let data = std::fs::read(testkit::kern_object("tests/kfunc_dynptr.elf")).unwrap();
        let kfunc = |name: &str, weak, place| Ksym {
            name: name.into(),
            variable: None,
            weak,
            place,
        };
        let linked = link(
            &data,
            &[
                kfunc(
                    "bpf_dynptr_from_xdp",
                    false,
                    KsymPlace::Vmlinux { btf_id: 70001 },
                ),
                kfunc(
                    "bpf_dynptr_slice",
                    false,
                    KsymPlace::Vmlinux { btf_id: 70002 },
                ),
                kfunc(
                    "bpf_xdploader_made_up",
                    true,
                    KsymPlace::Missing { needs: None },
                ),
            ],
        )
        .unwrap();
        for (name, id) in [("bpf_dynptr_from_xdp", 70001), ("bpf_dynptr_slice", 70002)] {
            let calls = insns_of(&linked, name);
            assert_eq!(calls.len(), 1, "{name}");
            assert_eq!(calls[0][0], BPF_CALL_INSN);
            assert_eq!(calls[0][1] >> 4, BPF_PSEUDO_KFUNC_CALL);
            assert_eq!(i32::from_le_bytes(calls[0][4..8].try_into().unwrap()), id);
        }
        // bpf_ksym_exists() (a 64-bit load) reads 0; the call is poisoned.
        let weak = insns_of(&linked, "bpf_xdploader_made_up");
        let load = weak.iter().find(|i| i[0] == BPF_LD_IMM64).unwrap();
        assert_eq!(
            (load[1] >> 4, &load[4..8], &load[12..16]),
            (0, &[0u8; 4][..], &[0u8; 4][..])
        );
        let call = weak.iter().find(|i| i[0] == BPF_CALL_INSN).unwrap();
        assert_eq!(call[1] >> 4, 0);
        assert_eq!(
            i32::from_le_bytes(call[4..8].try_into().unwrap()),
            POISONED_KFUNC_CALL
        );
        // aya's BTF fixups (what refused the .ksyms DATASEC) take it now,
        // with every BTF feature of a recent kernel, and without them.
        for all in [true, false] {
            let features = aya_obj::btf::BtfFeatures::new(all, all, all, all, all, all, all, all);
            let mut object = aya_obj::Object::parse(&linked).unwrap();
            assert!(object.fixup_and_sanitize_btf(&features).is_ok());
            let mut unlinked = aya_obj::Object::parse(&data).unwrap();
            assert!(unlinked.fixup_and_sanitize_btf(&features).is_err() || !all);
        }
    }

    #[test]
    fn variables_load_their_btf_id_or_address_and_a_missing_weak_one_reads_0() {
        use crate::elf::KsymVariable::{Typed, Untyped};
        let data = std::fs::read(testkit::kern_object("tests/ksyms.elf")).unwrap();
        let ksym = |name: &str, variable, weak, place| Ksym {
            name: name.into(),
            variable: Some(variable),
            weak,
            place,
        };
        let address: u64 = 0xffff_ffff_814e_6d30;
        let linked = link(
            &data,
            &[
                ksym(
                    "bpf_prog_active",
                    Typed,
                    false,
                    KsymPlace::Vmlinux { btf_id: 13793 },
                ),
                ksym(
                    "bpf_prog_put",
                    Untyped,
                    false,
                    KsymPlace::Kallsyms { address },
                ),
                ksym(
                    "bpf_xdploader_made_up_var",
                    Typed,
                    true,
                    KsymPlace::Missing { needs: None },
                ),
            ],
        )
        .unwrap();
        let load = |name: &str| {
            let insns = insns_of(&linked, name);
            assert_eq!(insns.len(), 1, "{name}");
            assert_eq!(insns[0][0], BPF_LD_IMM64, "{name}");
            let imm = |at: usize| u32::from_le_bytes(insns[0][at..at + 4].try_into().unwrap());
            (insns[0][1] >> 4, imm(4), imm(12))
        };
        // The verifier's typed load: vmlinux's VAR id, BTF object fd 0.
        assert_eq!(load("bpf_prog_active"), (BPF_PSEUDO_BTF_ID, 13793, 0));
        assert_eq!(
            load("bpf_prog_put"),
            (0, address as u32, (address >> 32) as u32)
        );
        assert_eq!(load("bpf_xdploader_made_up_var"), (0, 0, 0));
    }
}
