//! Attaching the entry program to an interface: on our pinned link when
//! there is one (atomic replacement, no EBUSY), else as a new bpf_link in
//! the asked mode, with the kernel's own reason when it refuses. Pinning the
//! new link is the transaction's job ([`crate::transaction`]).

use std::{
    fs, io,
    os::fd::{AsFd as _, OwnedFd},
    path::{Path, PathBuf},
};

use aya::{programs::Xdp, Ebpf};

use crate::{errno_text, iface::Interface, state::PinLayout, sys};

#[derive(Debug, thiserror::Error)]
pub enum AttachError {
    #[error("{iface}: {mode} XDP attach refused: {reason}")]
    Refused {
        iface: String,
        mode: &'static str,
        reason: String,
        #[source]
        source: io::Error,
    },
    #[error("{iface}: replacing the program on the pinned link {path} failed: {reason}")]
    Replace {
        iface: String,
        path: PathBuf,
        reason: String,
    },
    #[error(transparent)]
    Netns(#[from] crate::netns::NetnsError),
    #[error("removing the stale link pin {path}")]
    RemoveStale {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// The attach mode asked for (kept beside the mode in force, in netdev,
/// where the load record in crate::state reads it too).
pub use crate::netdev::Mode;

/// An interface's attachment, ready to be committed (pinned) or dropped.
#[derive(Debug)]
pub struct Attachment {
    pub iface: Interface,
    pub mode: &'static str,
    /// Set when auto mode fell back to skb: the kernel's reason for refusing native.
    pub native_refused: Option<String>,
    /// Updated in place on an existing pinned link: nothing new to pin.
    pub replaced: bool,
    /// What `--force` took off the interface to make room.
    pub forced: Option<String>,
    /// A new bpf_link: detached if dropped before the transaction pins it.
    link: Option<OwnedFd>,
    /// A replaced link's previous program: put back if dropped before the
    /// transaction commits, so a failed load leaves every interface running
    /// exactly what it ran before (with its jump table, still pinned).
    restore: Option<Restore>,
}

#[derive(Debug)]
enum Restore {
    /// Our pinned link ran `previous`: point it back.
    Link { link: OwnedFd, previous: OwnedFd },
    /// `--force` detached another tool's netlink program: attach it again,
    /// in its mode, once our new link is gone.
    Netlink {
        ifindex: u32,
        previous: OwnedFd,
        mode: crate::netdev::XdpMode,
    },
}

impl Drop for Attachment {
    fn drop(&mut self) {
        // Cannot fail for a live link or device and a program we hold; if it
        // did, nothing better could be done here.
        match self.restore.take() {
            Some(Restore::Link { link, previous }) => {
                let _ = sys::link_update(link.as_fd(), previous.as_fd());
            }
            Some(Restore::Netlink {
                ifindex,
                previous,
                mode,
            }) => {
                drop(self.link.take());
                let _ = crate::netdev::attach_netlink_xdp(ifindex, previous.as_fd(), mode);
            }
            None => {}
        }
    }
}

impl Attachment {
    /// The new link, for the transaction to pin (None after a replacement).
    pub fn take_link(&mut self) -> Option<OwnedFd> {
        self.link.take()
    }

    /// The load committed: a replacement stays.
    pub fn committed(&mut self) {
        self.restore = None;
    }
}

/// An attach mode the kernel is asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum KernelMode {
    Native,
    Skb,
}

impl KernelMode {
    fn name(self) -> &'static str {
        match self {
            Self::Native => "native",
            Self::Skb => "skb",
        }
    }
    /// linux/if_link.h XDP_FLAGS_DRV_MODE, XDP_FLAGS_SKB_MODE.
    fn flags(self) -> u32 {
        match self {
            Self::Native => 1 << 2,
            Self::Skb => 1 << 1,
        }
    }
}

/// Attaches `entry` to `iface`: on our pinned link if there is one (atomic
/// program replacement, no EBUSY), else as a new bpf_link in the asked mode.
pub fn attach(
    ebpf: &mut Ebpf,
    entry: &str,
    iface: &Interface,
    mode: Mode,
    layout: &PinLayout,
    force: bool,
) -> Result<Attachment, AttachError> {
    let prog: &mut Xdp = ebpf
        .program_mut(entry)
        .and_then(|p| p.try_into().ok())
        .expect("the entry program was loaded as XDP");
    let prog = prog
        .fd()
        .expect("the entry program is loaded")
        .as_fd()
        .try_clone_to_owned()
        .map_err(|source| AttachError::Refused {
            iface: iface.name.clone(),
            mode: "any",
            reason: "duplicating the program's fd".into(),
            source,
        })?;

    let link_path = layout.link(&iface.name);
    if link_path.exists() {
        if let Some(attachment) = replace_on_pinned_link(&prog, iface, &link_path)? {
            return Ok(attachment);
        }
    }

    // --force: another tool's program attached through netlink goes, held so
    // that a failed load can put it back.
    let mut restore = None;
    let mut forced = None;
    if force {
        if let Some((previous, mode, name)) = take_netlink_program(iface)? {
            forced = Some(format!(
                "replaced {name}, which another tool had attached through netlink in {} mode",
                mode.name()
            ));
            restore = Some(Restore::Netlink {
                ifindex: iface.ifindex,
                previous,
                mode,
            });
        }
    }
    let restore = std::cell::RefCell::new(restore);
    let try_mode = |m: KernelMode| sys::xdp_link_create(prog.as_fd(), iface.ifindex, m.flags());
    let new_link = |m: KernelMode, link, native_refused| Attachment {
        iface: iface.clone(),
        mode: m.name(),
        native_refused,
        replaced: false,
        forced: forced.clone(),
        link: Some(link),
        restore: restore.borrow_mut().take(),
    };
    // Any refusal below drops this, which re-attaches a forced-out program.
    let _put_back = PutBack(&restore);
    let (first, fallback) = match mode {
        Mode::Auto => (KernelMode::Native, Some(KernelMode::Skb)),
        Mode::Native => (KernelMode::Native, None),
        Mode::Skb => (KernelMode::Skb, None),
    };
    let refused = match try_mode(first) {
        Ok(link) => return Ok(new_link(first, link, None)),
        Err(e) => e,
    };
    // Ask the kernel why, by trying once more with its tracepoint listening.
    let (retry, message) = kernel_reason(|| try_mode(first));
    if let Ok(link) = retry {
        return Ok(new_link(first, link, None));
    }
    let reason = describe_refusal(&refused, &message, iface);
    match fallback {
        Some(second) => {
            let link = try_mode(second).map_err(|e| AttachError::Refused {
                iface: iface.name.clone(),
                mode: second.name(),
                reason: describe_refusal(&e, &KernelReason::NotAsked, iface),
                source: e,
            })?;
            Ok(new_link(second, link, Some(reason)))
        }
        None => Err(AttachError::Refused {
            iface: iface.name.clone(),
            mode: first.name(),
            reason,
            source: refused,
        }),
    }
}

/// Re-attaches a program `--force` took off when the attach then fails.
struct PutBack<'a>(&'a std::cell::RefCell<Option<Restore>>);

