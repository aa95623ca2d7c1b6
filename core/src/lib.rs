//! xdp-core: the library behind `xdploader` and `statswatch`. It takes plain
//! option structs and returns serialisable reports; it parses no arguments,
//! prints nothing and decides no exit codes (the binaries do).
//!
//! One module per concept, so a newcomer finds each in one obvious place:
//!
//! | module          | what it owns                                                        |
//! |-----------------|---------------------------------------------------------------------|
//! | [`elf`]         | ELF inspection: programs, maps, pins, declared slots, tail calls (no kernel) |
//! | [`load`]        | turning the object into kernel maps and verified programs (aya)     |
//! | [`jump_table`]  | which program goes into which prog-array slot (naming, declared, --tail) |
//! | [`ksyms`]       | where an object's kernel symbols (kfuncs, variables) are on this kernel: vmlinux BTF id, kallsyms address, module, or what provides them |
//! | [`devmap`]      | filling the redirect devmap with the interfaces                     |
//! | [`map_in_map`]  | maps of maps: the object's declared inner maps put in their slots, read back |
//! | [`attach`]      | attaching and replacing the entry program on an interface           |
//! | [`dispatcher`]  | keeping a test-run program in the kernel's XDP dispatcher (no rewrite per test run) |
//! | [`capture`]     | recorders in a running chain's slots: every stage's frames, the verdict, pcapng |
//! | [`state`]       | the on-disk lifecycle state: pin-dir layout, per-interface records, releasing them |
//! | [`trafficgen`]    | a veth traffic generator: live-frames test runs of an XDP_TX program |
//! | [`transaction`] | a load's pins staged, committed all at once, or rolled back         |
//! | [`config`]        | the declared state `apply` makes true: the TOML file of attachments |
//! | [`bench`]         | the per-packet cost of a program: BPF_PROG_TEST_RUN batches against an XDP_PASS floor, HDR percentiles |
//! | [`bpffs`]       | bpffs/tracefs mounts, and the private mount namespace a binary may enter |
//! | [`netdev`]      | rtnetlink device facts (kind, MTU, XDP mode, veth peer), netns lookup/entry, tx checksum, sysctls |
//! | [`peer`]        | the veth peer fix: pass program on the peer, tx checksum off, restore on unload |
//! | [`iface`]       | interface names: validated, resolved to ifindexes, named back     |
//! | [`stats`]       | the per-CPU verdict counters: record layout, XDP action names, reading |
//! | [`sys`]         | the two bpf(2) calls aya does not expose (read-only pin, link's ifindex) |
//! | [`verifier`]      | verifier rejections explained: the source line, the instruction, cause and fix |
//! | [`ops`]         | the verbs, over the modules above: load, unload, apply, inspect, status, doctor |

pub mod attach;
pub mod bench;
pub mod bpffs;
pub mod capture;
pub mod config;
pub mod devmap;
pub mod dispatcher;
pub mod elf;
pub mod iface;
pub mod jump_table;
pub mod ksyms;
pub mod load;
pub mod map_in_map;
pub mod netdev;
pub mod netns;
pub mod ops;
pub mod peer;
pub mod state;
pub mod stats;
pub mod sys;
pub mod tracelog;
pub mod trafficgen;
pub mod transaction;
pub mod verifier;

/// The pin directory used when none is given: the usage `statswatch -file
/// /sys/fs/bpf/stats_map` expects the maps right there.
pub const DEFAULT_PIN_DIR: &str = "/sys/fs/bpf";

/// Formats an errno as `ENAME: description`: "ERANGE" alone is not a reason,
/// a bare number even less. The one formatter of errnos for every message.
pub fn errno_text(err: &std::io::Error) -> String {
    match err.raw_os_error() {
        Some(code) => nix_errno_text(nix::errno::Errno::from_raw(code)),
        None => err.to_string(),
    }
}

/// [`errno_text`] for nix's errors.
pub fn nix_errno_text(errno: nix::errno::Errno) -> String {
    format!("{errno:?}: {}", errno.desc())
}

/// An error and its sources as one line (`a: b: c`): the one formatter of
/// error chains, used by the binaries for their error line and by reports
/// that carry another error's text (a warning that does not stop the job).
/// Errnos anywhere in the chain read as `ENAME: description`; a cause whose
/// text the line already holds (aya repeats its source in its own message)
/// is not repeated.
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(err);
    while let Some(cause) = next {
        let text = if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            errno_text(io)
        } else if let Some(errno) = cause.downcast_ref::<nix::errno::Errno>() {
            nix_errno_text(*errno)
        } else {
            cause.to_string()
        };
        let plain = cause.to_string();
        if !text.is_empty()
            && !parts
                .iter()
                .any(|p| p.contains(&plain) || p.contains(&text))
        {
            parts.push(text);
        }
        next = cause.source();
    }
    parts.join(": ").replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("pinning link at /x")]
    struct Outer(#[source] std::io::Error);

    #[derive(Debug, thiserror::Error)]
    #[error("creating map m: {0}")]
    struct Repeats(#[source] std::io::Error);

    #[test]
    fn the_chain_is_one_line_with_errno_names_and_no_repeats() {
        let err = Outer(std::io::Error::from_raw_os_error(17));
        assert_eq!(error_chain(&err), "pinning link at /x: EEXIST: File exists");
        let err = Repeats(std::io::Error::from_raw_os_error(1));
        assert_eq!(
            error_chain(&err),
            "creating map m: Operation not permitted (os error 1)"
        );
    }
}
