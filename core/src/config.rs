//! The declared state `xdploader apply` makes true: a TOML file of
//! attachments, each one object loaded on its interfaces with the options a
//! load takes on the command line. Parsed and checked whole before anything
//! is done, so a typo is one error line naming the entry, not half a fleet.
//!
//! ```toml
//! [[attach]]
//! file = "/usr/local/lib/xdp-skeleton/xdp.elf"   # relative: to this file's directory
//! interfaces = ["veth1"]
//! # netns = "lab"        # interfaces in `ip netns` namespace lab (pins: /sys/fs/bpf/netns-lab)
//! # mode = "auto"        # auto | native | skb
//! # tail = ["jmp_map:3=stage_c"]
//! # allow_empty_slots = false  # true: the entry may tail-call slots you fill yourself
//! ```

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    time::Duration,
};

use serde::Deserialize;

use crate::{
    attach::Mode,
    jump_table::{ChainOptions, TailArg},
    load::MaxEntries,
    ops::load::LoadOptions,
    state::PinMode,
    DEFAULT_PIN_DIR,
};

/// Where `xdploader apply` looks when given no `-c`.
pub const DEFAULT_CONFIG: &str = "/etc/xdploader/config.toml";

/// Where the pins of an entry in network namespace `netns` go by default:
/// interface names repeat across namespaces, and one pin directory holds one
/// record per interface name.
pub fn netns_pin_dir(netns: &str) -> PathBuf {
    Path::new(DEFAULT_PIN_DIR).join(format!("netns-{netns}"))
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Syntax {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{path}: attach entry {entry} ({file}): {message}")]
    Entry {
        path: PathBuf,
        entry: usize,
        file: String,
        message: String,
    },
}

/// One `[[attach]]` table as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    file: PathBuf,
    interfaces: Vec<String>,
    netns: Option<String>,
    mode: Option<Mode>,
    pin_dir: Option<PathBuf>,
    prog: Option<String>,
    sec: Option<String>,
    jmp_map: Option<String>,
    #[serde(default)]
    tail: Vec<String>,
    /// As `--allow-empty-slots`.
    #[serde(default)]
    allow_empty_slots: bool,
    devmap: Option<String>,
    #[serde(default)]
    max_entries: Vec<String>,
    peer_fix: Option<bool>,
    pin_mode: Option<String>,
    #[serde(default)]
    force: bool,
    #[serde(default)]
    fresh: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    attach: Vec<RawEntry>,
}

/// One attachment to make true.
#[derive(Clone, Debug)]
pub struct Entry {
    /// Its place in the file, from 1.
    pub number: usize,
    /// The `ip netns` namespace its interfaces are in (None: apply's own).
    pub netns: Option<String>,
    /// The load it is, with the file absolute.
    pub load: LoadOptions,
}

impl Entry {
    /// `kern/xdp.elf on veth1`, `… on veth0 in netns lab`: how messages name it.
    pub fn label(&self) -> String {
        label(
            &self.load.file,
            &self.load.interfaces,
            self.netns.as_deref(),
        )
    }
}

/// `FILE on IF,IF` (`… in netns NS`): how messages name an attachment.
pub fn label(file: &Path, interfaces: &[String], netns: Option<&str>) -> String {
    let (file, ifs) = (file.display(), interfaces.join(","));
    match netns {
        Some(ns) => format!("{file} on {ifs} in netns {ns}"),
        None => format!("{file} on {ifs}"),
    }
}

/// A parsed, checked config file.
#[derive(Clone, Debug)]
pub struct Config {
    /// The file, absolute: loads it makes record it as their origin.
    pub path: PathBuf,
    pub entries: Vec<Entry>,
    /// How long a step waits for another loader on its pin directory.
    pub lock_wait: Duration,
}