impl Drop for PutBack<'_> {
    fn drop(&mut self) {
        if let Some(Restore::Netlink {
            ifindex,
            previous,
            mode,
        }) = self.0.borrow_mut().take()
        {
            let _ = crate::netdev::attach_netlink_xdp(ifindex, previous.as_fd(), mode);
        }
    }
}

/// Detaches the program another tool attached to `iface` through netlink,
/// returning a reference to it, its mode and its name; None when there is
/// none (no program, or ours on a bpf_link).
fn take_netlink_program(
    iface: &Interface,
) -> Result<Option<(OwnedFd, crate::netdev::XdpMode, String)>, AttachError> {
    use crate::netdev::{self, XdpMode};
    let failed = |what: &str, reason: String| AttachError::Replace {
        iface: iface.name.clone(),
        path: PathBuf::from("(netlink)"),
        reason: format!("--force: {what}: {reason}"),
    };
    let link = netdev::link(iface.ifindex)
        .map_err(|e| failed("reading the device", crate::error_chain(&e)))?;
    let (Some(id), mode) = (link.xdp_prog_id, link.xdp) else {
        return Ok(None);
    };
    if mode == XdpMode::None || mode == XdpMode::Multiple {
        return Ok(None);
    }
    let on_a_link = aya::programs::loaded_links()
        .flatten()
        .any(|l| l.program_id() == id);
    if on_a_link {
        return Ok(None);
    }
    let previous = sys::prog_fd_by_id(id).map_err(|e| failed("holding it", errno_text(&e)))?;
    let name = aya::programs::loaded_programs()
        .flatten()
        .find(|p| p.id() == id)
        .and_then(|p| p.name_as_str().map(str::to_owned))
        .map_or_else(
            || format!("program {id}"),
            |n| format!("{n} (program {id})"),
        );
    netdev::detach_netlink_xdp(iface.ifindex, mode)
        .map_err(|e| failed("detaching it", crate::error_chain(&e)))?;
    Ok(Some((previous, mode, name)))
}

