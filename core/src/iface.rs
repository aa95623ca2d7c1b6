//! Interface names: checked by the kernel's own rules before any path is
//! built from them, and resolved to ifindexes before anything is loaded, so
//! an unknown name (even the second of two) costs nothing to undo.

use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum IfaceError {
    #[error("unknown interface {name}")]
    Unknown { name: String },
    #[error("interface {name} is given twice")]
    Duplicate { name: String },
    #[error("invalid interface name {name:?}: {why}")]
    Invalid { name: String, why: &'static str },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Interface {
    pub name: String,
    pub ifindex: u32,
}

/// IFNAMSIZ, NUL included.
const IFNAMSIZ: usize = 16;

/// Checks `name` by the kernel's rules for interface names (dev_valid_name):
/// 1 to 15 bytes, not `.` or `..`, no `/`, `:` or whitespace. Every
/// subcommand checks before a name becomes part of a path.
pub fn validate_name(name: &str) -> Result<(), IfaceError> {
    let why = if name.is_empty() {
        Some("empty")
    } else if name.len() >= IFNAMSIZ {
        Some("longer than 15 bytes")
    } else if name == "." || name == ".." {
        Some("a path component, not a name")
    } else if name.contains('/') || name.contains(':') {
        Some("contains '/' or ':'")
    } else if name.chars().any(char::is_whitespace) {
        Some("contains whitespace")
    } else {
        None
    };
    match why {
        Some(why) => Err(IfaceError::Invalid {
            name: name.to_owned(),
            why,
        }),
        None => Ok(()),
    }
}

/// Resolves every name, in order, in the caller's network namespace.
pub fn resolve(names: &[String]) -> Result<Vec<Interface>, IfaceError> {
    let mut out: Vec<Interface> = Vec::with_capacity(names.len());
    for name in names {
        validate_name(name)?;
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
    }

    #[test]
    fn names_follow_the_kernels_rules() {
        for bad in [
            "",
            ".",
            "..",
            "a/b",
            "../..",
            "a:1",
            "a b",
            "x\ty",
            &"x".repeat(16),
        ] {
            assert!(validate_name(bad).is_err(), "{bad:?} accepted");
        }
        // Shell metacharacters are valid in a name: the kernel allows them.
        for good in ["veth1", "x;rm", "$(id)", "`q`", &"x".repeat(15)] {
            validate_name(good).unwrap_or_else(|e| panic!("{good:?}: {e}"));
        }
        assert_eq!(
            validate_name("..").unwrap_err().to_string(),
            "invalid interface name \"..\": a path component, not a name"
        );
    }
}
