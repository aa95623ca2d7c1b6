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
//! - A prog array's `values` member is made anonymous in BTF, so aya skips
//!   it instead of aborting (it expects map-in-map values there); the loader
//!   fills those slots itself. A map-in-map's `values` stays for aya.
//! - The program sections that end up with one name (`xdp/a`, `xdp_b` and a
//!   plain `xdp` all become `xdp`) are merged into one section of that
//!   name: their code concatenated, their symbols and relocations moved
//!   along, and their BTF.ext function, line and CO-RE records put under
//!   that one name with their offsets shifted. aya 0.14 looks those records
//!   up by section name, so without the merge it handed one section's
//!   source lines to another's programs (wrong lines, or the verifier's
//!   "Invalid insn code at line_info[N].insn_off"); with it every program
//!   keeps its own lines and its BTF (btf_id, source lines in `bpftool prog
//!   dump xlated linum`, and in the verifier's explanations).

use std::ops::Range;

use object::{
    elf::SectionHeader64,
    read::elf::{ElfFile64, FileHeader as _, SectionHeader as _},
    Endian as _, Endianness, Object as _, ObjectSection as _,
};

use super::{btf_raw, malformed, ElfError};

/// What must change for aya.
#[derive(Debug, Default)]
pub(super) struct Rewrites {
    /// Section index → the name aya accepts.
    pub renames: Vec<(usize, &'static str)>,
    /// File ranges to zero: legacy map definitions' tails, the names of
    /// prog arrays' BTF `values` members.
    pub zero: Vec<Range<usize>>,
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

/// The plain XDP section an `xdp.frags` section becomes on a kernel without
/// multi-buffer XDP (`xdp.frags/<name>` as aya would read it, then plain).
pub(super) fn without_frags(name: &str) -> Option<&'static str> {
    match aya_section_name(name).unwrap_or(name) {
        "xdp.frags" => Some("xdp"),
        "xdp.frags/devmap" => Some("xdp/devmap"),
        "xdp.frags/cpumap" => Some("xdp/cpumap"),
        _ => None,
    }
}

impl Rewrites {
    pub fn is_empty(&self) -> bool {
        self.renames.is_empty() && self.zero.is_empty()
    }

