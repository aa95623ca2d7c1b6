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

use crate::elf::{MapSummary, ObjectSummary, ProgramSummary};

/// `--max-entries MAP=N`: the size of a map the object leaves to user space.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MaxEntries {
    pub map: String,
    pub entries: u32,
}

impl std::str::FromStr for MaxEntries {
    type Err = String;
    fn from_str(arg: &str) -> Result<Self, String> {
        let bad = || format!("{arg:?}: expected MAP=N, e.g. flows=1024");
        let (map, entries) = arg.split_once('=').ok_or_else(bad)?;
        let entries = entries.parse().map_err(|_| bad())?;
        if map.is_empty() || entries == 0 {
            return Err(bad());
        }
        Ok(Self {
            map: map.to_owned(),
            entries,
        })
    }
}

/// Applies `--max-entries` to the summary (which then says what will be
/// created), and refuses a map still left without a size, naming it.
pub fn size_maps(summary: &mut ObjectSummary, sizes: &[MaxEntries]) -> Result<(), LoadError> {
    use aya_obj::generated::bpf_map_type::BPF_MAP_TYPE_PERF_EVENT_ARRAY;
    for size in sizes {
        let map = summary
            .maps
            .iter_mut()
            .find(|m| m.name == size.map)
            .ok_or_else(|| LoadError::NoSuchMap {
                name: size.map.clone(),
            })?;
        map.max_entries = size.entries;
    }
    // aya sizes a perf event array by the CPUs; every other map needs a size.
    match summary
        .maps
        .iter()
        .find(|m| m.max_entries == 0 && !m.is(BPF_MAP_TYPE_PERF_EVENT_ARRAY))
    {
        Some(map) => Err(LoadError::SizeLeftToUserSpace {
            name: map.name.clone(),
        }),
        None => Ok(()),
    }
}

/// Refuses, naming each, the symbols the object uses but does not define
/// and this kernel cannot give it: kernel symbols (`kfuncs`, as
/// [`crate::ksyms::resolve`] found them) outside vmlinux or missing and not
/// `__weak`, and externs some other object was meant to define (aya links
/// neither). [`crate::elf::kfunc_link::link`] links the others.
pub fn check_linkable(
    summary: &ObjectSummary,
    kfuncs: &[crate::ksyms::Ksym],
) -> Result<(), LoadError> {
    let externs: Vec<&str> = summary
        .externs
        .iter()
        .filter(|e| !e.kfunc && e.variable.is_none())
        .map(|e| e.name.as_str())
        .collect();
    if !externs.is_empty() {
        return Err(LoadError::Externs {
            names: externs.join(", "),
        });
    }
    let refused: Vec<String> = kfuncs
        .iter()
        .filter_map(crate::ksyms::Ksym::unlinkable)
        .collect();
    if !refused.is_empty() {
        return Err(LoadError::Kfuncs {
            names: refused.join("; "),
        });
    }
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("the object uses kernel symbols this kernel cannot give it (extern __ksym: {names}); bpftool prog loadall loads what needs a device binding or a module")]
    Kfuncs { names: String },
    #[error("the object calls functions it does not define ({names}): link the object that defines them in (bpftool gen object, or one clang compile)")]
    Externs { names: String },
    #[error("--max-entries: no map named {name}")]
    NoSuchMap { name: String },
    #[error("map {name} has max_entries 0: the object leaves its size to user space; give it with --max-entries {name}=N")]
    SizeLeftToUserSpace { name: String },
    #[error("creating the object's maps failed")]
    Object(#[source] aya::EbpfError),
    #[error("the kernel refused to create map {name}: {cause}")]
    CreateMap {
        name: String,
        cause: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("creating map {name}")]
    Create {
        name: String,
        #[source]
        source: MapError,
    },
    #[error(
        "program {name} was rejected by the kernel verifier ({errno}): {message}{place}",
        errno = crate::errno_text(.source),
        message = .rejection.message,
        place = .rejection.place().map(|p| format!(", at {p}")).unwrap_or_default()
    )]
    Verifier {
        name: String,
        rejection: crate::verifier::Rejection,
        log: String,
        #[source]
        source: std::io::Error,
    },
    #[error("program {name} is xdp.frags, and this kernel has no multi-buffer XDP (Linux 5.18+): load it as plain XDP (load::for_this_kernel)")]
    NoFrags { name: String },
    #[error("loading program {name} failed")]
    Program {
        name: String,
        #[source]
        source: ProgramError,
    },
}

