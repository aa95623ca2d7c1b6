//! The two bpf(2) calls aya does not expose: opening a pin read-only, and
//! the XDP interface of a pinned link. Everything else goes through aya.

use std::{
    ffi::CString,
    io,
    os::{
        fd::{AsRawFd as _, BorrowedFd, FromRawFd as _, OwnedFd},
        unix::ffi::OsStrExt as _,
    },
    path::Path,
};

use aya_obj::generated::{bpf_attr, bpf_cmd, bpf_link_info, bpf_link_type, BPF_F_RDONLY};

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

/// The ifindex an XDP link is attached to; None for other link types.
pub fn xdp_link_ifindex(link: BorrowedFd<'_>) -> io::Result<Option<u32>> {
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
    if info.type_ != bpf_link_type::BPF_LINK_TYPE_XDP as u32 {
        return Ok(None);
    }
    // SAFETY: the kernel filled the xdp member for an XDP link.
    Ok(Some(unsafe { info.__bindgen_anon_1.xdp.ifindex }))
}
