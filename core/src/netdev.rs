//! What the kernel says about a network device, and acting on it in another
//! network namespace: rtnetlink for a link's kind, MTU, XDP attachment and
//! veth peer (netlink-packet-route), RTM_GETNSID to find the namespace a
//! peer lives in, setns to enter it, the ethtool ioctl for tx checksum
//! offload, detaching a netlink XDP attachment, and the per-interface
//! sysctls. The veth peer fix ([`crate::peer`]) and `doctor` build on it:
//! every fix is applied through here, never through a shell.

use std::{
    fs, io,
    os::{
        fd::{AsFd as _, AsRawFd as _, BorrowedFd, OwnedFd},
        unix::fs::MetadataExt as _,
    },
    path::{Path, PathBuf},
};

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_REQUEST,
};
use netlink_packet_route::{
    link::{InfoKind, LinkAttribute, LinkInfo, LinkMessage, LinkXdp, XdpAttached},
    nsid::{NsidAttribute, NsidMessage},
    RouteNetlinkMessage,
};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};
use nix::sched::{setns, CloneFlags};
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum NetdevError {
    #[error("{call} failed")]
    Sys {
        call: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("netlink: cannot parse the kernel's reply")]
    Decode(#[source] netlink_packet_core::DecodeError),
    #[error("no network namespace {name} (ip netns add {name} makes it)")]
    NoNetns {
        name: String,
        #[source]
        source: io::Error,
    },
    #[error("netlink: no reply for ifindex {0}")]
    NoSuchLink(u32),
    #[error("writing {path}")]
    Sysctl {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

fn sys(call: &'static str) -> impl FnOnce(io::Error) -> NetdevError {
    move |source| NetdevError::Sys { call, source }
}

fn sys_nix(call: &'static str) -> impl FnOnce(nix::Error) -> NetdevError {
    move |e| NetdevError::Sys {
        call,
        source: io::Error::from(e),
    }
}

/// Attach mode as the user asks for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Native (driver) mode, and generic (skb) mode if the driver refuses.
    Auto,
    /// Native (driver) mode only.
    Native,
    /// Generic (skb) mode only.
    Skb,
}

impl Mode {
    /// As `--mode` and the config file spell it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Native => "native",
            Self::Skb => "skb",
        }
    }
}

/// How an XDP program is attached to a device.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum XdpMode {
    None,
    Native,
    Skb,
    Offload,
    Multiple,
}

impl XdpMode {
    /// The name the JSON uses too.
    pub fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Native => "native",
            Self::Skb => "skb",
            Self::Offload => "offload",
            Self::Multiple => "multiple",
        }
    }
}

/// A device as rtnetlink reports it.
#[derive(Clone, Debug, Serialize)]
pub struct Link {
    pub ifindex: u32,
    pub name: String,
    /// `veth`, `bridge`, ...; None for devices without a kind (physical NICs, lo).
    pub kind: Option<String>,
    pub mtu: u32,
    /// The largest MTU the driver allows.
    pub max_mtu: Option<u32>,
    pub xdp: XdpMode,
    pub xdp_prog_id: Option<u32>,
    /// The programs of each mode, where several are attached at once
    /// (native and generic): then `xdp_prog_id` is None.
    pub xdp_mode_prog_ids: Vec<u32>,
    /// For a veth: the peer's ifindex, in the peer's namespace.
    pub peer_ifindex: Option<u32>,
    /// For a veth whose peer is in another namespace: that namespace's id
    /// as seen from this one.
    pub peer_netnsid: Option<i32>,
}

impl Link {
    /// Whether `prog_id` runs on this interface, in any mode.
    pub fn runs(&self, prog_id: u32) -> bool {
        self.xdp_prog_id == Some(prog_id) || self.xdp_mode_prog_ids.contains(&prog_id)
    }

    pub fn is_veth(&self) -> bool {
        self.kind.as_deref() == Some("veth")
    }
}

/// One rtnetlink request and its replies, on a socket of the calling
/// thread's current network namespace.
fn request(message: RouteNetlinkMessage) -> Result<Vec<RouteNetlinkMessage>, NetdevError> {
    request_as(message, "rtnetlink request")
}

