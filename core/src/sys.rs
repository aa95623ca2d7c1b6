//! The bpf(2) calls aya does not expose, or not as the loader needs them:
//! opening a pin read-only, what a link runs and where, a program by id, an
//! XDP bpf_link with no netlink fallback (aya attaches through netlink when
//! BPF_LINK_CREATE says EINVAL, and such an attachment cannot be pinned),
//! pinning it, pointing a link at another program, and probing whether the
//! kernel takes xdp.frags programs. Everything else goes through aya.

use std::{
    ffi::CString,
    io,
    os::{
        fd::{AsFd as _, AsRawFd as _, BorrowedFd, FromRawFd as _, OwnedFd},
        unix::ffi::OsStrExt as _,
    },
    path::Path,
};

use aya_obj::generated::{
    bpf_attach_type, bpf_attr, bpf_cmd, bpf_insn, bpf_link_info, bpf_link_type, bpf_prog_type,
    BPF_F_RDONLY, BPF_F_XDP_HAS_FRAGS,
};

fn bpf(cmd: bpf_cmd, attr: &mut bpf_attr) -> io::Result<i64> {
    // SAFETY: attr is a valid bpf_attr that outlives the call; the kernel
    // reads at most size_of::<bpf_attr>() bytes of it.
    let ret = unsafe {
        nix::libc::syscall(
            nix::libc::SYS_bpf,
            cmd as nix::libc::c_long,
            std::ptr::from_mut(attr),
            size_of::<bpf_attr>(),
        )
    };
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Detaches the link pinned at `path` (BPF_LINK_DETACH, 5.9+), then removes
/// the pin. Removing the pin alone detaches only when the kernel frees the
/// link, which it may do later: `unload` must have detached when it returns.
/// Ok(false) when nothing is pinned there.
pub fn detach_and_unpin(path: &Path) -> io::Result<bool> {
    let link = match obj_get(path, false) {
        Ok(fd) => Some(fd),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        // Not a link we can open (another kind of pin, no permission): the
        // removal below says what is wrong, if anything.
        Err(_) => None,
    };
    if let Some(link) = &link {
        // SAFETY: bpf_attr is plain data; all-zero is its documented default.
        let mut attr: bpf_attr = unsafe { std::mem::zeroed() };
        attr.link_detach.link_fd = link.as_raw_fd() as u32;
        // A kernel without it (EINVAL) detaches when the link is freed.
        let _ = bpf(bpf_cmd::BPF_LINK_DETACH, &mut attr);
    }
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// BPF_MAP_LOOKUP_BATCH of a whole array map (Linux 5.6+): the values of
/// keys 0.. in one call instead of one call per key, into `values`,
/// `value_len` bytes each (for a per-CPU map: the possible CPUs times the
/// value size rounded up to 8). Returns how many entries were read.
pub fn array_lookup_batch(
    map: BorrowedFd<'_>,
    count: u32,
    value_len: usize,
    values: &mut Vec<u8>,
) -> io::Result<u32> {
    let mut keys = vec![0u32; count as usize];
    values.resize(count as usize * value_len, 0);
    let mut out_batch = 0u32;
    // SAFETY: bpf_attr is plain data; all-zero is its documented default.
    let mut attr: bpf_attr = unsafe { std::mem::zeroed() };
    // SAFETY: writing plain-data fields of the batch member; the buffers
    // outlive the call and hold `count` keys and values.
    unsafe {
        let batch = &mut attr.batch;
        batch.out_batch = std::ptr::from_mut(&mut out_batch) as u64;
        batch.keys = keys.as_mut_ptr() as u64;
        batch.values = values.as_mut_ptr() as u64;
        batch.count = count;
        batch.map_fd = map.as_raw_fd() as u32;
    }
    match bpf(bpf_cmd::BPF_MAP_LOOKUP_BATCH, &mut attr) {
        // ENOENT: the end of the map was reached; count says how far.
        Ok(_) => {}
        Err(e) if e.raw_os_error() == Some(nix::errno::Errno::ENOENT as i32) => {}
        Err(e) => return Err(e),
    }
    // SAFETY: the kernel wrote the count it copied back into attr.
    Ok(unsafe { attr.batch.count })
}

/// Whether the kernel loads XDP programs with BPF_F_XDP_HAS_FRAGS
/// (multi-buffer XDP, `xdp.frags`, Linux 5.18+): a feature probe, loading
/// `r0 = XDP_PASS; exit` with the flag once per process. Kernels before
/// refuse the unknown flag with EINVAL; any other refusal (no privilege) is
/// not a missing feature, and the real load reports it.
pub fn xdp_frags_supported() -> bool {
    static SUPPORTED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *SUPPORTED.get_or_init(|| {
        // BPF_MOV64_IMM(BPF_REG_0, XDP_PASS); BPF_EXIT_INSN()
        let mut insns: [bpf_insn; 2] = unsafe { std::mem::zeroed() };
        insns[0].code = 0xb7;
        insns[0].imm = 2;
        insns[1].code = 0x95;
        let license = c"GPL";
        // SAFETY: bpf_attr is plain data; all-zero is its documented default.
        let mut attr: bpf_attr = unsafe { std::mem::zeroed() };
        // SAFETY: writing plain-data fields of the BPF_PROG_LOAD member.
        unsafe {
            let load = &mut attr.__bindgen_anon_3;
            load.prog_type = bpf_prog_type::BPF_PROG_TYPE_XDP as u32;
            load.insn_cnt = insns.len() as u32;
            load.insns = insns.as_ptr() as u64;
            load.license = license.as_ptr() as u64;
            load.prog_flags = BPF_F_XDP_HAS_FRAGS;
        }
        match bpf(bpf_cmd::BPF_PROG_LOAD, &mut attr) {
            Ok(fd) => {
                // SAFETY: the kernel just returned this fd to us alone.
                drop(unsafe { OwnedFd::from_raw_fd(fd as i32) });
                true
            }
            Err(e) => e.raw_os_error() != Some(nix::errno::Errno::EINVAL as i32),
        }
    })
}

/// BPF_OBJ_GET, with BPF_F_RDONLY when `read_only`: a reader tells the
/// kernel it never writes (aya's `from_pin` asks for read-write).
pub fn obj_get(path: &Path, read_only: bool) -> io::Result<OwnedFd> {
    let path = CString::new(path.as_os_str().as_bytes())?;
    // SAFETY: bpf_attr is plain data; all-zero is its documented default.
    let mut attr: bpf_attr = unsafe { std::mem::zeroed() };
    // SAFETY: writing the BPF_OBJ_GET member of the union, which the call reads.
    let obj = unsafe { &mut attr.__bindgen_anon_4 };
    obj.pathname = path.as_ptr() as u64;
    obj.file_flags = if read_only { BPF_F_RDONLY } else { 0 };
    let fd = bpf(bpf_cmd::BPF_OBJ_GET, &mut attr)?;
    // SAFETY: BPF_OBJ_GET returned a new file descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// What the kernel says of a link: the program it runs, and for an XDP link
/// the interface it is attached to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkFacts {
    pub prog_id: u32,
    pub xdp_ifindex: Option<u32>,
}

pub fn link_facts(link: BorrowedFd<'_>) -> io::Result<LinkFacts> {
    // SAFETY: plain data, all-zero is valid.
    let mut info: bpf_link_info = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let mut attr: bpf_attr = unsafe { std::mem::zeroed() };
    // SAFETY: writing the BPF_OBJ_GET_INFO_BY_FD member, which the call reads.
    let get = unsafe { &mut attr.info };
    get.bpf_fd = link.as_raw_fd() as u32;
    get.info_len = size_of::<bpf_link_info>() as u32;
    get.info = std::ptr::from_mut(&mut info) as u64;
    bpf(bpf_cmd::BPF_OBJ_GET_INFO_BY_FD, &mut attr)?;
    let xdp_ifindex = if info.type_ == bpf_link_type::BPF_LINK_TYPE_XDP as u32 {
        // SAFETY: the kernel filled the xdp member for an XDP link.
        Some(unsafe { info.__bindgen_anon_1.xdp.ifindex })
    } else {
        None
    };
    Ok(LinkFacts {
        prog_id: info.prog_id,
        xdp_ifindex,
    })
}

/// [`link_facts`] of the link pinned at `path`.
pub fn pinned_link_facts(path: &Path) -> io::Result<LinkFacts> {
    link_facts(obj_get(path, false)?.as_fd())
}

/// The ifindex an XDP link is attached to; None for other link types.
pub fn xdp_link_ifindex(link: BorrowedFd<'_>) -> io::Result<Option<u32>> {
    link_facts(link).map(|facts| facts.xdp_ifindex)
}

/// BPF_PROG_GET_FD_BY_ID: a reference that keeps the program alive.
pub fn prog_fd_by_id(id: u32) -> io::Result<OwnedFd> {
    // SAFETY: plain data, all-zero is valid.
    let mut attr: bpf_attr = unsafe { std::mem::zeroed() };
    // SAFETY: writing the GET_FD_BY_ID member, which the call reads.
    attr.__bindgen_anon_6.__bindgen_anon_1.prog_id = id;
    let fd = bpf(bpf_cmd::BPF_PROG_GET_FD_BY_ID, &mut attr)?;
    // SAFETY: the call returned a new file descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// The program's instructions as the kernel runs them (after its rewrites;
/// maps named by id in ld_imm64), from BPF_OBJ_GET_INFO_BY_FD.
pub fn prog_xlated_insns(prog: BorrowedFd<'_>) -> io::Result<Vec<bpf_insn>> {
    let info_of = |insns: &mut Vec<bpf_insn>| -> io::Result<u32> {
        // SAFETY: plain data, all-zero is valid.
        let mut info: aya_obj::generated::bpf_prog_info = unsafe { std::mem::zeroed() };
        info.xlated_prog_len = (insns.len() * size_of::<bpf_insn>()) as u32;
        info.xlated_prog_insns = insns.as_mut_ptr() as u64;
        // SAFETY: as above.
        let mut attr: bpf_attr = unsafe { std::mem::zeroed() };
        // SAFETY: writing the BPF_OBJ_GET_INFO_BY_FD member, which the call reads;
        // the buffer holds xlated_prog_len bytes.
        let get = unsafe { &mut attr.info };
        get.bpf_fd = prog.as_raw_fd() as u32;
        get.info_len = size_of::<aya_obj::generated::bpf_prog_info>() as u32;
        get.info = std::ptr::from_mut(&mut info) as u64;
        bpf(bpf_cmd::BPF_OBJ_GET_INFO_BY_FD, &mut attr)?;
        Ok(info.xlated_prog_len)
    };
    let len = info_of(&mut Vec::new())?;
    // SAFETY: bpf_insn is plain data, all-zero is valid.
    let mut insns =
        vec![unsafe { std::mem::zeroed::<bpf_insn>() }; len as usize / size_of::<bpf_insn>()];
    info_of(&mut insns)?;
    Ok(insns)
}

/// BPF_LINK_UPDATE: `link` runs `prog` from now on (atomically).
pub fn link_update(link: BorrowedFd<'_>, prog: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: plain data, all-zero is valid.
    let mut attr: bpf_attr = unsafe { std::mem::zeroed() };
    // SAFETY: writing the BPF_LINK_UPDATE member, which the call reads.
    let update = unsafe { &mut attr.link_update };
    update.link_fd = link.as_raw_fd() as u32;
    update.__bindgen_anon_1.new_prog_fd = prog.as_raw_fd() as u32;
    bpf(bpf_cmd::BPF_LINK_UPDATE, &mut attr).map(drop)
}

/// BPF_LINK_CREATE for XDP on `ifindex` with `flags` (XDP_FLAGS_*_MODE): the
/// kernel's own errno when it refuses, never a netlink fallback. Dropping the
/// fd before it is pinned detaches the program.
pub fn xdp_link_create(prog: BorrowedFd<'_>, ifindex: u32, flags: u32) -> io::Result<OwnedFd> {
    // SAFETY: plain data, all-zero is valid.
    let mut attr: bpf_attr = unsafe { std::mem::zeroed() };
    // SAFETY: writing the BPF_LINK_CREATE member, which the call reads.
    let create = unsafe { &mut attr.link_create };
    create.__bindgen_anon_1.prog_fd = prog.as_raw_fd() as u32;
    create.__bindgen_anon_2.target_ifindex = ifindex;
    create.attach_type = bpf_attach_type::BPF_XDP as u32;
    create.flags = flags;
    let fd = bpf(bpf_cmd::BPF_LINK_CREATE, &mut attr)?;
    // SAFETY: the call returned a new file descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// BPF_OBJ_PIN: `fd` (a map, program or link) pinned at `path` on bpffs.
pub fn obj_pin(fd: BorrowedFd<'_>, path: &Path) -> io::Result<()> {
    let path = CString::new(path.as_os_str().as_bytes())?;
    // SAFETY: plain data, all-zero is valid.
    let mut attr: bpf_attr = unsafe { std::mem::zeroed() };
    // SAFETY: writing the BPF_OBJ_PIN member of the union, which the call reads.
    let obj = unsafe { &mut attr.__bindgen_anon_4 };
    obj.pathname = path.as_ptr() as u64;
    obj.bpf_fd = fd.as_raw_fd() as u32;
    bpf(bpf_cmd::BPF_OBJ_PIN, &mut attr).map(drop)
}

/// What kind of BPF object an fd is, from the kernel's name for its anon
/// inode (`bpf-map`, `bpf-prog`, `bpf_link`): BPF_OBJ_GET_INFO_BY_FD answers
/// for any of them, filling the caller's struct with the wrong layout.
pub fn object_kind(fd: BorrowedFd<'_>) -> io::Result<&'static str> {
    let target = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd()))?;
    let name = target.to_string_lossy();
    Ok(if name.contains("bpf-map") {
        "map"
    } else if name.contains("bpf-prog") {
        "program"
    } else if name.contains("bpf_link") || name.contains("bpf-link") {
        "link"
    } else {
        "other"
    })
}

/// BPF_MAP_UPDATE_ELEM of raw key and value bytes (sizes as the map's).
pub fn map_update(map: BorrowedFd<'_>, key: &[u8], value: &[u8]) -> io::Result<()> {
    // SAFETY: plain data, all-zero is valid.
    let mut attr: bpf_attr = unsafe { std::mem::zeroed() };
    // SAFETY: writing the element-command member, which the call reads; key
    // and value outlive the call.
    let elem = unsafe { &mut attr.__bindgen_anon_2 };
    elem.map_fd = map.as_raw_fd() as u32;
    elem.key = key.as_ptr() as u64;
    elem.__bindgen_anon_1.value = value.as_ptr() as u64;
    bpf(bpf_cmd::BPF_MAP_UPDATE_ELEM, &mut attr).map(drop)
}

/// BPF_MAP_LOOKUP_ELEM into `value` (sized as the map's values). For a prog
/// array the value read is the program's id.
pub fn map_lookup(map: BorrowedFd<'_>, key: &[u8], value: &mut [u8]) -> io::Result<()> {
    // SAFETY: plain data, all-zero is valid.
    let mut attr: bpf_attr = unsafe { std::mem::zeroed() };
    // SAFETY: as above; the kernel writes at most the map's value size.
    let elem = unsafe { &mut attr.__bindgen_anon_2 };
    elem.map_fd = map.as_raw_fd() as u32;
    elem.key = key.as_ptr() as u64;
    elem.__bindgen_anon_1.value = value.as_mut_ptr() as u64;
    bpf(bpf_cmd::BPF_MAP_LOOKUP_ELEM, &mut attr).map(drop)
}
