//! Which network namespace a command runs in, and where its pins go.
//!
//! Interface names are per namespace: every container has its `eth0`. So
//! everything xdploader records of an interface (its link pin, its load
//! record, the maps that ask for no pinning, the peer fix) lives in a pin
//! directory of the namespace's own unless `--pin-dir` says otherwise:
//!
//! ```text
//! the host's namespace (PID 1's)      /sys/fs/bpf                    (as ever)
//! a namespace `ip netns` names        /sys/fs/bpf/netns-NAME         (apply's too)
//! any other one (a container's)       /sys/fs/bpf/netns-cookie-N     (its netns cookie, 5.14+)
//!                                     /sys/fs/bpf/netns-ino-N        (its inode, before 5.14)
//! ```
//!
//! A cookie is never reused while the machine runs; an inode number is
//! unique only while the namespace lives. A namespace that goes away takes
//! its interfaces, and so the programs on them: its pins stay (bpffs does not
//! know namespaces) until `xdploader unload --all` or a load into a new
//! namespace of the same name finds their links attached to nothing and
//! removes them. Whatever the directory, every link is checked against the
//! interface before it is updated or detached ([`crate::attach`],
//! [`crate::ops::unload`]): a pin another namespace's load made is refused.

use std::{
    fs,
    os::{fd::AsRawFd as _, unix::fs::MetadataExt as _},
    path::{Path, PathBuf},
};

use crate::DEFAULT_PIN_DIR;

/// The network namespace of the calling thread.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Here {
    /// It is PID 1's (or kthreadd's, where PID 1's cannot be read; where
    /// neither can, it is taken as the host's).
    pub host: bool,
    /// Its name in /run/netns, if `ip netns` knows it.
    pub name: Option<String>,
    pub inode: u64,
    /// SO_NETNS_COOKIE (5.14+).
    pub cookie: Option<u64>,
}

impl Here {
    /// Where this namespace's loads pin by default.
    pub fn default_pin_dir(&self) -> PathBuf {
        let base = Path::new(DEFAULT_PIN_DIR);
        if self.host {
            return base.to_owned();
        }
        base.join(self.dir_name())
    }

    /// `netns-NAME`, `netns-cookie-N` or `netns-ino-N`.
    pub fn dir_name(&self) -> String {
        match (&self.name, self.cookie) {
            (Some(name), _) => format!("netns-{name}"),
            (None, Some(cookie)) => format!("netns-cookie-{cookie}"),
            (None, None) => format!("netns-ino-{}", self.inode),
        }
    }

    /// How messages name it.
    pub fn label(&self) -> String {
        match (&self.name, self.cookie) {
            _ if self.host => "the host's network namespace".to_owned(),
            (Some(name), _) => format!("netns {name}"),
            (None, Some(cookie)) => format!("the network namespace with cookie {cookie}"),
            (None, None) => format!("the network namespace with inode {}", self.inode),
        }
    }
}

/// The calling thread's network namespace.
pub fn here() -> Here {
    let id = |path: &str| fs::metadata(path).ok().map(|m| (m.dev(), m.ino()));
    let mine = id("/proc/thread-self/ns/net");
    // PID 1's namespace; where PID 1 may not be looked at (some sandboxes
    // refuse even root), kthreadd's: kernel threads live in the initial one.
    let initial = id("/proc/1/ns/net").or_else(|| {
        fs::read_to_string("/proc/2/comm")
            .is_ok_and(|c| c.trim() == "kthreadd")
            .then(|| id("/proc/2/ns/net"))
            .flatten()
    });
    let host = match (mine, initial) {
        (Some(mine), Some(initial)) => mine == initial,
        _ => true,
    };
    let name = mine.and_then(|mine| {
        ["/run/netns", "/var/run/netns"]
            .into_iter()
            .flat_map(|dir| fs::read_dir(dir).into_iter().flatten().flatten())
            .find(|e| fs::metadata(e.path()).is_ok_and(|m| (m.dev(), m.ino()) == mine))
            .map(|e| e.file_name().to_string_lossy().into_owned())
    });
    Here {
        host,
        name,
        inode: mine.map_or(0, |(_, ino)| ino),
        cookie: cookie(),
    }
}

/// SO_NETNS_COOKIE of a socket made here: the namespace's id for the
/// machine's lifetime. None before 5.14.
fn cookie() -> Option<u64> {
    const SO_NETNS_COOKIE: nix::libc::c_int = 71;
    let socket = nix::sys::socket::socket(
        nix::sys::socket::AddressFamily::Inet,
        nix::sys::socket::SockType::Datagram,
        nix::sys::socket::SockFlag::SOCK_CLOEXEC,
        None,
    )
    .ok()?;
    let mut value = 0u64;
    let mut len = size_of::<u64>() as nix::libc::socklen_t;
    // SAFETY: the kernel writes at most `len` bytes into `value`, which lives
    // for the call.
    let ret = unsafe {
        nix::libc::getsockopt(
            socket.as_raw_fd(),
            nix::libc::SOL_SOCKET,
            SO_NETNS_COOKIE,
            std::ptr::from_mut(&mut value).cast(),
            &raw mut len,
        )
    };
    (ret == 0).then_some(value)
}