impl LoadError {
    /// The rejection explained and the verifier's whole log, when the
    /// verifier rejected a program.
    pub fn verifier_rejection(&self) -> Option<(&crate::verifier::Rejection, &str)> {
        match self {
            Self::Verifier { rejection, log, .. } => Some((rejection, log)),
            _ => None,
        }
    }
}

/// The object as this kernel can load it: where it has no xdp.frags
/// (multi-buffer XDP, before 5.18, found by probing) the `xdp.frags`
/// programs are made plain XDP programs, and the sentence saying so is
/// returned; otherwise `inspected` as it is.
pub fn for_this_kernel(
    data: &[u8],
    inspected: crate::elf::Inspected,
) -> Result<(crate::elf::Inspected, Option<String>), crate::elf::ElfError> {
    let frags: Vec<&str> = inspected
        .summary
        .xdp_programs()
        .filter(|p| p.frags)
        .map(|p| p.name.as_str())
        .collect();
    if frags.is_empty() || crate::sys::xdp_frags_supported() {
        return Ok((inspected, None));
    }
    let note = format!(
        "this kernel has no xdp.frags (multi-buffer XDP, Linux 5.18+): {} loaded as plain XDP, so native mode needs an MTU that fits in a page",
        frags.join(", ")
    );
    Ok((
        crate::elf::inspect_for(data, crate::elf::Frags::Dropped)?,
        Some(note),
    ))
}

/// Loads one of the objects built into the binaries (the peer's XDP_PASS,
/// the bench floor, the traffic generator) and its XDP program `program`,
/// as plain XDP where the kernel has no xdp.frags (before 5.18).
pub fn load_embedded(object: &'static [u8], program: &str) -> Result<Ebpf, LoadError> {
    // Our objects need no rewrite for aya: inspected only where there is
    // something to drop, not on every peer fix, bench or send.
    let plain = if crate::sys::xdp_frags_supported() {
        None
    } else {
        crate::elf::inspect_for(object, crate::elf::Frags::Dropped)
            .ok()
            .and_then(|inspected| inspected.rewritten)
    };
    let bytes = plain.as_deref().unwrap_or(object);
    let mut ebpf = EbpfLoader::new().load(bytes).map_err(object_error)?;
    embedded_program(&mut ebpf, program)?
        .load()
        .map_err(|source| LoadError::Program {
            name: program.to_owned(),
            source,
        })?;
    Ok(ebpf)
}

/// The XDP program `name` of an object [`load_embedded`] loaded.
pub fn embedded_program<'e>(ebpf: &'e mut Ebpf, name: &str) -> Result<&'e mut Xdp, LoadError> {
    ebpf.program_mut(name)
        .and_then(|p| p.try_into().ok())
        .ok_or_else(|| LoadError::Program {
            name: name.to_owned(),
            source: ProgramError::NotLoaded,
        })
}

/// Map name → where aya opens the map if pinned there, or pins the map it creates.
pub type MapPinPaths = Vec<(String, PathBuf)>;