/// Replaces the program behind our pinned link, keeping what it ran for a
/// rollback. `Ok(None)` when the pin is stale (its interface went away): the
/// pin is removed and a fresh attach follows.
fn replace_on_pinned_link(
    prog: &OwnedFd,
    iface: &Interface,
    link_path: &Path,
) -> Result<Option<Attachment>, AttachError> {
    let replace_err = |what: &str, e: io::Error| AttachError::Replace {
        iface: iface.name.clone(),
        path: link_path.to_owned(),
        reason: format!(
            "{what}: {}",
            describe_refusal(&e, &KernelReason::NotAsked, iface)
        ),
    };
    let link = sys::obj_get(link_path, false).map_err(|e| replace_err("opening it", e))?;
    let facts = sys::link_facts(link.as_fd()).map_err(|e| replace_err("reading it", e))?;
    if facts.xdp_ifindex.is_none() {
        return Err(AttachError::Replace {
            iface: iface.name.clone(),
            path: link_path.to_owned(),
            reason: "the pin is not an XDP link".into(),
        });
    }
    // Its interface gone (its namespace deleted, say): only the pin is
    // left, and a fresh attach follows. Another namespace's: refused.
    if crate::netns::check_link(&facts, link_path, &iface.name, iface.ifindex)?
        == crate::netns::LinkPlace::Gone
    {
        fs::remove_file(link_path).map_err(|source| AttachError::RemoveStale {
            path: link_path.to_owned(),
            source,
        })?;
        return Ok(None);
    }
    let previous = sys::prog_fd_by_id(facts.prog_id)
        .map_err(|e| replace_err("holding the program it runs", e))?;
    match sys::link_update(link.as_fd(), prog.as_fd()) {
        Ok(()) => Ok(Some(Attachment {
            iface: iface.clone(),
            mode: "existing link's",
            native_refused: None,
            replaced: true,
            forced: None,
            link: None,
            restore: Some(Restore::Link { link, previous }),
        })),
        Err(e) if e.raw_os_error() == Some(nix::errno::Errno::ENOLINK as i32) => {
            fs::remove_file(link_path).map_err(|source| AttachError::RemoveStale {
                path: link_path.to_owned(),
                source,
            })?;
            Ok(None)
        }
        Err(e) => Err(replace_err("updating it", e)),
    }
}

/// The kernel's refusal in words: its own message when the tracepoint gave
/// one, the errno, and for EBUSY the command that frees the interface, with
/// the mode the other program runs in (`xdp off` alone detaches only the
/// mode the driver defaults to, so it leaves a generic program in place).
fn describe_refusal(err: &io::Error, kernel: &KernelReason, iface: &Interface) -> String {
    let errno = errno_text(err);
    let said = match kernel {
        KernelReason::Said(msg) => format!("{msg} ({errno})"),
        KernelReason::NoTracepoint => format!(
            "{errno} (this kernel has no xdp:{ATTACH_FAILED_EVENT} tracepoint, Linux 6.3+, \
             to say why{})",
            likely_cause(err)
        ),
        KernelReason::NotAsked | KernelReason::Unknown => errno,
    };
    if err.raw_os_error() != Some(nix::errno::Errno::EBUSY as i32) {
        return said;
    }
    let mode = match crate::netdev::link(iface.ifindex).map(|l| l.xdp) {
        Ok(crate::netdev::XdpMode::Skb) => "xdpgeneric",
        Ok(crate::netdev::XdpMode::Offload) => "xdpoffload",
        _ => "xdpdrv",
    };
    format!(
        "{said}: another tool attached an XDP program through netlink; detach it first: ip link set dev {} {mode} off",
        crate::netdev::shell_quote(&iface.name)
    )
}