    /// Applies the rewrites to a copy of `data`.
    pub fn apply(&self, data: &[u8], elf: &ElfFile64<'_, Endianness>) -> Result<Vec<u8>, ElfError> {
        let malformed = |reason: &str| ElfError::Malformed {
            reason: reason.to_owned(),
        };
        let mut out = data.to_vec();
        for range in &self.zero {
            out.get_mut(range.clone())
                .ok_or_else(|| malformed("a rewritten range past the end of the file"))?
                .fill(0);
        }
        if !self.renames.is_empty() {
            let mut moved = Vec::new();
            let mut renames = Vec::new();
            for (name, members) in merge_groups(elf, &self.renames) {
                moved.extend(merge_sections(&mut out, elf, name, &members)?);
                // The first member holds the merged code under the new
                // name; the others are emptied and renamed out of the way.
                if self.renames.iter().any(|(i, _)| *i == members[0]) {
                    renames.push((members[0], name));
                }
                renames.extend(members.iter().skip(1).map(|i| (*i, MERGED_AWAY)));
            }
            regroup_btf_ext(&mut out, elf, &moved)?;
            rename_sections(&mut out, elf, &renames)?;
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

/// Where the `.BTF` section's bytes are in the file.
fn btf_range(elf: &ElfFile64<'_, Endianness>) -> Result<Range<usize>, ElfError> {
    let section = elf
        .section_by_name(".BTF")
        .ok_or_else(|| malformed(".BTF: missing"))?;
    let (start, size) = section
        .file_range()
        .ok_or_else(|| malformed(".BTF: no data"))?;
    Ok(start as usize..(start + size) as usize)
}

/// Where the `values` members of maps whose values are programs are, as
/// offsets in the BTF type section: `__array(values, int (void *))`, an
/// array of pointers to a function prototype. aya 0.14 reads any `values`
/// as a map-in-map's inner map and aborts on these ("unexpected BTF type").
/// A map-in-map's `values` (pointers to a struct) is not one of them: aya
/// makes the inner map's template from it.
fn program_values(btf: &[u8], endian: Endianness) -> Result<Vec<usize>, ElfError> {
    use btf_raw::{
        KIND_ARRAY, KIND_CONST, KIND_PTR, KIND_RESTRICT, KIND_STRUCT, KIND_TYPEDEF, KIND_TYPE_TAG,
        KIND_VOLATILE,
    };
    let (types, strings) = btf_raw::layout(btf, endian)?;
    let (types, strings) = (&btf[types], &btf[strings]);
    let index = btf_raw::types(types, endian)?;
    // In bounds: btf_raw::types walked every type's header and trailing data.
    let get = |at: usize| super::map_defs::u32_at(types, at, endian).unwrap_or(0);
    // The kind and offset of type `id`, past typedefs and modifiers.
    let resolve = |mut id: u32| -> Option<(u32, usize)> {
        for _ in 0..32 {
            let &(kind, at) = index.get((id as usize).checked_sub(1)?)?;
            match kind {
                KIND_TYPEDEF | KIND_VOLATILE | KIND_CONST | KIND_RESTRICT | KIND_TYPE_TAG => {
                    id = get(at + 8)
                }
                _ => return Some((kind, at)),
            }
        }
        None
    };
    let mut found = Vec::new();
    for &(_, at) in index.iter().filter(|(kind, _)| *kind == KIND_STRUCT) {
        let members = get(at + 4) & 0xffff;
        for member in (0..members as usize).map(|i| at + 12 + 12 * i) {
            if btf_raw::string_at(strings, get(member) as usize) != Some("values") {
                continue;
            }
            // ARRAY { elem type at +12 } of PTR { type at +8 } to a STRUCT.
            let holds_maps = resolve(get(member + 4))
                .filter(|(kind, _)| *kind == KIND_ARRAY)
                .and_then(|(_, array)| resolve(get(array + 12)))
                .filter(|(kind, _)| *kind == KIND_PTR)
                .and_then(|(_, ptr)| resolve(get(ptr + 8)))
                .is_some_and(|(kind, _)| kind == KIND_STRUCT);
            if !holds_maps {
                found.push(member);
            }
        }
    }
    Ok(found)
}

/// The file ranges of the names of the object's [`program_values`]
/// members: zeroed, they make each member anonymous, so aya skips it as a
/// member it does not know. Only the name goes, which the kernel's BTF
/// checks allow (anonymous members).
pub(super) fn program_value_names(
    elf: &ElfFile64<'_, Endianness>,
) -> Result<Vec<Range<usize>>, ElfError> {
    if elf.section_by_name(".BTF").is_none() {
        return Ok(Vec::new());
    }
    let range = btf_range(elf)?;
    let btf = elf
        .data()
        .get(range.clone())
        .ok_or_else(|| malformed(".BTF: past the end of the file"))?;
    let (types, _) = btf_raw::layout(btf, elf.endian())?;
    let start = range.start + types.start;
    Ok(program_values(btf, elf.endian())?
        .into_iter()
        .map(|member| start + member..start + member + 4)
        .collect())
}

/// What a merged-away program section's code is now: where in the merged
/// section of its new name it starts.
#[derive(Debug)]
struct Moved {
    /// Its name in the file: what its BTF.ext records say.
    from: String,
    /// The name aya sees.
    to: &'static str,
    /// Byte offset of its code in the merged section.
    base: u64,
}

/// The name given to the sections whose code moved into another: aya
/// ignores it (no known prefix, and the section is emptied).
const MERGED_AWAY: &str = ".xdploader.merged";

/// The program sections by the name aya will see them under: the renamed
/// ones, and those already called that, in file order.
fn merge_groups(
    elf: &ElfFile64<'_, Endianness>,
    renames: &[(usize, &'static str)],
) -> Vec<(&'static str, Vec<usize>)> {
    let mut groups: Vec<(&'static str, Vec<usize>)> = Vec::new();
    for section in elf.sections() {
        if section.kind() != object::SectionKind::Text || section.size() == 0 {
            continue;
        }
        let index = section.index().0;
        let new = match renames.iter().find(|(i, _)| *i == index) {
            Some((_, new)) => *new,
            None => {
                let Ok(name) = section.name() else { continue };
                match renames.iter().map(|(_, new)| *new).find(|new| *new == name) {
                    Some(new) => new,
                    None => continue,
                }
            }
        };
        match groups.iter_mut().find(|(n, _)| *n == new) {
            Some((_, members)) => members.push(index),
            None => groups.push((new, vec![index])),
        }
    }
    groups
}

/// The section headers of `out` (the copy being rewritten), mutable.
fn headers_mut<'a>(
    out: &'a mut [u8],
    elf: &ElfFile64<'_, Endianness>,
) -> Result<&'a mut [SectionHeader64<Endianness>], ElfError> {
    let header = elf.elf_header();
    let endian = elf.endian();
    let shoff = header.e_shoff(endian) as usize;
    let shnum = header.shnum(endian, elf.data()).map_err(malformed)?;
    out.get_mut(shoff..)
        .and_then(|bytes| {
            object::pod::slice_from_bytes_mut::<SectionHeader64<Endianness>>(bytes, shnum)
                .ok()
                .map(|(h, _)| h)
        })
        .ok_or_else(|| malformed("section headers past the end of the file"))
}

/// Appends `blob` to `out`, 8-byte aligned; returns its offset.
fn append(out: &mut Vec<u8>, blob: &[u8]) -> u64 {
    while !out.len().is_multiple_of(8) {
        out.push(0);
    }
    let at = out.len() as u64;
    out.extend_from_slice(blob);
    at
}

/// Merges the program sections `members` (file order) into the first one:
/// code concatenated, the others emptied, their relocations and symbols
/// moved with their offsets shifted. Returns where each member's code went.
fn merge_sections(
    out: &mut Vec<u8>,
    elf: &ElfFile64<'_, Endianness>,
    name: &'static str,
    members: &[usize],
) -> Result<Vec<Moved>, ElfError> {
    let endian = elf.endian();
    let mut code = Vec::new();
    let mut moved = Vec::new();
    for &index in members {
        let section = elf
            .section_by_index(object::SectionIndex(index))
            .map_err(malformed)?;
        while !code.len().is_multiple_of(8) {
            code.push(0);
        }
        moved.push(Moved {
            from: section.name().map_err(malformed)?.to_owned(),
            to: name,
            base: code.len() as u64,
        });
        code.extend_from_slice(section.data().map_err(malformed)?);
    }
    let [target, rest @ ..] = members else {
        return Ok(moved);
    };
    if rest.is_empty() {
        return Ok(moved);
    }
    let base_of = |index: usize| {
        members
            .iter()
            .position(|m| *m == index)
            .map(|i| moved[i].base)
    };
    let code_at = append(out, &code);
    {
        let headers = headers_mut(out, elf)?;
        headers[*target].sh_offset.set(endian, code_at);
        headers[*target].sh_size.set(endian, code.len() as u64);
        for &index in rest {
            headers[index].sh_type.set(endian, object::elf::SHT_NOBITS);
            headers[index].sh_size.set(endian, 0);
        }
    }

    // Relocations: one table for the merged section, offsets shifted.
    let original = elf.elf_section_table();
    let mut tables: Vec<(usize, usize)> = Vec::new(); // (rel section, member)
    for (i, header) in original.iter().enumerate() {
        let kind = header.sh_type(endian);
        let info = header.sh_info(endian) as usize;
        if (kind == object::elf::SHT_REL || kind == object::elf::SHT_RELA)
            && members.contains(&info)
        {
            tables.push((i, info));
        }
    }
    if let Some(&(first, _)) = tables.first() {
        let keeper = tables
            .iter()
            .find(|(_, member)| member == target)
            .map_or(first, |(i, _)| *i);
        let entsize = original
            .section(object::SectionIndex(keeper))
            .map_err(malformed)?
            .sh_entsize(endian) as usize;
        if entsize < 16 {
            return Err(malformed("relocation entries smaller than 16 bytes"));
        }
        let mut rels = Vec::new();
        for &member in members {
            for &(table, _) in tables.iter().filter(|(_, m)| *m == member) {
                let header = original
                    .section(object::SectionIndex(table))
                    .map_err(malformed)?;
                let data = header.data(endian, elf.data()).map_err(malformed)?;
                let base = base_of(member).unwrap_or(0);
                for entry in data.chunks_exact(entsize) {
                    let mut entry = entry.to_vec();
                    let offset = super::map_defs::u64_at(&entry, 0, endian)
                        .ok_or_else(|| malformed("truncated relocation"))?;
                    entry[..8].copy_from_slice(&endian.write_u64(offset + base));
                    rels.extend_from_slice(&entry);
                }
            }
        }
        let rels_at = append(out, &rels);
        let headers = headers_mut(out, elf)?;
        for &(table, _) in &tables {
            if table == keeper {
                headers[table].sh_offset.set(endian, rels_at);
                headers[table].sh_size.set(endian, rels.len() as u64);
                headers[table].sh_info.set(endian, *target as u32);
            } else {
                headers[table].sh_size.set(endian, 0);
            }
        }
    }

    // Symbols of the moved code: in the merged section now, further on.
    let symtab = original
        .iter()
        .position(|h| h.sh_type(endian) == object::elf::SHT_SYMTAB)
        .ok_or_else(|| malformed("no symbol table"))?;
    let header = original
        .section(object::SectionIndex(symtab))
        .map_err(malformed)?;
    let (start, size) = header
        .file_range(endian)
        .ok_or_else(|| malformed("symbol table has no data"))?;
    let symbols = out
        .get_mut(start as usize..(start + size) as usize)
        .ok_or_else(|| malformed("symbol table past the end of the file"))?;
    // Elf64_Sym: u32 st_name; u8 st_info, st_other; u16 st_shndx; u64 st_value, st_size.
    for symbol in symbols.chunks_exact_mut(24) {
        let shndx = usize::from(endian.read_u16([symbol[6], symbol[7]]));
        if rest.contains(&shndx) {
            let base = base_of(shndx).unwrap_or(0);
            let value = super::map_defs::u64_at(symbol, 8, endian)
                .ok_or_else(|| malformed("truncated symbol"))?;
            symbol[6..8].copy_from_slice(&endian.write_u16(*target as u16));
            symbol[8..16].copy_from_slice(&endian.write_u64(value + base));
        }
    }
    Ok(moved)
}

/// Puts the BTF.ext func_info, line_info and CO-RE records of the moved
/// sections under the name aya sees, their instruction offsets shifted by
/// where the code went, sorted (the kernel wants func_info in order). The
/// name is added to the BTF strings when the object has no such string.
/// Objects without BTF.ext are left alone.
fn regroup_btf_ext(
    out: &mut Vec<u8>,
    elf: &ElfFile64<'_, Endianness>,
    moved: &[Moved],
) -> Result<(), ElfError> {
    let bad = |reason: &str| malformed(format!(".BTF.ext: {reason}"));
    let (Some(btf_section), Some(ext_section)) =
        (elf.section_by_name(".BTF"), elf.section_by_name(".BTF.ext"))
    else {
        return Ok(());
    };
    let endian = elf.endian();
    let u32_at = |data: &[u8], at: usize| super::map_defs::u32_at(data, at, endian);
    let usize_at = |data: &[u8], at: usize| u32_at(data, at).map(|v| v as usize);

    // The BTF as rewritten so far (values hidden), and its strings.
    let (btf_start, btf_size) = btf_section
        .file_range()
        .ok_or_else(|| bad("no .BTF data"))?;
    let mut btf = out
        .get(btf_start as usize..(btf_start + btf_size) as usize)
        .ok_or_else(|| bad(".BTF past the end of the file"))?
        .to_vec();
    let (_, range) = btf_raw::layout(&btf, endian)?;
    let (strings_end, str_len) = (range.end, range.len());
    let strings = btf
        .get(range)
        .ok_or_else(|| bad(".BTF strings past their end"))?
        .to_vec();
    let name_at = |off: usize| btf_raw::string_at(&strings, off);
    // The offset of each new name in the BTF strings (added where missing).
    let mut added = Vec::new();
    let mut name_offsets: Vec<(&str, u32)> = Vec::new();
    for to in moved.iter().map(|m| m.to) {
        if name_offsets.iter().any(|(n, _)| *n == to) {
            continue;
        }
        let mut at = 0;
        let mut found = None;
        while let Some(end) = strings[at..].iter().position(|b| *b == 0).map(|p| at + p) {
            if &strings[at..end] == to.as_bytes() {
                found = Some(at as u32);
                break;
            }
            at = end + 1;
        }
        let offset = found.unwrap_or_else(|| {
            let offset = (str_len + added.len()) as u32;
            added.extend_from_slice(to.as_bytes());
            added.push(0);
            offset
        });
        name_offsets.push((to, offset));
    }

    let ext = ext_section.data().map_err(|_| bad("no data"))?;
    // struct btf_ext_header { u16 magic; u8 version, flags; u32 hdr_len,
    //   func_info_off, func_info_len, line_info_off, line_info_len
    //   [, core_relo_off, core_relo_len]; }
    let ext_hdr_len = usize_at(ext, 4)
        .filter(|len| *len >= 24)
        .ok_or_else(|| bad("truncated header"))?;
    let subsections = if ext_hdr_len >= 32 { 3 } else { 2 };
    let mut header = ext
        .get(..ext_hdr_len)
        .ok_or_else(|| bad("truncated header"))?
        .to_vec();
    let mut body = Vec::new();
    for k in 0..subsections {
        let (Some(off), Some(len)) = (usize_at(ext, 8 + 8 * k), usize_at(ext, 12 + 8 * k)) else {
            return Err(bad("truncated header"));
        };
        while !body.len().is_multiple_of(4) {
            body.push(0);
        }
        let new_off = body.len() as u32;
        if len > 0 {
            let base = ext_hdr_len + off;
            let part = ext
                .get(base..base + len)
                .ok_or_else(|| bad("records past the end"))?;
            body.extend_from_slice(&regroup(part, &name_at, moved, &name_offsets, endian)?);
        }
        let new_len = body.len() as u32 - new_off;
        header[8 + 8 * k..12 + 8 * k].copy_from_slice(&endian.write_u32(new_off));
        header[12 + 8 * k..16 + 8 * k].copy_from_slice(&endian.write_u32(new_len));
    }
    let mut new_ext = header;
    new_ext.extend_from_slice(&body);
    let ext_at = append(out, &new_ext);
    let ext_index = ext_section.index().0;
    let btf_index = btf_section.index().0;
    if !added.is_empty() {
        let tail = btf.split_off(strings_end);
        btf.extend_from_slice(&added);
        btf.extend_from_slice(&tail);
        let str_len = (str_len + added.len()) as u32;
        btf[20..24].copy_from_slice(&endian.write_u32(str_len));
    }
    let btf_at = (!added.is_empty()).then(|| append(out, &btf));
    let headers = headers_mut(out, elf)?;
    headers[ext_index].sh_offset.set(endian, ext_at);
    headers[ext_index].sh_size.set(endian, new_ext.len() as u64);
    if let Some(at) = btf_at {
        headers[btf_index].sh_offset.set(endian, at);
        headers[btf_index].sh_size.set(endian, btf.len() as u64);
    }
    Ok(())
}

/// One BTF.ext subsection (`u32 rec_size`, then groups `{ u32 sec_name_off,
/// num_info; records }`, each record starting with its byte offset) with the
/// moved sections' groups merged under their new names.
fn regroup<'s>(
    part: &[u8],
    name_at: &dyn Fn(usize) -> Option<&'s str>,
    moved: &[Moved],
    name_offsets: &[(&str, u32)],
    endian: Endianness,
) -> Result<Vec<u8>, ElfError> {
    let bad = |reason: &str| malformed(format!(".BTF.ext: {reason}"));
    let u32_at = |at: usize| super::map_defs::u32_at(part, at, endian);
    let rec_size = u32_at(0).ok_or_else(|| bad("truncated records"))? as usize;
    if rec_size < 4 {
        return Err(bad("records smaller than their offset"));
    }
    let mut kept = part[..4].to_vec();
    // New name -> records, offsets shifted.
    let mut merged: Vec<(u32, Vec<Vec<u8>>)> = Vec::new();
    let mut at = 4;
    while at + 8 <= part.len() {
        let (Some(name_off), Some(count)) = (u32_at(at), u32_at(at + 4)) else {
            return Err(bad("truncated record group"));
        };
        let records_len = (count as usize)
            .checked_mul(rec_size)
            .ok_or_else(|| bad("record count overflows"))?;
        let records = part
            .get(at + 8..at + 8 + records_len)
            .ok_or_else(|| bad("record group past its end"))?;
        let from = name_at(name_off as usize);
        match moved.iter().find(|m| Some(m.from.as_str()) == from) {
            Some(m) => {
                let offset = name_offsets
                    .iter()
                    .find(|(n, _)| *n == m.to)
                    .map(|(_, o)| *o)
                    .ok_or_else(|| bad("no string for a merged section"))?;
                let slot = match merged.iter().position(|(o, _)| *o == offset) {
                    Some(i) => i,
                    None => {
                        merged.push((offset, Vec::new()));
                        merged.len() - 1
                    }
                };
                for record in records.chunks_exact(rec_size) {
                    let mut record = record.to_vec();
                    let insn_off = super::map_defs::u32_at(&record, 0, endian)
                        .ok_or_else(|| bad("truncated record"))?;
                    let shifted = u64::from(insn_off) + m.base;
                    let shifted = u32::try_from(shifted).map_err(|_| bad("offset overflows"))?;
                    record[..4].copy_from_slice(&endian.write_u32(shifted));
                    merged[slot].1.push(record);
                }
            }
            None => kept.extend_from_slice(&part[at..at + 8 + records_len]),
        }
        at += 8 + records_len;
    }
    for (name_off, mut records) in merged {
        records.sort_by_key(|r| super::map_defs::u32_at(r, 0, endian));
        kept.extend_from_slice(&endian.write_u32(name_off));
        kept.extend_from_slice(&endian.write_u32(records.len() as u32));
        for record in records {
            kept.extend_from_slice(&record);
        }
    }
    Ok(kept)
}

#[cfg(test)]
mod tests {
    use super::aya_section_name;

    #[test]
    fn old_xdp_section_names_map_to_what_aya_accepts() {
        assert_eq!(aya_section_name("xdp/firewall"), Some("xdp"));
        assert_eq!(aya_section_name("xdp_ingress"), Some("xdp"));
        assert_eq!(aya_section_name("xdp.frags/big"), Some("xdp.frags"));
        assert_eq!(super::without_frags("xdp.frags"), Some("xdp"));
        assert_eq!(super::without_frags("xdp.frags/big"), Some("xdp"));
        assert_eq!(super::without_frags("xdp.frags/devmap"), Some("xdp/devmap"));
        assert_eq!(super::without_frags("xdp/devmap"), None);
        assert_eq!(super::without_frags("xdp"), None);
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
