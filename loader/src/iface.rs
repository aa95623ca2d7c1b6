//! Interface names to ifindexes, resolved before anything is loaded, so an
//! unknown name (even the second of two) costs nothing to undo.

use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum IfaceError {
    #[error("unknown interface {name}")]
    Unknown { name: String },
    #[error("interface {name} is given twice")]
    Duplicate { name: String },
    #[error("invalid interface name {name:?}")]
    Invalid { name: String },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Interface {
    pub name: String,
    pub ifindex: u32,
}

/// Resolves every name, in order, in the caller's network namespace.
pub fn resolve(names: &[String]) -> Result<Vec<Interface>, IfaceError> {
    let mut out: Vec<Interface> = Vec::with_capacity(names.len());
    for name in names {
        if name.is_empty() || name.len() >= libc_ifnamsiz() || name.contains('/') {
            return Err(IfaceError::Invalid { name: name.clone() });
        }
        if out.iter().any(|i| &i.name == name) {
            return Err(IfaceError::Duplicate { name: name.clone() });
        }
        let ifindex = nix::net::if_::if_nametoindex(name.as_str())
            .map_err(|_| IfaceError::Unknown { name: name.clone() })?;
        out.push(Interface {
            name: name.clone(),
            ifindex,
        });
    }
    Ok(out)
}

/// Names for the ifindexes the kernel reports (tracepoints carry only the
/// number, and an ifindex means something only in its network namespace).
///
/// The interfaces xdploader attached to are named exactly, from its link
/// pins (`<pin-dir>/xdploader/<name>/link` and the kernel's ifindex of that
/// link), whichever namespace they are in. Other ifindexes are named in this
/// process's namespace only when that is where the load happened (every
/// link pin's name has its ifindex here), or when there are no link pins to
/// say otherwise; else they stay numbers rather than get a wrong name.
#[derive(Clone, Debug, Default)]
pub struct InterfaceNames {
    attached: Vec<Interface>,
    local: bool,
}

impl InterfaceNames {
    /// The names that hold for the program whose maps are pinned at or below
    /// `near` (the link pins are looked for there and in its parents, up to
    /// the root of that bpffs).
    pub fn for_pins(near: &std::path::Path) -> Self {
        let attached = near
            .ancestors()
            .skip(1)
            .take_while(|dir| crate::bpffs::is_bpffs(dir))
            .map(|dir| crate::attach::attached_interfaces(&crate::attach::PinLayout::new(dir)))
            .find(|found| !found.is_empty())
            .unwrap_or_default();
        let local = attached.iter().all(|i| {
            nix::net::if_::if_nametoindex(i.name.as_str()).is_ok_and(|here| here == i.ifindex)
        });
        Self { attached, local }
    }

    /// The name of `ifindex`, or None when it cannot be told for sure.
    pub fn name(&self, ifindex: i32) -> Option<String> {
        let index = u32::try_from(ifindex).ok().filter(|i| *i != 0)?;
        let mut attached = self.attached.iter().filter(|i| i.ifindex == index);
        match (attached.next(), attached.next()) {
            // Two namespaces with the same ifindex attached: ambiguous.
            (Some(_), Some(_)) => None,
            (Some(one), None) => Some(one.name.clone()),
            (None, _) if self.local => nix::net::if_::if_indextoname(index)
                .ok()
                .map(|n| n.to_string_lossy().into_owned()),
            (None, _) => None,
        }
    }
}

/// IFNAMSIZ, NUL included.
const fn libc_ifnamsiz() -> usize {
    16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_resolves_and_unknown_is_named() {
        let lo = resolve(&["lo".into()]).expect("lo exists in every netns");
        assert_eq!(lo[0].ifindex, 1);
        let err = resolve(&["lo".into(), "nosuchif0".into()]).unwrap_err();
        assert_eq!(err.to_string(), "unknown interface nosuchif0");
        let err = resolve(&["lo".into(), "lo".into()]).unwrap_err();
        assert_eq!(err.to_string(), "interface lo is given twice");
        assert!(resolve(&["a/b".into()]).is_err());
        assert!(resolve(&["x".repeat(16)]).is_err());
    }

    #[test]
    fn names_come_from_link_pins_first_and_this_namespace_only_when_trusted() {
        let attached = vec![
            Interface {
                name: "veth-a".into(),
                ifindex: 7,
            },
            Interface {
                name: "veth-b".into(),
                ifindex: 7,
            },
            Interface {
                name: "veth-c".into(),
                ifindex: 9,
            },
        ];
        let elsewhere = InterfaceNames {
            attached: attached.clone(),
            local: false,
        };
        assert_eq!(elsewhere.name(9).as_deref(), Some("veth-c"));
        assert_eq!(elsewhere.name(7), None, "ambiguous across namespaces");
        assert_eq!(elsewhere.name(1), None, "lo here is not lo there");
        assert_eq!(elsewhere.name(0), None);
        let here = InterfaceNames {
            attached,
            local: true,
        };
        assert_eq!(here.name(1).as_deref(), Some("lo"));
    }
}