impl Config {
    /// Reads and checks `path`. `lock_wait` goes into every entry's load.
    pub fn read(path: &Path, lock_wait: Duration) -> Result<Self, ConfigError> {
        let path = std::path::absolute(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?;
        Self::parse(&text, &path, lock_wait)
    }

    /// Checks `text` as the contents of `path` (relative object paths are
    /// taken from `path`'s directory).
    pub fn parse(text: &str, path: &Path, lock_wait: Duration) -> Result<Self, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError::Syntax {
            path: path.to_owned(),
            line: e
                .span()
                .map_or(1, |span| text[..span.start].matches('\n').count() + 1),
            message: e.message().trim().to_owned(),
        })?;
        let base = path.parent().unwrap_or(Path::new("/"));
        let mut entries = Vec::new();
        // (netns, interface) -> the entry that has it: one program per interface.
        let mut claimed: HashMap<(Option<String>, String), usize> = HashMap::new();
        for (i, raw) in raw.attach.into_iter().enumerate() {
            let number = i + 1;
            let fail = |message: String| ConfigError::Entry {
                path: path.to_owned(),
                entry: number,
                file: raw.file.display().to_string(),
                message,
            };
            let entry = entry(number, base, &raw, lock_wait).map_err(&fail)?;
            for name in &entry.load.interfaces {
                let key = (entry.netns.clone(), name.clone());
                if let Some(other) = claimed.insert(key, number) {
                    return Err(fail(format!(
                        "interface {name} is in entry {other} too: an interface runs one program"
                    )));
                }
            }
            entries.push(entry);
        }
        Ok(Self {
            path: path.to_owned(),
            entries,
            lock_wait,
        })
    }
}