/// Creates the maps at `pins` and loads every XDP program. Nothing is
/// attached: dropping the result (and the pins) frees it all. A map that
/// asks to be pinned by name (LIBBPF_PIN_BY_NAME) and has no path in `pins`
/// is pinned by aya in /sys/fs/bpf, as libbpf does: give every such map a
/// path to keep it elsewhere.
pub fn load(data: &[u8], summary: &ObjectSummary, pins: &MapPinPaths) -> Result<Ebpf, LoadError> {
    // Before anything is created or pinned: a kernel without frags refuses
    // the flag with EINVAL and no log, which would say nothing.
    if let Some(prog) = summary.xdp_programs().find(|p| p.frags) {
        if !crate::sys::xdp_frags_supported() {
            return Err(LoadError::NoFrags {
                name: prog.name.clone(),
            });
        }
    }
    let no_frags = 0u8;
    let mut loader = EbpfLoader::new();
    if summary.frags_global && !crate::sys::xdp_frags_supported() {
        // An object that asks (kern/common.h) learns the kernel has no
        // frags; one without that global is left as it is.
        loader.override_global(crate::elf::FRAGS_GLOBAL, &no_frags, false);
    }
    // The summary's sizes, --max-entries applied (aya sizes perf event arrays).
    for map in summary
        .maps
        .iter()
        .filter(|m| !m.global_data && m.max_entries > 0)
    {
        loader.map_max_entries(map.name.as_str(), map.max_entries);
    }
    for (name, path) in pins {
        loader.map_pin_path(name.as_str(), path.as_path());
        // Created by us where aya would not create it as declared; aya then
        // opens it at that pin instead of making its own.
        if let Some(map) = summary
            .map(name)
            .filter(|m| m.loader_creates && !path.exists())
        {
            create_as_summarised(map, path)?;
        }
    }
    let mut ebpf = loader.load(data).map_err(object_error)?;
    for prog in summary.xdp_programs() {
        let program: &mut Xdp = ebpf
            .program_mut(&prog.name)
            .and_then(|p| p.try_into().ok())
            .ok_or_else(|| LoadError::Program {
                name: prog.name.clone(),
                source: ProgramError::NotLoaded,
            })?;
        program.load().map_err(|err| program_error(prog, err))?;
    }
    Ok(ebpf)
}

/// Creates `map` exactly as the summary says (type, sizes, entries, flags)
/// and pins it where aya will open it. For what aya 0.14 would get wrong: a
/// declarative prog array (elf::compat hides its `values`, so aya sees no
/// value size; libbpf's are 4 bytes), a devmap or cpumap with 4-byte values
/// (aya makes them 8), an LPM trie without BPF_F_NO_PREALLOC.
fn create_as_summarised(map: &MapSummary, pin: &std::path::Path) -> Result<(), LoadError> {
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
    let err = |source| LoadError::Create {
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

/// aya's error, with a map the kernel would not create named once and its
/// errno said as a cause.
fn object_error(err: aya::EbpfError) -> LoadError {
    use nix::errno::Errno;
    match err {
        aya::EbpfError::MapError(MapError::CreateError { name, io_error }) => {
            let cause = match io_error.raw_os_error().map(Errno::from_raw) {
                Some(Errno::EINVAL) => "its definition breaks the kernel's rules for its type (key or value size, max_entries, flags)",
                Some(Errno::EPERM) => "not permitted (CAP_BPF or CAP_SYS_ADMIN; before Linux 5.11, the locked-memory limit)",
                Some(Errno::ENOMEM | Errno::E2BIG) => "too large to allocate (max_entries times the value size)",
                Some(Errno::EOPNOTSUPP) => "its type or a flag is not supported by this kernel",
                _ => "the kernel said no",
            };
            LoadError::CreateMap {
                name,
                cause,
                source: io_error,
            }
        }
        other => LoadError::Object(other),
    }
}

fn program_error(prog: &ProgramSummary, err: ProgramError) -> LoadError {
    match err {
        ProgramError::LoadError {
            io_error,
            verifier_log,
        } => {
            let log = verifier_log.to_string();
            let mut rejection = crate::verifier::explain(&log);
            if io_error.raw_os_error() == Some(nix::errno::Errno::ENOSPC as i32) {
                rejection = rejection.log_filled();
            }
            rejection.locate(&prog.source_lines);
            LoadError::Verifier {
                name: prog.name.clone(),
                rejection,
                log,
                source: io_error,
            }
        }
        source => LoadError::Program {
            name: prog.name.clone(),
            source,
        },
    }
}
