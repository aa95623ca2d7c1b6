//! Keeping a program in the kernel's XDP dispatcher while it is test-run.
//!
//! Every native and generic XDP program runs through one piece of kernel
//! code, the XDP dispatcher (`bpf_dispatcher_xdp_func`), whose direct calls
//! the kernel rewrites with `text_poke` whenever its set of programs changes.
//! An XDP BPF_PROG_TEST_RUN with repeat > 1 changes it twice per call: it
//! adds its program before the run and removes it after
//! (`bpf_prog_change_xdp` in net/bpf/test_run.c). `xdploader bench` makes
//! hundreds of such calls and `trafficgen` one per 262,144 frames, while XDP
//! traffic enters the dispatcher on the other CPUs: on Debian's 6.1 and
//! 6.12 guests that killed the kernel ("Oops: int3" at
//! `bpf_dispatcher_xdp_func+0xa` in veth's NAPI, then "Kernel panic - not
//! syncing: Fatal exception in interrupt"; docs/testing.md).
//!
//! The kernel adds a program that is already in the dispatcher by counting
//! one more user (`bpf_dispatcher_add_prog`), with no rewrite. So a
//! [`DispatcherHold`] attaches the program, in generic mode, to the loopback
//! of a network namespace of its own for as long as the test runs last: the
//! loopback is down there and sees no frame, nothing of the user's changes,
//! and a whole bench or trafficgen run rewrites the dispatcher twice (the
//! attach and the detach), as any `xdploader load` does, instead of twice
//! per call.

use std::{
    fs::File,
    io,
    os::fd::{AsFd as _, OwnedFd},
};

#[derive(Debug, thiserror::Error)]
pub enum DispatcherError {
    #[error(
        "making a network namespace to keep {program} in the XDP dispatcher during its test runs \
         (unshare CLONE_NEWNET; needs CAP_SYS_ADMIN)"
    )]
    Namespace {
        program: String,
        #[source]
        source: io::Error,
    },
    #[error(
        "keeping {program} in the XDP dispatcher during its test runs: generic XDP on a private \
         loopback (BPF_LINK_CREATE)"
    )]
    Attach {
        program: String,
        #[source]
        source: io::Error,
    },
    #[error("{program} is not loaded")]
    NotLoaded {
        program: String,
        #[source]
        source: aya::programs::ProgramError,
    },
    #[error("a thread that makes a private network namespace panicked")]
    Thread,
}

/// The loopback's ifindex in a new network namespace: always 1.
const LOOPBACK: u32 = 1;
/// linux/if_link.h XDP_FLAGS_SKB_MODE: the loopback has no native XDP.
const SKB_MODE: u32 = 1 << 1;

/// A program kept in the XDP dispatcher until this is dropped.
#[derive(Debug)]
pub struct DispatcherHold {
    // Field order is drop order: the link goes (one dispatcher rewrite)
    // before the namespace that holds its loopback.
    _link: OwnedFd,
    _netns: File,
}

impl DispatcherHold {
    /// Attaches `program` (named `name` in errors) to the loopback of a new
    /// network namespace, in a thread of its own: a namespace is a
    /// thread's, and the caller's must not change.
    pub fn new(program: &aya::programs::Xdp, name: &str) -> Result<Self, DispatcherError> {
        let program = program
            .fd()
            .map_err(|source| DispatcherError::NotLoaded {
                program: name.to_owned(),
                source,
            })?
            .as_fd();
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).map_err(|errno| {
                        DispatcherError::Namespace {
                            program: name.to_owned(),
                            source: io::Error::from(errno),
                        }
                    })?;
                    // The namespace lives while this fd is open, after the
                    // thread has gone.
                    let netns = File::open("/proc/thread-self/ns/net").map_err(|source| {
                        DispatcherError::Namespace {
                            program: name.to_owned(),
                            source,
                        }
                    })?;
                    let link = crate::sys::xdp_link_create(program, LOOPBACK, SKB_MODE).map_err(
                        |source| DispatcherError::Attach {
                            program: name.to_owned(),
                            source,
                        },
                    )?;
                    Ok(Self {
                        _link: link,
                        _netns: netns,
                    })
                })
                .join()
                .map_err(|_| DispatcherError::Thread)?
        })
    }
}

/// Where the rewrites that remain (any attach, detach or reload on the
/// machine) are known to crash: a QEMU guest without KVM (TCG) with more
/// than one CPU. Under QEMU 7.2's multi-threaded TCG (its default for an
/// x86 guest on an x86 host) a vCPU ran the int3 of a dispatcher rewrite
/// that another vCPU had already finished, while XDP traffic went through
/// it: Debian's 6.1 and 6.12 guests died; with the vCPUs on one host thread
/// (`-accel tcg,thread=single`) the same loop ran clean (docs/testing.md).
/// Inside the guest nothing tells the two apart, so this names the risk.
pub fn emulation_risk() -> Option<String> {
    let vendor = std::fs::read_to_string("/sys/class/dmi/id/sys_vendor").unwrap_or_default();
    if !is_tcg(vendor.trim(), hypervisor_signature()) {
        return None;
    }
    let cpus = aya::util::online_cpus().map_or(1, |c| c.len());
    (cpus > 1).then(|| {
        format!(
            "this machine is a QEMU guest without KVM (TCG) with {cpus} CPUs: where QEMU runs them on \
             several threads (its default), attaching or replacing an XDP program while XDP traffic \
             flows has crashed Debian 6.1 and 6.12 guests (Oops: int3 in bpf_dispatcher_xdp_func); \
             give the guest KVM, or start it with -accel tcg,thread=single"
        )
    })
}

/// QEMU without KVM: QEMU's DMI vendor and no KVM CPUID signature.
fn is_tcg(sys_vendor: &str, signature: [u8; 12]) -> bool {
    sys_vendor == "QEMU" && &signature != b"KVMKVMKVM\0\0\0"
}

/// CPUID leaf 0x40000000's hypervisor signature (EBX, ECX, EDX).
fn hypervisor_signature() -> [u8; 12] {
    #[cfg(target_arch = "x86_64")]
    {
        let leaf = std::arch::x86_64::__cpuid(0x4000_0000);
        let mut signature = [0u8; 12];
        for (i, reg) in [leaf.ebx, leaf.ecx, leaf.edx].into_iter().enumerate() {
            signature[4 * i..4 * i + 4].copy_from_slice(&reg.to_le_bytes());
        }
        signature
    }
    #[cfg(not(target_arch = "x86_64"))]
    [0u8; 12]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_qemu_without_the_kvm_signature_is_tcg() {
        assert!(is_tcg("QEMU", [0; 12]));
        assert!(is_tcg("QEMU", *b"TCGTCGTCGTCG"));
        assert!(!is_tcg("QEMU", *b"KVMKVMKVM\0\0\0"));
        assert!(!is_tcg("Dell Inc.", [0; 12]));
        assert!(!is_tcg("", [0; 12]));
    }
}