fn entry(number: usize, base: &Path, raw: &RawEntry, lock_wait: Duration) -> Result<Entry, String> {
    if raw.interfaces.is_empty() {
        return Err("no interfaces: give interfaces = [\"IF\", ...]".to_owned());
    }
    for name in &raw.interfaces {
        crate::iface::validate_name(name).map_err(|e| crate::error_chain(&e))?;
    }
    if let Some(ns) = &raw.netns {
        // A name under /run/netns, as `ip netns add` makes them.
        if ns.is_empty() || ns.contains('/') || ns.starts_with('.') {
            return Err(format!("netns {ns:?} is not an `ip netns` name"));
        }
    }
    let pin_dir = match (&raw.pin_dir, &raw.netns) {
        (Some(dir), _) if dir.is_relative() => {
            return Err(format!(
                "pin_dir {} is relative: give a directory on bpffs, e.g. /sys/fs/bpf/lab",
                dir.display()
            ))
        }
        (Some(dir), _) => dir.clone(),
        (None, Some(ns)) => netns_pin_dir(ns),
        (None, None) => PathBuf::from(DEFAULT_PIN_DIR),
    };
    let tail = raw
        .tail
        .iter()
        .map(|t| t.parse::<TailArg>().map_err(|e| format!("tail: {e}")))
        .collect::<Result<_, _>>()?;
    let max_entries = raw
        .max_entries
        .iter()
        .map(|m| {
            m.parse::<MaxEntries>()
                .map_err(|e| format!("max_entries: {e}"))
        })
        .collect::<Result<_, _>>()?;
    let pin_mode = match &raw.pin_mode {
        Some(mode) => mode
            .parse::<PinMode>()
            .map_err(|e| format!("pin_mode {e}"))?,
        None => PinMode::default(),
    };
    Ok(Entry {
        number,
        netns: raw.netns.clone(),
        load: LoadOptions {
            file: base.join(&raw.file),
            interfaces: raw.interfaces.clone(),
            pin_dir,
            chain: ChainOptions {
                prog: raw.prog.clone(),
                sec: raw.sec.clone(),
                jmp_map: raw.jmp_map.clone(),
                tail,
                allow_empty_slots: raw.allow_empty_slots,
            },
            devmap: raw.devmap.clone(),
            max_entries,
            mode: raw.mode.unwrap_or(Mode::Auto),
            fresh: raw.fresh,
            peer_fix: raw.peer_fix.unwrap_or(true),
            lock_wait,
            pin_mode,
            force: raw.force,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(
            text,
            Path::new("/etc/xdploader/config.toml"),
            Duration::ZERO,
        )
    }

    #[test]
    fn an_entry_becomes_the_load_the_command_line_would_give() {
        let config = parse(
            r#"
[[attach]]
file = "xdp.elf"
interfaces = ["veth1", "veth2"]
mode = "skb"
tail = ["jmp_map:3=stage_c"]
max_entries = ["flows=1024"]
pin_mode = "0640"
peer_fix = false
"#,
        )
        .map_err(|e| crate::error_chain(&e))
        .expect("valid");
        let [entry] = config.entries.as_slice() else {
            panic!("one entry expected")
        };
        assert_eq!(entry.load.file, Path::new("/etc/xdploader/xdp.elf"));
        assert_eq!(entry.load.pin_dir, Path::new(DEFAULT_PIN_DIR));
        assert_eq!(
            entry.load.flags(),
            "--mode skb --tail jmp_map:3=stage_c --max-entries flows=1024 --no-peer-fix --pin-mode 0640"
        );
        assert_eq!(entry.label(), "/etc/xdploader/xdp.elf on veth1,veth2");
    }

    #[test]
    fn a_netns_entry_gets_a_pin_dir_of_its_own() {
        let config = parse(
            "[[attach]]\nfile = \"/x.o\"\ninterfaces = [\"veth0\"]\nnetns = \"lab\"\n\n[[attach]]\nfile = \"/x.o\"\ninterfaces = [\"veth0\"]\n",
        )
        .map_err(|e| crate::error_chain(&e))
        .expect("the same name in two namespaces is fine");
        assert_eq!(
            config.entries[0].load.pin_dir,
            Path::new("/sys/fs/bpf/netns-lab")
        );
        assert_eq!(config.entries[1].load.pin_dir, Path::new("/sys/fs/bpf"));
    }

    #[test]
    fn an_empty_file_declares_nothing() {
        let config = parse("# nothing yet\n").map_err(|e| crate::error_chain(&e));
        assert!(config.is_ok_and(|c| c.entries.is_empty()));
    }

    #[test]
    fn mistakes_are_one_line_naming_the_place() {
        for (text, expected) in [
            (
                "[[attach]]\nfile = \"x.o\"\ninterface = [\"veth1\"]\n",
                "config.toml:3: unknown field `interface`",
            ),
            (
                "[[attach]]\nfile = \"x.o\"\ninterfaces = [\"veth1\"]\nmode = \"fast\"\n",
                "config.toml:4: unknown variant `fast`",
            ),
            (
                "[[attach]]\nfile = \"x.o\"\ninterfaces = []\n",
                "attach entry 1 (x.o): no interfaces",
            ),
            (
                "[[attach]]\nfile = \"x.o\"\ninterfaces = [\"veth1\"]\ntail = [\"3\"]\n",
                "attach entry 1 (x.o): tail: ",
            ),
            (
                "[[attach]]\nfile = \"a.o\"\ninterfaces = [\"veth1\"]\n[[attach]]\nfile = \"b.o\"\ninterfaces = [\"veth1\"]\n",
                "attach entry 2 (b.o): interface veth1 is in entry 1 too",
            ),
            (
                "[[attach]]\nfile = \"x.o\"\ninterfaces = [\"veth1\"]\npin_dir = \"bpf\"\n",
                "pin_dir bpf is relative",
            ),
            (
                "[[attach]]\nfile = \"x.o\"\ninterfaces = [\"veth1\"]\npin_mode = \"0755\"\n",
                "pin_mode 0755: give an octal mode",
            ),
        ] {
            let err = parse(text).map(|_| ()).map_err(|e| crate::error_chain(&e));
            let Err(line) = err else {
                panic!("{text:?} was accepted")
            };
            assert!(line.contains(expected), "{line:?} lacks {expected:?}");
            assert!(!line.contains('\n'), "{line:?} is more than one line");
        }
    }
}
