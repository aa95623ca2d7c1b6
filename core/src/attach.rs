//! Attaching the entry program to an interface: on our pinned link when
//! there is one (atomic replacement, no EBUSY), else as a new bpf_link in
//! the asked mode, with the kernel's own reason when it refuses. Pinning the
//! new link is the transaction's job ([`crate::transaction`]).

use std::{
    fs, io,
    path::{Path, PathBuf},
};

use aya::{
    programs::{links::FdLink, links::PinnedLink, xdp::XdpLink, Xdp, XdpMode},
    Ebpf,
};
use serde::Serialize;

use crate::{errno_text, iface::Interface, state::PinLayout};

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
    #[error("{iface}: opening the pinned link {path}")]
    OpenLink {
        iface: String,
        path: PathBuf,
        #[source]
        source: aya::programs::links::LinkError,
    },
    #[error("{iface}: the kernel attached through netlink instead of a bpf_link (kernel older than 5.9?); xdploader needs bpf_link XDP attachments")]
    NoBpfLink { iface: String },
    #[error("removing the stale link pin {path}")]
    RemoveStale {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// Attach mode as the user asks for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Native (driver) mode, and generic (skb) mode if the driver refuses.
    Auto,
    /// Native (driver) mode only.
    Native,
    /// Generic (skb) mode only.
    Skb,
}

/// An interface's attachment, ready to be committed (pinned) or dropped.
#[derive(Debug)]
pub struct Attachment {
    pub iface: Interface,
    pub mode: &'static str,
    /// Set when auto mode fell back to skb: the kernel's reason for refusing native.
    pub native_refused: Option<String>,
    /// Updated in place on an existing pinned link: nothing new to pin.
    pub replaced: bool,
    /// A new link: detached if dropped before the transaction pins it.
    link: Option<FdLink>,
}

impl Attachment {
    /// The new link, for the transaction to pin (None after a replacement).
    pub fn take_link(&mut self) -> Option<FdLink> {
        self.link.take()
    }

    fn new_link(
        iface: &Interface,
        mode: XdpMode,
        link: FdLink,
        native_refused: Option<String>,
    ) -> Self {
        Self {
            iface: iface.clone(),
            mode: mode_name(mode),
            native_refused,
            replaced: false,
            link: Some(link),
        }
    }
}

fn mode_name(mode: XdpMode) -> &'static str {
    match mode {
        XdpMode::Skb => "skb",
        XdpMode::Driver => "native",
        XdpMode::Hardware => "offload",
        XdpMode::Default => "default",
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
) -> Result<Attachment, AttachError> {
    let prog: &mut Xdp = ebpf
        .program_mut(entry)
        .and_then(|p| p.try_into().ok())
        .expect("the entry program was loaded as XDP");

    let link_path = layout.link(&iface.name);
    if link_path.exists() {
        if let Some(attachment) = replace_on_pinned_link(prog, iface, &link_path)? {
            return Ok(attachment);
        }
    }

    let try_mode = |prog: &mut Xdp, m: XdpMode| -> Result<FdLink, io::Error> {
        let id = prog
            .attach_to_if_index(iface.ifindex, m)
            .map_err(program_io_error)?;
        let link: XdpLink = prog.take_link(id).map_err(program_io_error)?;
        // A netlink fallback cannot be pinned; dropping it detaches it.
        FdLink::try_from(link).map_err(|_| io::Error::from_raw_os_error(libc_enotsup()))
    };
    let (first, fallback) = match mode {
        Mode::Auto => (XdpMode::Driver, Some(XdpMode::Skb)),
        Mode::Native => (XdpMode::Driver, None),
        Mode::Skb => (XdpMode::Skb, None),
    };
    let refused = match try_mode(prog, first) {
        Ok(link) => return Ok(Attachment::new_link(iface, first, link, None)),
        Err(e) if e.raw_os_error() == Some(libc_enotsup()) => {
            return Err(AttachError::NoBpfLink {
                iface: iface.name.clone(),
            })
        }
        Err(e) => e,
    };
    // Ask the kernel why, by trying once more with its tracepoint listening.
    let (retry, message) = kernel_reason(|| try_mode(prog, first));
    if let Ok(link) = retry {
        return Ok(Attachment::new_link(iface, first, link, None));
    }
    let reason = describe_refusal(&refused, message.as_deref());
    match fallback {
        Some(second) => {
            let link = try_mode(prog, second).map_err(|e| AttachError::Refused {
                iface: iface.name.clone(),
                mode: mode_name(second),
                reason: describe_refusal(&e, None),
                source: e,
            })?;
            Ok(Attachment::new_link(iface, second, link, Some(reason)))
        }
        None => Err(AttachError::Refused {
            iface: iface.name.clone(),
            mode: mode_name(first),
            reason,
            source: refused,
        }),
    }
}

