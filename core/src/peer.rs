//! The veth peer fix: what a veth's other end needs so that frames an XDP
//! program sends with XDP_TX or XDP_REDIRECT arrive, and arrive intact.
//!
//! 1. A veth delivers XDP frames to its peer only when the peer has an XDP
//!    program (native mode): without one they are dropped with ENXIO
//!    (`xdp:xdp_bulk_tx err=-6`). The fix attaches kern/xdp_pass.c there.
//! 2. veth advertises tx checksum offload, so the peer's stack sends TCP and
//!    UDP with CHECKSUM_PARTIAL and no final checksum; a frame XDP redirects
//!    loses that mark and arrives with a bad checksum. The fix turns the
//!    peer's tx checksum offload off (`ethtool -K PEER tx off`).
//!
//! The peer may be in another network namespace: it is found by the id the
//! kernel gives that namespace and entered for the fix. What the fix
//! changed is recorded next to the interface's link pin (a pinned link for
//! the pass program, a marker directory for the checksum), so `unload`
//! restores exactly that.

use std::{fs, io, path::PathBuf};

use aya::programs::{links::FdLink, XdpMode as AttachMode};
use serde::Serialize;

use crate::{
    iface::Interface,
    netdev::{self, NetdevError, Netns, XdpMode},
    state::PinLayout,
};

/// kern/xdp_pass.elf, built by build.rs.
pub const PASS_OBJECT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/xdp_pass.elf"));
pub const PASS_PROGRAM: &str = "xdp_pass";

#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    #[error("{iface}'s peer is in a network namespace (id {nsid}) that neither `ip netns` nor any process names")]
    NetnsNotFound { iface: String, nsid: i32 },
    #[error("{iface}'s peer")]
    Netdev {
        iface: String,
        #[source]
        source: NetdevError,
    },
    #[error("loading kern/xdp_pass.elf")]
    LoadPass(#[source] crate::load::LoadError),
    #[error("attaching xdp_pass to {peer}")]
    Attach {
        peer: String,
        #[source]
        source: aya::programs::ProgramError,
    },
    #[error("attaching xdp_pass to {peer}: the kernel attached it without a bpf_link")]
    NoBpfLink { peer: String },
    #[error("{action} {path}")]
    Record {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("pinning the peer's link at {path}")]
    PinLink {
        path: PathBuf,
        #[source]
        source: aya::pin::PinError,
    },
}

/// Runs `f` with the calling thread in the peer's network namespace.
fn in_peer_netns<T>(
    iface: &str,
    peer: &Peer,
    f: impl FnOnce() -> Result<T, PeerError>,
) -> Result<T, PeerError> {
    let _inside = peer
        .netns
        .as_ref()
        .map(netdev::ThreadInNetns::enter)
        .transpose()
        .map_err(|source| PeerError::Netdev {
            iface: iface.to_owned(),
            source,
        })?;
    f()
}

/// Where a veth's peer is.
#[derive(Debug)]
pub struct Peer {
    pub ifindex: u32,
    pub netns: Option<Netns>,
}

impl Peer {
    /// Where the peer is, for messages: `in netns NAME` or nothing.
    pub fn place(&self) -> String {
        self.netns
            .as_ref()
            .map_or_else(String::new, |ns| format!(" (in {})", ns.label))
    }
}

/// The peer of `link` if it is a veth.
pub fn find(link: &netdev::Link) -> Result<Option<Peer>, PeerError> {
    let (true, Some(ifindex)) = (link.is_veth(), link.peer_ifindex) else {
        return Ok(None);
    };
    let netns = match link.peer_netnsid {
        None => None,
        Some(nsid) => Some(
            netdev::netns_by_id(nsid)
                .map_err(|source| PeerError::Netdev {
                    iface: link.name.clone(),
                    source,
                })?
                .ok_or_else(|| PeerError::NetnsNotFound {
                    iface: link.name.clone(),
                    nsid,
                })?,
        ),
    };
    Ok(Some(Peer { ifindex, netns }))
}

/// The peer's device and whether it offloads tx checksums, read in one
/// visit to its namespace: what both the fix and `doctor` decide on.
pub fn query(peer: &Peer) -> Result<(netdev::Link, bool), NetdevError> {
    netdev::with_thread_in_netns(peer.netns.as_ref(), || {
        let link = netdev::link(peer.ifindex)?;
        let tx_on = netdev::tx_checksum(&link.name)?;
        Ok((link, tx_on))
    })
}

/// What the fix did (or found already done) for one interface's peer.
#[derive(Debug, Serialize)]
pub struct PeerFix {
    pub iface: String,
    pub peer: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub netns: Option<String>,
    /// One line per thing done or found, with the reason.
    pub actions: Vec<String>,
}