#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    #[error("{iface}: the link pinned at {path} is attached to ifindex {attached} of another network namespace, not to {iface} (ifindex {ifindex}) of {here}: refused, nothing changed; this namespace's loads pin under {own} by default (or give another --pin-dir)")]
    LinkElsewhere {
        iface: String,
        ifindex: u32,
        path: PathBuf,
        attached: u32,
        here: String,
        own: PathBuf,
    },
    #[error("{iface} runs a load that an earlier xdploader pinned under {old}, before each network namespace had a pin directory of its own: run `xdploader unload -i {iface} --pin-dir {base}` once, then load again")]
    EarlierLayout {
        iface: String,
        old: PathBuf,
        base: PathBuf,
    },
}

/// Refuses a load into `pin_dir`, this namespace's own default, on an
/// interface that runs a load of an earlier version, which pinned every
/// namespace's loads under /sys/fs/bpf/xdploader/IF: a new attach would
/// fail with EBUSY, and the old records would be orphaned.
pub fn check_earlier_layout(
    pin_dir: &Path,
    interfaces: &[crate::iface::Interface],
) -> Result<(), NetnsError> {
    let here = here();
    if here.host || pin_dir != here.default_pin_dir() {
        return Ok(());
    }
    let base = Path::new(DEFAULT_PIN_DIR);
    for iface in interfaces {
        let old = crate::state::PinLayout::new(base).link(&iface.name);
        let Ok(facts) = crate::sys::pinned_link_facts(&old) else {
            continue;
        };
        if link_place(&facts, iface.ifindex) == LinkPlace::Here {
            return Err(NetnsError::EarlierLayout {
                iface: iface.name.clone(),
                old,
                base: base.to_owned(),
            });
        }
    }
    Ok(())
}

/// [`link_place`], with a link of another namespace refused: call it before
/// updating, detaching or undoing anything a record names.
pub fn check_link(
    facts: &crate::sys::LinkFacts,
    path: &Path,
    iface: &str,
    ifindex: u32,
) -> Result<LinkPlace, NetnsError> {
    match link_place(facts, ifindex) {
        LinkPlace::Elsewhere { ifindex: attached } => {
            let here = here();
            Err(NetnsError::LinkElsewhere {
                iface: iface.to_owned(),
                ifindex,
                path: path.to_owned(),
                attached,
                here: here.label(),
                own: here.default_pin_dir(),
            })
        }
        place => Ok(place),
    }
}

/// Where a pinned XDP link is attached, seen from the calling thread's
/// namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkPlace {
    /// On this namespace's interface: it runs the link's program.
    Here,
    /// Attached to nothing: its interface went away (and with it, maybe,
    /// its namespace). Its pin is all that is left.
    Gone,
    /// On an interface of another namespace (that ifindex there).
    Elsewhere { ifindex: u32 },
}

/// Whether the link whose facts these are is attached to the interface
/// `ifindex` of this namespace: the same ifindex, and the program that
/// interface runs here is the link's. (Two namespaces can each have an
/// ifindex 5; only one of them runs this link's program.)
pub fn link_place(facts: &crate::sys::LinkFacts, ifindex: u32) -> LinkPlace {
    match facts.xdp_ifindex {
        None | Some(0) => LinkPlace::Gone,
        Some(attached) => {
            let runs = crate::netdev::link(ifindex).is_ok_and(|l| l.runs(facts.prog_id));
            if attached == ifindex && runs {
                LinkPlace::Here
            } else {
                LinkPlace::Elsewhere { ifindex: attached }
            }
        }
    }
}

/// The pin directories that namespaces' loads made below `base`
/// (`netns-*`), for `status` to count on the host.
pub fn namespace_pin_dirs(base: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = fs::read_dir(base)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("netns-"))
        .map(|e| e.path())
        .collect();
    dirs.sort();
    dirs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns(host: bool, name: Option<&str>, cookie: Option<u64>) -> Here {
        Here {
            host,
            name: name.map(str::to_owned),
            inode: 4_026_532_000,
            cookie,
        }
    }

    #[test]
    fn the_host_keeps_the_pin_dir_and_others_get_one_of_their_own() {
        assert_eq!(
            ns(true, None, Some(1)).default_pin_dir(),
            Path::new("/sys/fs/bpf")
        );
        assert_eq!(
            ns(false, Some("uxa"), Some(7)).default_pin_dir(),
            Path::new("/sys/fs/bpf/netns-uxa")
        );
        assert_eq!(
            ns(false, None, Some(7)).default_pin_dir(),
            Path::new("/sys/fs/bpf/netns-cookie-7")
        );
        assert_eq!(
            ns(false, None, None).default_pin_dir(),
            Path::new("/sys/fs/bpf/netns-ino-4026532000")
        );
    }

    #[test]
    fn this_process_knows_its_namespace() {
        let here = here();
        assert_ne!(here.inode, 0);
        assert!(!here.dir_name().is_empty());
    }
}