const fn libc_enotsup() -> i32 {
    nix::errno::Errno::ENOTSUP as i32
}

fn program_io_error(e: aya::programs::ProgramError) -> io::Error {
    match e {
        aya::programs::ProgramError::SyscallError(s) => s.io_error,
        other => io::Error::other(other.to_string()),
    }
}

/// Replaces the program behind our pinned link. `Ok(None)` when the pin is
/// stale (its interface went away): the pin is removed and a fresh attach follows.
fn replace_on_pinned_link(
    prog: &mut Xdp,
    iface: &Interface,
    link_path: &Path,
) -> Result<Option<Attachment>, AttachError> {
    let replace_err = |reason: String| AttachError::Replace {
        iface: iface.name.clone(),
        path: link_path.to_owned(),
        reason,
    };
    let pinned = PinnedLink::from_pin(link_path).map_err(|source| AttachError::OpenLink {
        iface: iface.name.clone(),
        path: link_path.to_owned(),
        source,
    })?;
    let link = XdpLink::try_from(FdLink::from(pinned))
        .map_err(|_| replace_err("the pin is not an XDP link".into()))?;
    match prog.attach_to_link(link) {
        Ok(id) => {
            // Taking the link out of aya and dropping it as an FdLink only
            // closes our fd: the pin keeps the link, now running the new program.
            let link = prog.take_link(id).map_err(|e| replace_err(e.to_string()))?;
            drop(FdLink::try_from(link).map_err(|_| replace_err("not a bpf_link".into()))?);
            Ok(Some(Attachment {
                iface: iface.clone(),
                mode: "existing link's",
                native_refused: None,
                replaced: true,
                link: None,
            }))
        }
        Err(e) => {
            let err = program_io_error(e);
            if err.raw_os_error() == Some(nix::errno::Errno::ENOLINK as i32) {
                fs::remove_file(link_path).map_err(|source| AttachError::RemoveStale {
                    path: link_path.to_owned(),
                    source,
                })?;
                Ok(None)
            } else {
                Err(replace_err(describe_refusal(&err, None)))
            }
        }
    }
}

fn describe_refusal(err: &io::Error, kernel_message: Option<&str>) -> String {
    let errno = errno_text(err);
    match (kernel_message, err.raw_os_error().map(nix::errno::Errno::from_raw)) {
        (Some(msg), _) => format!("{msg} ({errno})"),
        (None, Some(nix::errno::Errno::EBUSY)) => format!(
            "another XDP program is attached, probably through netlink by another tool; detach it first (ip link set dev IFACE xdp off) ({errno})"
        ),
        (None, _) => errno,
    }
}

/// Runs `attempt` with the kernel's `xdp:bpf_xdp_link_attach_failed`
/// tracepoint enabled in a tracefs instance of our own, and returns the
/// message the kernel gave for the failure, e.g. "veth: Peer MTU is too large
/// to set XDP". Netlink would carry it in the extended ack; for bpf_link
/// attachments this tracepoint is the only place the kernel says it.
fn kernel_reason<T>(
    attempt: impl FnOnce() -> Result<T, io::Error>,
) -> (Result<T, io::Error>, Option<String>) {
    struct Instance(PathBuf);
    impl Drop for Instance {
        fn drop(&mut self) {
            // rmdir of an instance removes it with its buffers and events.
            let _ = fs::remove_dir(&self.0);
        }
    }
    let instance = crate::bpffs::tracefs().and_then(|root| {
        let dir = root
            .join("instances")
            .join(format!("xdploader-{}", std::process::id()));
        fs::create_dir(&dir).ok()?;
        let instance = Instance(dir);
        fs::write(
            instance
                .0
                .join("events/xdp/bpf_xdp_link_attach_failed/enable"),
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
    (result, message)
}
