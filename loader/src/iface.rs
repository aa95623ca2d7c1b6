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
}