fn request_as(
    message: RouteNetlinkMessage,
    call: &'static str,
) -> Result<Vec<RouteNetlinkMessage>, NetdevError> {
    let mut socket = Socket::new(NETLINK_ROUTE).map_err(sys("socket(NETLINK_ROUTE)"))?;
    socket.bind_auto().map_err(sys("bind(netlink)"))?;
    socket
        .connect(&SocketAddr::new(0, 0))
        .map_err(sys("connect(netlink)"))?;
    let mut packet = NetlinkMessage::new(NetlinkHeader::default(), NetlinkPayload::from(message));
    packet.header.flags = NLM_F_REQUEST | NLM_F_ACK;
    packet.header.sequence_number = 1;
    packet.finalize();
    let mut buf = vec![0; packet.buffer_len()];
    packet.serialize(&mut buf);
    socket.send(&buf, 0).map_err(sys("send(netlink)"))?;

    let mut replies = Vec::new();
    let mut receive = vec![0u8; 32 * 1024];
    loop {
        let size = socket
            .recv(&mut &mut receive[..], 0)
            .map_err(sys("recv(netlink)"))?;
        let mut offset = 0;
        while offset < size {
            let reply: NetlinkMessage<RouteNetlinkMessage> =
                NetlinkMessage::deserialize(&receive[offset..size]).map_err(NetdevError::Decode)?;
            let length = reply.header.length as usize;
            match reply.payload {
                NetlinkPayload::InnerMessage(inner) => replies.push(inner),
                NetlinkPayload::Error(err) => {
                    return match err.code {
                        None => Ok(replies), // the ACK: done
                        Some(_) => Err(NetdevError::Sys {
                            call,
                            source: err.to_io(),
                        }),
                    };
                }
                NetlinkPayload::Done(_) => return Ok(replies),
                _ => {}
            }
            if length == 0 {
                break;
            }
            offset += length;
        }
    }
}

/// The device with `ifindex` in the current namespace.
pub fn link(ifindex: u32) -> Result<Link, NetdevError> {
    let mut message = LinkMessage::default();
    message.header.index = ifindex;
    let replies = request(RouteNetlinkMessage::GetLink(message))?;
    replies
        .into_iter()
        .find_map(|r| match r {
            RouteNetlinkMessage::NewLink(m) => Some(parse_link(&m)),
            _ => None,
        })
        .ok_or(NetdevError::NoSuchLink(ifindex))
}

/// Detaches the XDP program attached through netlink in `mode` (what `ip
/// link set dev IF xdpgeneric|xdpdrv|xdpoffload off` does): IFLA_XDP with fd
/// -1 and that mode's flag. A bpf_link attachment is not touched (EBUSY).
pub fn detach_netlink_xdp(ifindex: u32, mode: XdpMode) -> Result<(), NetdevError> {
    set_netlink_xdp(ifindex, -1, mode, "rtnetlink RTM_SETLINK IFLA_XDP fd -1")
}

/// Attaches `prog` through netlink in `mode`: how a program another tool had
/// attached that way is put back when a forced load is rolled back.
pub fn attach_netlink_xdp(
    ifindex: u32,
    prog: BorrowedFd<'_>,
    mode: XdpMode,
) -> Result<(), NetdevError> {
    set_netlink_xdp(
        ifindex,
        prog.as_raw_fd(),
        mode,
        "rtnetlink RTM_SETLINK IFLA_XDP",
    )
}

fn set_netlink_xdp(
    ifindex: u32,
    fd: i32,
    mode: XdpMode,
    call: &'static str,
) -> Result<(), NetdevError> {
    // linux/if_link.h XDP_FLAGS_*_MODE
    let flags = match mode {
        XdpMode::Skb => 1 << 1,
        XdpMode::Offload => 1 << 3,
        _ => 1 << 2,
    };
    let mut message = LinkMessage::default();
    message.header.index = ifindex;
    message.attributes.push(LinkAttribute::Xdp(vec![
        LinkXdp::Fd(fd),
        LinkXdp::Flags(flags),
    ]));
    request_as(RouteNetlinkMessage::SetLink(message), call).map(drop)
}

