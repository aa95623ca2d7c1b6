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

#[cfg(test)]
mod tests {
    use super::aya_section_name;

    #[test]
    fn old_xdp_section_names_map_to_what_aya_accepts() {
        assert_eq!(aya_section_name("xdp/firewall"), Some("xdp"));
        assert_eq!(aya_section_name("xdp_ingress"), Some("xdp"));
        assert_eq!(aya_section_name("xdp.frags/big"), Some("xdp.frags"));
        for kept in [
            "xdp",
            "xdp.frags",
            "xdp/devmap",
            "xdp/cpumap",
            "xdp/",
            "xdp_",
            "tc",
            "xdpx",
        ] {
            assert_eq!(aya_section_name(kept), None, "{kept}");
        }
    }
}
