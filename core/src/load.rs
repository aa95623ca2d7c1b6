//! Turning an inspected object into kernel maps and verified programs.

use std::path::PathBuf;

use aya::{
    maps::{MapData, MapError},
    programs::{ProgramError, Xdp},
    Ebpf, EbpfLoader,
};
use aya_obj::{
    maps::{bpf_map_def, LegacyMap},
    EbpfSectionKind,
};

use crate::elf::{MapSummary, ObjectSummary};

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("creating the object's maps failed")]
    Object(#[source] aya::EbpfError),
    #[error("creating prog array {name}")]
    ProgArray {
        name: String,
        #[source]
        source: MapError,
    },
    #[error("program {name} was rejected by the kernel verifier ({errno}): {reason} (run with --verbose for the verifier log)", errno = crate::errno_text(.source))]
    Verifier {
        name: String,
        reason: String,
        log: String,
        #[source]
        source: std::io::Error,
    },
    #[error("loading program {name} failed")]
    Program {
        name: String,
        #[source]
        source: ProgramError,
    },
}

impl LoadError {
    /// The full verifier log, when the verifier rejected a program.
    pub fn verifier_log(&self) -> Option<&str> {
        match self {
            Self::Verifier { log, .. } => Some(log),
            _ => None,
        }
    }
}

/// Map name → where aya opens the map if pinned there, or pins the map it creates.
pub type MapPinPaths = Vec<(String, PathBuf)>;

/// Creates the maps at `pins` and loads every XDP program. Nothing is
/// attached: dropping the result (and the pins) frees it all.
pub fn load(data: &[u8], summary: &ObjectSummary, pins: &MapPinPaths) -> Result<Ebpf, LoadError> {
    let mut loader = EbpfLoader::new();
    for (name, path) in pins {
        loader.map_pin_path(name.as_str(), path.as_path());
        if let Some(map) = summary.map(name).filter(|m| !m.declared_slots.is_empty()) {
            create_declared_prog_array(map, path)?;
        }
    }
    let mut ebpf = loader.load(data).map_err(LoadError::Object)?;
    for prog in summary.xdp_programs() {
        let program: &mut Xdp = ebpf
            .program_mut(&prog.name)
            .and_then(|p| p.try_into().ok())
            .ok_or_else(|| LoadError::Program {
                name: prog.name.clone(),
                source: ProgramError::NotLoaded,
            })?;
        program
            .load()
            .map_err(|err| program_error(&prog.name, err))?;
    }
    Ok(ebpf)
}

/// aya 0.14 cannot read a declarative prog array (elf::compat hides its
/// `values` from aya, which then sees no value size): create it as libbpf
/// would, with 4-byte values, where aya will open it instead.
fn create_declared_prog_array(map: &MapSummary, pin: &std::path::Path) -> Result<(), LoadError> {
    let def = bpf_map_def {
        map_type: map.map_type,
        key_size: map.key_size,
        value_size: map.value_size,
        max_entries: map.max_entries,
        map_flags: map.flags,
        ..Default::default()
    };
    let obj = aya_obj::Map::Legacy(LegacyMap {
        def,
        inner_def: None,
        section_index: 0,
        section_kind: EbpfSectionKind::Maps,
        symbol_index: None,
        data: Vec::new(),
    });
    let err = |source| LoadError::ProgArray {
        name: map.name.clone(),
        source,
    };
    let created = MapData::create(obj, &map.name, None).map_err(err)?;
    created.pin(pin).map_err(|e| {
        err(MapError::PinError {
            name: Some(map.name.clone()),
            error: e,
        })
    })
}

fn program_error(name: &str, err: ProgramError) -> LoadError {
    match err {
        ProgramError::LoadError {
            io_error,
            verifier_log,
        } => {
            let log = verifier_log.to_string();
            LoadError::Verifier {
                name: name.to_owned(),
                reason: verifier_reason(&log),
                log,
                source: io_error,
            }
        }
        source => LoadError::Program {
            name: name.to_owned(),
            source,
        },
    }
}

/// The verifier's own explanation: the last log line that is not a statistic.
fn verifier_reason(log: &str) -> String {
    log.lines()
        .rev()
        .map(str::trim)
        .find(|l| {
            !l.is_empty()
                && !l.starts_with("processed ")
                && !l.starts_with("verification time")
                && !l.starts_with("stack depth")
                && !l.starts_with("-- END PROG LOAD LOG --")
        })
        .unwrap_or("no verifier log")
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::verifier_reason;

    #[test]
    fn the_reason_is_the_last_line_before_the_statistics() {
        let log = "0: R1=ctx() R10=fp0\n; return *(u32 *)(data + 100);\n\
                   1: (61) r0 = *(u32 *)(r1 +100)\ninvalid access to packet, off=100 size=4\n\
                   processed 2 insns (limit 1000000) max_states_per_insn 0\n";
        assert_eq!(
            verifier_reason(log),
            "invalid access to packet, off=100 size=4"
        );
        assert_eq!(verifier_reason(""), "no verifier log");
    }
}
