//! The bytes handed to aya: the object, with the few things aya 0.14 would
//! refuse or misread rewritten, and nothing else changed.
//!
//! - Section names `xdp/<name>`, `xdp_<name>` (older tutorials, iproute2)
//!   become `xdp`, `xdp.frags/<name>` becomes `xdp.frags`: aya accepts only
//!   those (and `xdp/devmap`, `xdp/cpumap`, left alone). The new names go in
//!   a copy of the string table appended to the file, because section and
//!   symbol names share one table in LLVM objects, and a function is often
//!   named like its section.
//! - Legacy map definitions: the bytes after the five u32 are zeroed, because
//!   aya reads them as its own `id` and `pinning` (iproute2's pinning 2 is not
//!   a value of aya's enum); where to pin was read by [`super::map_defs`].
//! - A declarative prog array's `values` member is renamed in BTF, so aya
//!   skips it instead of aborting (it expects map-in-map values there); the
//!   loader fills those slots itself.
//! - The BTF.ext function and line records of renamed sections, and of the
//!   sections already called what they become, are given the empty section
//!   name: aya looks them up by the ELF section name, and those sections now
//!   share one, so it would hand one section's source lines to another's
//!   program (wrong lines, or the verifier's "Invalid insn code at
//!   line_info[N].insn_off"). Those programs load without source lines
//!   rather than with wrong ones (aya 0.14 cannot tell the sections apart).

use std::ops::Range;

use object::{
    elf::SectionHeader64,
    read::elf::{ElfFile64, FileHeader as _},
    Endianness, Object as _, ObjectSection as _,
};

use super::ElfError;

/// What must change for aya.
#[derive(Debug, Default)]
pub(super) struct Rewrites {
    /// Section index → the name aya accepts.
    pub renames: Vec<(usize, &'static str)>,
    /// File ranges to zero.
    pub zero: Vec<Range<usize>>,
    /// Hide BTF `values` members from aya.
    pub hide_btf_values: bool,
}

/// The name aya accepts for an XDP section it would refuse, if any.
/// What a program section aya does not know is renamed to: a type aya
/// parses, and that a loader of XDP programs never loads.
pub(super) const NOT_LOADED_SECTION: &str = "socket";

pub(super) fn aya_section_name(name: &str) -> Option<&'static str> {
    // What aya 0.14 takes as it is.
    const ACCEPTED: [&str; 6] = [
        "xdp",
        "xdp.frags",
        "xdp/devmap",
        "xdp/cpumap",
        "xdp.frags/devmap",
        "xdp.frags/cpumap",
    ];
    if ACCEPTED.contains(&name) || !name.starts_with("xdp") {
        return None;
    }
    // Any other section starting with "xdp" is an XDP program, as the old
    // samples/bpf loader (bpf_load.c) took it: xdp/foo, xdp_foo, xdp1, xdp_prog.
    Some(if name.starts_with("xdp.frags") {
        "xdp.frags"
    } else {
        "xdp"
    })
}

impl Rewrites {
    pub fn is_empty(&self) -> bool {
        self.renames.is_empty() && self.zero.is_empty() && !self.hide_btf_values
    }

    /// Applies the rewrites to a copy of `data`.
    pub fn apply(&self, data: &[u8], elf: &ElfFile64<'_, Endianness>) -> Result<Vec<u8>, ElfError> {
        let malformed = |reason: &str| ElfError::Malformed {
            reason: reason.to_owned(),
        };
        let mut out = data.to_vec();
        for range in &self.zero {
            out.get_mut(range.clone())
                .ok_or_else(|| malformed("map definition past the end of the file"))?
                .fill(0);
        }
        if self.hide_btf_values {
            hide_btf_values(&mut out, elf)?;
        }
        if !self.renames.is_empty() {
            // The renamed sections, and the sections already called what
            // they are renamed to: all of them share one name for aya.
            let mut shared: Vec<&str> = self
                .renames
                .iter()
                .filter_map(|(index, _)| {
                    elf.section_by_index(object::SectionIndex(*index))
                        .ok()
                        .and_then(|s| s.name().ok())
                })
                .collect();
            shared.extend(self.renames.iter().map(|(_, new)| *new));
            unname_btf_ext(&mut out, elf, &shared)?;
            rename_sections(&mut out, elf, &self.renames)?;
        }
        Ok(out)
    }
}

