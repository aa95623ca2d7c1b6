//! xdploader: load any XDP ELF object, wire it up, and leave it running.
//!
//! One module per concept, so a newcomer finds each in one obvious place:
//!
//! | module        | what it owns                                                        |
//! |---------------|---------------------------------------------------------------------|
//! | [`elf`]       | ELF inspection: programs, maps, pins, declared slots, tail calls (no kernel) |
//! | [`load`]      | turning the object into kernel maps and verified programs (aya)     |
//! | [`jump_table`]| which program goes into which prog-array slot (naming, declared, --tail) |
//! | [`devmap`]    | filling the redirect devmap with the interfaces                     |
//! | [`attach`]    | attach/replace/detach, pins and the records `unload` relies on      |
//! | [`bpffs`]     | bpffs/tracefs mounts and the loader's private mount namespace       |
//! | [`netdev`]    | rtnetlink device facts (kind, MTU, XDP mode, veth peer), netns lookup/entry, tx checksum |
//! | [`peer`]      | the veth peer fix: pass program on the peer, tx checksum off, restore on unload |
//! | [`iface`]     | interface names to ifindexes                                        |
//! | [`stats`]     | the per-CPU verdict counters: record layout, XDP action names, reading |
//! | [`xdp_errors`]| the XDP error tracepoints (kern/xdp_errors.c): attaching, reading by errno |
//! | [`sys`]       | the two bpf(2) calls aya does not expose (read-only pin, link's ifindex) |
//! | [`args`]      | Go-style `-flag` compatibility shared by both binaries              |
//! | [`cmd`]       | one module per subcommand (load, unload, inspect)                   |

pub mod args;
pub mod attach;
pub mod bpffs;
pub mod cli;
pub mod cmd;
pub mod devmap;
pub mod elf;
pub mod iface;
pub mod jump_table;
pub mod load;
pub mod netdev;
pub mod peer;
pub mod stats;
pub mod sys;
pub mod xdp_errors;

/// The pin directory used when none is given: the usage `statswatch -file
/// /sys/fs/bpf/stats_map` expects the maps right there.
pub const DEFAULT_PIN_DIR: &str = "/sys/fs/bpf";

/// Formats an errno as `ENAME (description)`: "ERANGE" alone is not a reason,
/// a bare number even less.
pub fn errno_text(err: &std::io::Error) -> String {
    match err.raw_os_error() {
        Some(code) => {
            let errno = nix::errno::Errno::from_raw(code);
            format!("{errno:?}: {}", errno.desc())
        }
        None => err.to_string(),
    }
}

/// The error line both binaries print: one line, whatever a message quoted
/// from a file or the kernel held.
pub fn one_line(err: &anyhow::Error) -> String {
    format!("{err:#}").replace(['\n', '\r'], " ")
}
