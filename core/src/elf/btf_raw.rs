//! A `.BTF` section's raw layout, for the rewriters that edit it in place
//! ([`super::compat`], [`super::kfunc_link`]): where its types and strings
//! are, and where each type starts. Reading BTF as types is btfparse's and
//! aya_obj's; these only find the bytes to change.

use std::ops::Range;

use object::Endianness;

use super::{malformed, map_defs::u32_at, ElfError};

/// BTF kinds (linux/btf.h).
pub(super) const KIND_INT: u32 = 1;
pub(super) const KIND_PTR: u32 = 2;
pub(super) const KIND_ARRAY: u32 = 3;
pub(super) const KIND_STRUCT: u32 = 4;
pub(super) const KIND_TYPEDEF: u32 = 8;
pub(super) const KIND_VOLATILE: u32 = 9;
pub(super) const KIND_CONST: u32 = 10;
pub(super) const KIND_RESTRICT: u32 = 11;
pub(super) const KIND_FUNC: u32 = 12;
pub(super) const KIND_VAR: u32 = 14;
pub(super) const KIND_DATASEC: u32 = 15;
pub(super) const KIND_TYPE_TAG: u32 = 18;

/// Where a `.BTF` section's types and strings are, as ranges of `btf`:
/// `struct btf_header { u16 magic; u8 version, flags; u32 hdr_len,
/// type_off, type_len, str_off, str_len; }`, the offsets after the header.
pub(super) fn layout(
    btf: &[u8],
    endian: Endianness,
) -> Result<(Range<usize>, Range<usize>), ElfError> {
    let field = |at| {
        u32_at(btf, at, endian)
            .map(|v| v as usize)
            .ok_or_else(|| malformed(".BTF: truncated header"))
    };
    let hdr_len = field(4)?;
    let types = hdr_len + field(8)?..hdr_len + field(8)? + field(12)?;
    let strings = hdr_len + field(16)?..hdr_len + field(16)? + field(20)?;
    if types.end > btf.len() {
        return Err(malformed(".BTF: type section past its end"));
    }
    if strings.end > btf.len() {
        return Err(malformed(".BTF: string section past its end"));
    }
    Ok((types, strings))
}

/// The BTF types of a type section, each as (kind, byte offset in the
/// section); type id N is entry N - 1. Every entry's header and trailing
/// data are in bounds.
pub(super) fn types(types: &[u8], endian: Endianness) -> Result<Vec<(u32, usize)>, ElfError> {
    let mut found = Vec::new();
    let mut at = 0;
    while at < types.len() {
        let info = u32_at(types, at + 4, endian)
            .ok_or_else(|| malformed(".BTF: a type past the end of its section"))?;
        let (kind, vlen) = ((info >> 24) & 0x1f, (info & 0xffff) as usize);
        // After the 12-byte common header, what each kind carries.
        let extra = match kind {
            1 | 14 | 17 => 4,             // INT, VAR, DECL_TAG
            3 => 12,                      // ARRAY
            4 | 5 | 15 | 19 => 12 * vlen, // STRUCT, UNION, DATASEC, ENUM64
            6 | 13 => 8 * vlen,           // ENUM, FUNC_PROTO
            2 | 7..=12 | 16 | 18 => 0,
            other => return Err(malformed(format!(".BTF: unknown type kind {other}"))),
        };
        found.push((kind, at));
        at += 12 + extra;
    }
    if at > types.len() {
        return Err(malformed(".BTF: a type past the end of its section"));
    }
    Ok(found)
}

/// The NUL-terminated string at `off` of a BTF string section.
pub(super) fn string_at(strings: &[u8], off: usize) -> Option<&str> {
    let rest = strings.get(off..)?;
    let end = rest.iter().position(|b| *b == 0)?;
    std::str::from_utf8(&rest[..end]).ok()
}

/// What a `.ksyms` entry is (clang records every `extern … __ksym` there).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum KsymKind {
    /// A FUNC: a kfunc.
    Function,
    /// A VAR of a type (`extern const int bpf_prog_active __ksym`): vmlinux's
    /// BTF has it.
    Typed,
    /// A VAR of `void` (`extern const void sym __ksym`): an address, from
    /// kallsyms.
    Untyped,
}

/// The entries of the `.ksyms` DATASEC of `btf`, by name.
pub(super) fn ksyms(btf: &[u8], endian: Endianness) -> Result<Vec<(String, KsymKind)>, ElfError> {
    let (types, strings) = layout(btf, endian)?;
    let (types, strings) = (&btf[types], &btf[strings]);
    let index = self::types(types, endian)?;
    // In bounds: types() walked every type's header and trailing data.
    let get = |at: usize| u32_at(types, at, endian).unwrap_or(0);
    let entry = |id: u32| index.get((id as usize).checked_sub(1)?).copied();
    let mut found = Vec::new();
    for &(kind, at) in &index {
        if kind != KIND_DATASEC || string_at(strings, get(at) as usize) != Some(".ksyms") {
            continue;
        }
        for member in (0..(get(at + 4) & 0xffff) as usize).map(|i| at + 12 + 12 * i) {
            let Some((kind, var)) = entry(get(member)) else {
                continue;
            };
            let Some(name) = string_at(strings, get(var) as usize) else {
                continue;
            };
            let ksym = match kind {
                KIND_FUNC => KsymKind::Function,
                KIND_VAR => {
                    // Past const and volatile: void (id 0) or a type.
                    let mut id = get(var + 8);
                    for _ in 0..8 {
                        match entry(id) {
                            Some((KIND_CONST | KIND_VOLATILE, at)) => id = get(at + 8),
                            _ => break,
                        }
                    }
                    if id == 0 {
                        KsymKind::Untyped
                    } else {
                        KsymKind::Typed
                    }
                }
                _ => continue,
            };
            found.push((name.to_owned(), ksym));
        }
    }
    Ok(found)
}