/// Sets `net.ipv4.conf.<iface>.<key>` in the current namespace (`iface` is
/// `all`, `default` or a validated interface name).
pub fn set_ipv4_conf(iface: &str, key: &str, value: &str) -> Result<(), NetdevError> {
    let path = ipv4_conf_path(iface, key);
    fs::write(&path, value).map_err(|source| NetdevError::Sysctl { path, source })
}

/// Reads `net.ipv4.conf.<iface>.<key>` as a number (None when unreadable).
pub fn ipv4_conf(iface: &str, key: &str) -> Option<u32> {
    fs::read_to_string(ipv4_conf_path(iface, key))
        .ok()
        .and_then(|v| v.trim().parse().ok())
}

fn ipv4_conf_path(iface: &str, key: &str) -> PathBuf {
    PathBuf::from("/proc/sys/net/ipv4/conf")
        .join(iface)
        .join(key)
}

/// The device named `name` in the current namespace.
pub fn link_by_name(name: &str) -> Result<Link, NetdevError> {
    let ifindex = nix::net::if_::if_nametoindex(name).map_err(sys_nix("if_nametoindex"))?;
    link(ifindex)
}

fn parse_link(m: &LinkMessage) -> Link {
    let mut link = Link {
        ifindex: m.header.index,
        name: String::new(),
        kind: None,
        mtu: 0,
        max_mtu: None,
        xdp: XdpMode::None,
        xdp_prog_id: None,
        xdp_mode_prog_ids: Vec::new(),
        peer_ifindex: None,
        peer_netnsid: None,
    };
    for attribute in &m.attributes {
        match attribute {
            LinkAttribute::IfName(name) => link.name.clone_from(name),
            LinkAttribute::Mtu(mtu) => link.mtu = *mtu,
            LinkAttribute::MaxMtu(mtu) => link.max_mtu = Some(*mtu),
            LinkAttribute::Link(peer) => link.peer_ifindex = Some(*peer),
            LinkAttribute::LinkNetNsId(id) => link.peer_netnsid = Some(*id),
            LinkAttribute::LinkInfo(infos) => {
                for info in infos {
                    if let LinkInfo::Kind(kind) = info {
                        link.kind = Some(match kind {
                            InfoKind::Veth => "veth".to_owned(),
                            other => other.to_string(),
                        });
                    }
                }
            }
            LinkAttribute::Xdp(xdp) => {
                for x in xdp {
                    match x {
                        LinkXdp::Attached(mode) => {
                            link.xdp = match mode {
                                XdpAttached::None => XdpMode::None,
                                XdpAttached::Driver => XdpMode::Native,
                                XdpAttached::SocketBuffer => XdpMode::Skb,
                                XdpAttached::Hardware => XdpMode::Offload,
                                _ => XdpMode::Multiple,
                            }
                        }
                        LinkXdp::ProgId(id) => link.xdp_prog_id = Some(*id),
                        // With programs in several modes, IFLA_XDP_PROG_ID
                        // is absent and each mode's id comes apart.
                        LinkXdp::DrvProgId(id) | LinkXdp::SkbProgId(id) | LinkXdp::HwProgId(id) => {
                            link.xdp_mode_prog_ids.push(*id);
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    // A veth's IFLA_LINK is its peer; for other kinds it means something else.
    if !link.is_veth() {
        link.peer_ifindex = None;
        link.peer_netnsid = None;
    }
    link
}

/// The id the current namespace gives the namespace open as `netns`, if any.
fn nsid_of(netns: BorrowedFd<'_>) -> Result<Option<i32>, NetdevError> {
    let mut message = NsidMessage::default();
    message
        .attributes
        .push(NsidAttribute::Fd(netns.as_raw_fd() as u32));
    let replies = request(RouteNetlinkMessage::GetNsId(message))?;
    Ok(replies.into_iter().find_map(|r| match r {
        RouteNetlinkMessage::NewNsId(m) => m.attributes.iter().find_map(|a| match a {
            NsidAttribute::Id(id) if *id >= 0 => Some(*id),
            _ => None,
        }),
        _ => None,
    }))
}

/// A network namespace found by its id.
#[derive(Debug)]
pub struct Netns {
    /// How a user names it: `netns NAME` for `ip netns` ones, else the
    /// /proc path of a process inside it.
    pub label: String,
    /// The path it was opened from (`ip netns exec` or `nsenter --net=` take it).
    pub path: PathBuf,
    fd: OwnedFd,
}

impl Netns {
    /// Its nsfs inode: the same for every path it is reached by.
    pub fn inode(&self) -> Option<u64> {
        fs::File::from(self.fd.try_clone().ok()?)
            .metadata()
            .ok()
            .map(|m| m.ino())
    }

    /// The namespace `ip netns` calls `name` (/run/netns/NAME).
    pub fn named(name: &str) -> Result<Self, NetdevError> {
        let path = Path::new("/run/netns").join(name);
        let file = fs::File::open(&path).map_err(|source| NetdevError::NoNetns {
            name: name.to_owned(),
            source,
        })?;
        Ok(Self {
            label: format!("netns {name}"),
            path,
            fd: OwnedFd::from(file),
        })
    }
}

/// Every interface of the calling thread's network namespace: (ifindex, name).
pub fn interfaces() -> Result<Vec<(u32, String)>, NetdevError> {
    let all = nix::net::if_::if_nameindex().map_err(sys_nix("if_nameindex"))?;
    Ok(all
        .iter()
        .map(|i| (i.index(), i.name().to_string_lossy().into_owned()))
        .collect())
}

/// Every network namespace other than the calling thread's that `ip netns`
/// names or a running process is in, once each, named ones first.
pub fn all_netns() -> Vec<Netns> {
    let here = fs::metadata("/proc/thread-self/ns/net")
        .ok()
        .map(|m| (m.dev(), m.ino()));
    let mut seen: std::collections::HashSet<(u64, u64)> = here.into_iter().collect();
    candidate_netns()
        .filter_map(|(label, path)| {
            let file = fs::File::open(&path).ok()?;
            let meta = file.metadata().ok()?;
            seen.insert((meta.dev(), meta.ino())).then(|| Netns {
                label,
                path,
                fd: OwnedFd::from(file),
            })
        })
        .collect()
}

/// Where network namespaces are found: `ip netns` names, then processes.
fn candidate_netns() -> impl Iterator<Item = (String, PathBuf)> {
    let named = ["/run/netns", "/var/run/netns"]
        .into_iter()
        .flat_map(|dir| fs::read_dir(dir).into_iter().flatten().flatten())
        .map(|e| {
            let label = format!("netns {}", e.file_name().to_string_lossy());
            (label, e.path())
        });
    let processes = fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .map(|e| {
            let path = e.path().join("ns/net");
            (path.display().to_string(), path)
        });
    named.chain(processes)
}

/// Finds the namespace that the current one calls `nsid`: among the named
/// ones (`ip netns`) first, then those of running processes.
pub fn netns_by_id(nsid: i32) -> Result<Option<Netns>, NetdevError> {
    let mut seen = std::collections::HashSet::new();
    for (label, path) in candidate_netns() {
        let Ok(file) = fs::File::open(&path) else {
            continue;
        };
        let Ok(meta) = file.metadata() else { continue };
        if !seen.insert((meta.dev(), meta.ino())) {
            continue;
        }
        let fd = OwnedFd::from(file);
        // A namespace being torn down (another container's, another test's)
        // answers EINVAL: it is not the one we look for, so the search goes on.
        if nsid_of(fd.as_fd()).ok().flatten() == Some(nsid) {
            return Ok(Some(Netns { label, path, fd }));
        }
    }
    Ok(None)
}

/// While alive, the calling *thread* is in another network namespace (only
/// that thread: setns moves no other); dropping it returns to the one it
/// came from.
#[derive(Debug)]
pub struct ThreadInNetns {
    home: OwnedFd,
}

impl ThreadInNetns {
    pub fn enter(netns: &Netns) -> Result<Self, NetdevError> {
        let home: OwnedFd = fs::File::open("/proc/thread-self/ns/net")
            .map_err(sys("open(/proc/thread-self/ns/net)"))?
            .into();
        setns(netns.fd.as_fd(), CloneFlags::CLONE_NEWNET)
            .map_err(sys_nix("setns(CLONE_NEWNET)"))?;
        Ok(Self { home })
    }
}

impl Drop for ThreadInNetns {
    fn drop(&mut self) {
        // Cannot fail for a namespace we were in a moment ago.
        let _ = setns(self.home.as_fd(), CloneFlags::CLONE_NEWNET);
    }
}

/// Runs `f` with the calling thread in `netns` (None: where it is), and
/// moves the thread back afterwards.
pub fn with_thread_in_netns<T>(
    netns: Option<&Netns>,
    f: impl FnOnce() -> Result<T, NetdevError>,
) -> Result<T, NetdevError> {
    let _inside = netns.map(ThreadInNetns::enter).transpose()?;
    f()
}

// ethtool's legacy tx checksum commands (linux/ethtool.h): they switch every
// NETIF_F_CSUM_MASK feature at once, which is exactly "tx off".
const ETHTOOL_GTXCSUM: u32 = 0x16;
const ETHTOOL_STXCSUM: u32 = 0x17;

#[repr(C)]
struct EthtoolValue {
    cmd: u32,
    data: u32,
}

fn ethtool(ifname: &str, cmd: u32, data: u32) -> io::Result<u32> {
    let socket = nix::sys::socket::socket(
        nix::sys::socket::AddressFamily::Inet,
        nix::sys::socket::SockType::Datagram,
        nix::sys::socket::SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(io::Error::from)?;
    let mut value = EthtoolValue { cmd, data };
    // SAFETY: ifreq is plain data; all-zero is valid.
    let mut request: nix::libc::ifreq = unsafe { std::mem::zeroed() };
    if ifname.len() >= request.ifr_name.len() {
        return Err(io::Error::from_raw_os_error(nix::libc::EINVAL));
    }
    for (dst, src) in request.ifr_name.iter_mut().zip(ifname.bytes()) {
        *dst = src as nix::libc::c_char;
    }
    request.ifr_ifru.ifru_data = std::ptr::from_mut(&mut value).cast();
    // SAFETY: SIOCETHTOOL reads the ifreq and the ethtool_value it points to,
    // both alive for the call.
    let ret = unsafe {
        nix::libc::ioctl(
            socket.as_raw_fd(),
            nix::libc::SIOCETHTOOL,
            std::ptr::from_mut(&mut request),
        )
    };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(value.data)
}

/// Whether tx checksum offload is on for `ifname` in the current namespace.
pub fn tx_checksum(ifname: &str) -> Result<bool, NetdevError> {
    ethtool(ifname, ETHTOOL_GTXCSUM, 0)
        .map(|on| on != 0)
        .map_err(sys("ioctl(SIOCETHTOOL, ETHTOOL_GTXCSUM)"))
}

/// Turns tx checksum offload on or off (`ethtool -K IF tx on|off`).
pub fn set_tx_checksum(ifname: &str, on: bool) -> Result<(), NetdevError> {
    ethtool(ifname, ETHTOOL_STXCSUM, u32::from(on))
        .map(drop)
        .map_err(sys("ioctl(SIOCETHTOOL, ETHTOOL_STXCSUM)"))
}

/// The command a user types to run `command` where `netns` is, as advice
/// (printed, never run).
pub fn command_in(netns: Option<&Netns>, command: &str) -> String {
    match netns {
        None => command.to_owned(),
        Some(ns) => match ns.label.strip_prefix("netns ") {
            Some(name) => format!("ip netns exec {} {command}", shell_quote(name)),
            None => format!(
                "nsenter --net={} {command}",
                shell_quote(&ns.path.display().to_string())
            ),
        },
    }
}

/// `word` quoted for a POSIX shell when it needs it: interface and
/// namespace names may hold `;`, `$` or backquotes, and advice is pasted.
pub fn shell_quote(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_.,/:=@%+".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}