/// Appends a copy of the section-name string table plus the new names, and
/// points the table's header and the renamed sections at it.
fn rename_sections(
    out: &mut Vec<u8>,
    elf: &ElfFile64<'_, Endianness>,
    renames: &[(usize, &'static str)],
) -> Result<(), ElfError> {
    let malformed = |reason: String| ElfError::Malformed { reason };
    let endian = elf.endian();
    let header = elf.elf_header();
    let shstrndx = header
        .shstrndx(endian, elf.data())
        .map_err(|e| malformed(e.to_string()))? as usize;
    let strtab = elf
        .section_by_index(object::SectionIndex(shstrndx))
        .and_then(|s| s.data())
        .map_err(|e| malformed(e.to_string()))?;

    let mut table = strtab.to_vec();
    let mut name_offsets = Vec::new();
    for (index, name) in renames {
        name_offsets.push((*index, table.len() as u32));
        table.extend_from_slice(name.as_bytes());
        table.push(0);
    }
    // Section headers are 8-byte aligned; keep the table after them tidy too.
    while !out.len().is_multiple_of(8) {
        out.push(0);
    }
    let table_offset = out.len() as u64;
    out.extend_from_slice(&table);

    let shoff = header.e_shoff(endian) as usize;
    let shnum = header
        .shnum(endian, elf.data())
        .map_err(|e| malformed(e.to_string()))?;
    let headers = out
        .get_mut(shoff..)
        .and_then(|bytes| {
            object::pod::slice_from_bytes_mut::<SectionHeader64<Endianness>>(bytes, shnum)
                .ok()
                .map(|(h, _)| h)
        })
        .ok_or_else(|| malformed("section headers past the end of the file".into()))?;
    let strtab_header = &mut headers[shstrndx];
    strtab_header.sh_offset.set(endian, table_offset);
    strtab_header.sh_size.set(endian, table.len() as u64);
    for (index, offset) in name_offsets {
        headers[index].sh_name.set(endian, offset);
    }
    Ok(())
}

/// Renames every BTF string "values" to "_alues" (same length, still a valid
/// identifier): aya then skips the member as unknown.
fn hide_btf_values(out: &mut [u8], elf: &ElfFile64<'_, Endianness>) -> Result<(), ElfError> {
    let malformed = |reason: &str| ElfError::Malformed {
        reason: format!(".BTF: {reason}"),
    };
    let section = elf
        .section_by_name(".BTF")
        .ok_or_else(|| malformed("missing"))?;
    let (start, size) = section.file_range().ok_or_else(|| malformed("no data"))?;
    let btf = out
        .get_mut(start as usize..(start + size) as usize)
        .ok_or_else(|| malformed("past the end of the file"))?;
    let field = |at| super::map_defs::u32_at(btf, at, elf.endian()).map(|v| v as usize);
    // struct btf_header { u16 magic; u8 version, flags; u32 hdr_len, type_off, type_len, str_off, str_len; }
    let (Some(hdr_len), Some(str_off), Some(str_len)) = (field(4), field(16), field(20)) else {
        return Err(malformed("truncated header"));
    };
    let strings = btf
        .get_mut(hdr_len + str_off..hdr_len + str_off + str_len)
        .ok_or_else(|| malformed("string section past its end"))?;
    let mut at = 0;
    while let Some(end) = strings[at..].iter().position(|b| *b == 0).map(|p| at + p) {
        if &strings[at..end] == b"values" {
            strings[at] = b'_';
        }
        at = end + 1;
    }
    Ok(())
}

/// Points the BTF.ext func_info and line_info records of the sections named
/// `renamed` at the empty name (string offset 0), so aya never hands them to
/// another section's programs. Objects without BTF.ext are left alone.
fn unname_btf_ext(
    out: &mut [u8],
    elf: &ElfFile64<'_, Endianness>,
    renamed: &[&str],
) -> Result<(), ElfError> {
    let malformed = |reason: &str| ElfError::Malformed {
        reason: format!(".BTF.ext: {reason}"),
    };
    let (Some(btf), Some(ext)) = (elf.section_by_name(".BTF"), elf.section_by_name(".BTF.ext"))
    else {
        return Ok(());
    };
    let endian = elf.endian();
    let u32_at =
        |data: &[u8], at: usize| super::map_defs::u32_at(data, at, endian).map(|v| v as usize);
    // The BTF strings, to read each record group's section name.
    let btf = btf.data().map_err(|_| malformed("no .BTF data"))?;
    let (Some(hdr_len), Some(str_off), Some(str_len)) =
        (u32_at(btf, 4), u32_at(btf, 16), u32_at(btf, 20))
    else {
        return Err(malformed("truncated .BTF header"));
    };
    let strings = btf
        .get(hdr_len + str_off..hdr_len + str_off + str_len)
        .ok_or_else(|| malformed(".BTF strings past their end"))?;
    let name_at = |off: usize| {
        let rest = strings.get(off..)?;
        let end = rest.iter().position(|b| *b == 0)?;
        std::str::from_utf8(&rest[..end]).ok()
    };
    let (start, size) = ext.file_range().ok_or_else(|| malformed("no data"))?;
    let ext = out
        .get_mut(start as usize..(start + size) as usize)
        .ok_or_else(|| malformed("past the end of the file"))?;
    // struct btf_ext_header { u16 magic; u8 version, flags; u32 hdr_len,
    //   func_info_off, func_info_len, line_info_off, line_info_len; ... }
    let (Some(hdr_len), Some(fi_off), Some(fi_len), Some(li_off), Some(li_len)) = (
        u32_at(ext, 4),
        u32_at(ext, 8),
        u32_at(ext, 12),
        u32_at(ext, 16),
        u32_at(ext, 20),
    ) else {
        return Err(malformed("truncated header"));
    };
    for (off, len) in [(fi_off, fi_len), (li_off, li_len)] {
        if len == 0 {
            continue;
        }
        let base = hdr_len + off;
        // u32 rec_size, then groups { u32 sec_name_off, num_info; records }.
        let rec_size = u32_at(ext, base).ok_or_else(|| malformed("truncated records"))?;
        let mut at = base + 4;
        while at + 8 <= base + len {
            let (Some(name_off), Some(count)) = (u32_at(ext, at), u32_at(ext, at + 4)) else {
                return Err(malformed("truncated record group"));
            };
            if name_at(name_off).is_some_and(|n| renamed.contains(&n)) {
                let zero = match endian {
                    Endianness::Little => 0u32.to_le_bytes(),
                    Endianness::Big => 0u32.to_be_bytes(),
                };
                ext.get_mut(at..at + 4)
                    .ok_or_else(|| malformed("record group past its end"))?
                    .copy_from_slice(&zero);
            }
            at += 8 + count
                .checked_mul(rec_size)
                .ok_or_else(|| malformed("record count overflows"))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::aya_section_name;

    #[test]
    fn old_xdp_section_names_map_to_what_aya_accepts() {
        assert_eq!(aya_section_name("xdp/firewall"), Some("xdp"));
        assert_eq!(aya_section_name("xdp_ingress"), Some("xdp"));
        assert_eq!(aya_section_name("xdp.frags/big"), Some("xdp.frags"));
        // samples/bpf's bpf_load.c: any section starting with "xdp".
        assert_eq!(aya_section_name("xdp1"), Some("xdp"));
        assert_eq!(aya_section_name("xdp_prog"), Some("xdp"));
        assert_eq!(aya_section_name("xdpx"), Some("xdp"));
        for kept in [
            "xdp",
            "xdp.frags",
            "xdp/devmap",
            "xdp/cpumap",
            "xdp.frags/devmap",
            "tc",
            "socket",
        ] {
            assert_eq!(aya_section_name(kept), None, "{kept}");
        }
    }
}