/// The tracefs instance of the loader with pid N is `xdploader-N`.
const TRACE_INSTANCE_PREFIX: &str = "xdploader-";

/// Removes the tracefs instances of loaders that died (when tracefs is
/// mounted here already: a load never mounts it just for this).
pub fn clean_dead_trace_instances() {
    if let Some(root) = crate::bpffs::tracefs_if_mounted() {
        remove_dead_instances(&root.join("instances"));
    }
}

/// A loader killed while it listened leaves its own instance behind.
fn remove_dead_instances(instances: &Path) {
    crate::bpffs::remove_dead_trace_instances(instances, TRACE_INSTANCE_PREFIX);
}

/// The tracepoint the kernel reports a refused bpf_link attach on.
const ATTACH_FAILED_EVENT: &str = "bpf_xdp_link_attach_failed";

/// What the kernel said of a refused attach.
enum KernelReason {
    /// Its own words, e.g. "veth: Peer MTU is too large to set XDP".
    Said(String),
    /// It has no tracepoint to say it on (before 6.3).
    NoTracepoint,
    /// Nothing: no tracefs here, or the driver gave no message.
    Unknown,
    /// Not asked (a second attempt, whose reason is the errno alone).
    NotAsked,
}

/// Where the kernel cannot say why, the usual cause of an errno, for the
/// errnos whose cause is nearly always the same (as `, likely …`).
fn likely_cause(err: &io::Error) -> &'static str {
    match err.raw_os_error().map(nix::errno::Errno::from_raw) {
        Some(nix::errno::Errno::ERANGE) if sys::xdp_frags_supported() => {
            ", likely the MTU: native XDP needs a smaller MTU on this device or its peer, or an xdp.frags program"
        }
        Some(nix::errno::Errno::ERANGE) => {
            ", likely the MTU: native XDP needs an MTU that fits in a page on this device and its peer (this kernel has no xdp.frags, Linux 5.18+)"
        }
        Some(nix::errno::Errno::EOPNOTSUPP) => ", likely a driver without native XDP: try --mode skb",
        _ => "",
    }
}

/// Runs `attempt` with the kernel's `xdp:bpf_xdp_link_attach_failed`
/// tracepoint enabled in a tracefs instance of our own, and returns what the
/// kernel said of the failure. Netlink would carry it in the extended ack;
/// for bpf_link attachments this tracepoint is the only place the kernel
/// says it.
fn kernel_reason<T>(
    attempt: impl FnOnce() -> Result<T, io::Error>,
) -> (Result<T, io::Error>, KernelReason) {
    struct Instance(PathBuf);
    impl Drop for Instance {
        fn drop(&mut self) {
            // rmdir of an instance removes it with its buffers and events.
            let _ = fs::remove_dir(&self.0);
        }
    }
    let tracefs = crate::bpffs::tracefs();
    if let Some(root) = &tracefs {
        remove_dead_instances(&root.join("instances"));
    }
    // A feature probe, not a version check: the event's directory.
    if tracefs
        .as_ref()
        .is_some_and(|root| !root.join("events/xdp").join(ATTACH_FAILED_EVENT).exists())
    {
        return (attempt(), KernelReason::NoTracepoint);
    }
    let instance = tracefs.and_then(|root| {
        let dir = root
            .join("instances")
            .join(format!("{TRACE_INSTANCE_PREFIX}{}", std::process::id()));
        fs::create_dir(&dir).ok()?;
        let instance = Instance(dir);
        fs::write(
            instance
                .0
                .join("events/xdp")
                .join(ATTACH_FAILED_EVENT)
                .join("enable"),
            "1",
        )
        .ok()?;
        Some(instance)
    });
    let result = attempt();
    let message = instance.as_ref().and_then(|i| {
        let trace = fs::read_to_string(i.0.join("trace")).ok()?;
        trace
            .lines()
            .filter_map(|l| l.split_once("errmsg=").map(|(_, m)| m.trim().to_owned()))
            .rfind(|m| !m.is_empty())
    });
    (
        result,
        message.map_or(KernelReason::Unknown, KernelReason::Said),
    )
}