/// Makes `iface`'s veth peer able to receive what XDP sends it. None when
/// `iface` is not a veth or its program is not in native mode (generic mode
/// needs neither fix).
pub fn fix(layout: &PinLayout, iface: &Interface) -> Result<Option<PeerFix>, PeerError> {
    let netdev_err = |source| PeerError::Netdev {
        iface: iface.name.clone(),
        source,
    };
    let link = netdev::link(iface.ifindex).map_err(netdev_err)?;
    if link.xdp != XdpMode::Native {
        return Ok(None);
    }
    let Some(peer) = find(&link)? else {
        return Ok(None);
    };
    let (peer_link, tx_on) = query(&peer).map_err(netdev_err)?;
    let mut actions = Vec::new();
    let place = peer.place();

    match peer_link.xdp {
        XdpMode::None => {
            attach_pass(layout, iface, &peer, &peer_link.name)?;
            actions.push(format!(
                "{}{place}: attached xdp_pass, so the XDP_TX/REDIRECT frames {} sends it are not dropped (ENXIO)",
                peer_link.name, iface.name
            ));
        }
        XdpMode::Skb => actions.push(format!(
            "{}{place} has an XDP program in skb mode: XDP_TX/REDIRECT frames from {} are still dropped (ENXIO) until it runs in native mode",
            peer_link.name, iface.name
        )),
        _ => {}
    }

    if tx_on {
        netdev::with_thread_in_netns(peer.netns.as_ref(), || {
            netdev::set_tx_checksum(&peer_link.name, false)
        })
        .map_err(netdev_err)?;
        let marker = layout.peer_tx_marker(&iface.name);
        fs::create_dir_all(&marker)
            .and_then(|()| layout.mode.apply(&marker))
            .map_err(|source| PeerError::Record {
                action: "recording",
                path: marker.clone(),
                source,
            })?;
        actions.push(format!(
            "{}{place}: turned tx checksum offload off, so TCP/UDP it sends keep valid checksums when XDP redirects them",
            peer_link.name
        ));
    }
    Ok(Some(PeerFix {
        iface: iface.name.clone(),
        peer: peer_link.name,
        netns: peer.netns.map(|ns| ns.label),
        actions,
    }))
}

/// Loads kern/xdp_pass.elf and attaches it natively to the peer, from
/// inside the peer's namespace (the kernel resolves the ifindex there), and
/// pins the link so it outlives the loader.
fn attach_pass(
    layout: &PinLayout,
    iface: &Interface,
    peer: &Peer,
    peer_name: &str,
) -> Result<(), PeerError> {
    let attach_err = |source| PeerError::Attach {
        peer: peer_name.to_owned(),
        source,
    };
    let mut ebpf =
        crate::load::load_embedded(PASS_OBJECT, PASS_PROGRAM).map_err(PeerError::LoadPass)?;
    let program =
        crate::load::embedded_program(&mut ebpf, PASS_PROGRAM).map_err(PeerError::LoadPass)?;
    let link = in_peer_netns(&iface.name, peer, || {
        program
            .attach_to_if_index(peer.ifindex, AttachMode::Driver)
            .map_err(attach_err)
    })?;
    let link = program.take_link(link).map_err(attach_err)?;
    let link = FdLink::try_from(link).map_err(|_| PeerError::NoBpfLink {
        peer: peer_name.to_owned(),
    })?;
    let path = layout.peer_link(&iface.name);
    fs::create_dir_all(layout.state(&iface.name)).map_err(|source| PeerError::Record {
        action: "creating",
        path: layout.state(&iface.name),
        source,
    })?;
    link.pin(&path).map_err(|source| PeerError::PinLink {
        path: path.clone(),
        source,
    })?;
    layout
        .mode
        .apply(&path)
        .map_err(|source| PeerError::Record {
            action: "setting the mode of",
            path,
            source,
        })
}

/// Undoes what [`fix`] recorded for `iface`: detaches the pass program and
/// turns tx checksum offload back on. Lines say what was restored.
/// The peer fix's records of an interface that is gone (its namespace
/// deleted): the pass program's link pin is removed, the tx checksum marker
/// dropped, and no interface is touched.
pub fn forget(layout: &PinLayout, iface: &str) -> Result<Vec<String>, PeerError> {
    let pin = layout.peer_link(iface);
    let removed = crate::sys::detach_and_unpin(&pin).map_err(|source| PeerError::Record {
        action: "removing",
        path: pin,
        source,
    })?;
    let _ = fs::remove_dir(layout.peer_tx_marker(iface));
    Ok(removed
        .then(|| format!("{iface} is gone: removed its peer fix's pins"))
        .into_iter()
        .collect())
}

pub fn restore(layout: &PinLayout, iface: &str) -> Result<Vec<String>, PeerError> {
    let mut restored = Vec::new();
    let pin = layout.peer_link(iface);
    match crate::sys::detach_and_unpin(&pin) {
        Ok(true) => restored.push(format!("{iface}'s peer: detached xdp_pass")),
        Ok(false) => {}
        Err(source) => {
            return Err(PeerError::Record {
                action: "removing",
                path: pin,
                source,
            })
        }
    }
    let marker = layout.peer_tx_marker(iface);
    if marker.is_dir() {
        // The pair may be gone (namespace deleted): then there is nothing to restore.
        let turned_on = netdev::link_by_name(iface)
            .ok()
            .map(|link| -> Result<Option<String>, PeerError> {
                let Some(peer) = find(&link)? else {
                    return Ok(None);
                };
                let name = netdev::with_thread_in_netns(peer.netns.as_ref(), || {
                    let peer_link = netdev::link(peer.ifindex)?;
                    netdev::set_tx_checksum(&peer_link.name, true)?;
                    Ok(peer_link.name)
                })
                .map_err(|source| PeerError::Netdev {
                    iface: iface.to_owned(),
                    source,
                })?;
                Ok(Some(format!(
                    "{name}{}: tx checksum offload back on",
                    peer.place()
                )))
            })
            .transpose()?
            .flatten();
        restored.extend(turned_on);
        let _ = fs::remove_dir(&marker);
    }
    Ok(restored)
}
