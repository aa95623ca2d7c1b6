//! Where the kernel functions an object calls (kfuncs, `extern … __ksym`)
//! are on this kernel: in vmlinux's BTF, with the BTF id a kfunc call
//! carries; in a loaded module (kallsyms names it); or nowhere, with what
//! provides it where that is known. `inspect` shows it and a refused load
//! says it, so a user learns whether the kernel has what the object needs
//! ([`crate::elf::kfunc_link`] links the calls of those in vmlinux, and of
//! `__weak` ones the kernel lacks).

use std::path::Path;

use serde::Serialize;

use crate::elf::Extern;

const VMLINUX_BTF: &str = "/sys/kernel/btf/vmlinux";
const KALLSYMS: &str = "/proc/kallsyms";

/// Where one kfunc is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "in", rename_all = "snake_case")]
pub enum KfuncPlace {
    /// In vmlinux's BTF, as a function with this id.
    Vmlinux { btf_id: u32 },
    /// In a loaded module (its BTF, under /sys/kernel/btf/MODULE).
    Module { module: String },
    /// Not on this kernel; `needs` says what provides it, where known.
    Missing {
        #[serde(skip_serializing_if = "Option::is_none")]
        needs: Option<String>,
    },
}

#[derive(Clone, Debug, Serialize)]
pub struct Kfunc {
    pub name: String,
    /// `__weak`: a kernel without it resolves it to 0 (bpf_ksym_exists()).
    pub weak: bool,
    pub place: KfuncPlace,
}

impl Kfunc {
    /// `name: in vmlinux (BTF id 1234)`, `name: not on this kernel (needs …)`.
    pub fn describe(&self) -> String {
        let weak = if self.weak { " (__weak)" } else { "" };
        match &self.place {
            KfuncPlace::Vmlinux { btf_id } => {
                format!("{}{weak}: in vmlinux (BTF id {btf_id})", self.name)
            }
            KfuncPlace::Module { module } => format!("{}{weak}: in module {module}", self.name),
            KfuncPlace::Missing { needs } => format!(
                "{}{weak}: not on this kernel{}",
                self.name,
                needs
                    .as_deref()
                    .map(|n| format!(" (needs {n})"))
                    .unwrap_or_default()
            ),
        }
    }

    /// Why a load cannot link it on this kernel, if it cannot
    /// ([`crate::elf::kfunc_link`] links the others).
    pub fn unlinkable(&self) -> Option<String> {
        match &self.place {
            KfuncPlace::Vmlinux { .. } if self.name.starts_with("bpf_xdp_metadata_") => {
                Some(format!(
                    "{}, but XDP RX metadata kfuncs load only into a device-bound program \
                 (prog_ifindex, BPF_F_XDP_DEV_BOUND_ONLY), which aya 0.14 cannot load",
                    self.describe()
                ))
            }
            KfuncPlace::Vmlinux { .. } => None,
            KfuncPlace::Module { .. } => Some(format!(
                "{}, but a module's kfunc needs the module's BTF in fd_array, which aya 0.14 \
                 cannot pass",
                self.describe()
            )),
            // Resolved to 0: the bpf_ksym_exists() branch is dead code.
            KfuncPlace::Missing { .. } if self.weak => None,
            KfuncPlace::Missing { .. } => Some(self.describe()),
        }
    }
}

/// What provides the kfuncs people call from XDP, for the ones this kernel
/// lacks: a module to load, or the release that added them.
fn provider(name: &str) -> Option<&'static str> {
    const KNOWN: [(&str, &str); 6] = [
        (
            "bpf_xdp_ct_",
            "module nf_conntrack: modprobe nf_conntrack (Linux 6.0+)",
        ),
        (
            "bpf_ct_",
            "module nf_conntrack: modprobe nf_conntrack (Linux 6.0+)",
        ),
        (
            "bpf_xdp_flow_lookup",
            "module nf_flow_table: modprobe nf_flow_table (Linux 6.9+)",
        ),
        ("bpf_xdp_metadata_rx_vlan_tag", "Linux 6.8+"),
        ("bpf_xdp_metadata_", "Linux 6.3+"),
        ("bpf_dynptr_", "Linux 6.3+ for XDP dynptrs"),
    ];
    KNOWN
        .iter()
        .find(|(prefix, _)| name.starts_with(prefix))
        .map(|(_, what)| *what)
}

/// Where each kfunc among `externs` is on this kernel.
pub fn resolve(externs: &[Extern]) -> Vec<Kfunc> {
    let kfuncs: Vec<&Extern> = externs.iter().filter(|e| e.kfunc).collect();
    if kfuncs.is_empty() {
        return Vec::new();
    }
    let vmlinux = std::fs::read(VMLINUX_BTF).ok();
    let types = vmlinux
        .as_deref()
        .and_then(|btf| btfparse::TypeInformation::new(&crate::elf::BtfBytes(btf)).ok());
    let kallsyms = std::fs::read_to_string(KALLSYMS).unwrap_or_default();
    kfuncs
        .into_iter()
        .map(|e| Kfunc {
            name: e.name.clone(),
            weak: e.weak,
            place: place(&e.name, types.as_ref(), &kallsyms),
        })
        .collect()
}

fn place(name: &str, types: Option<&btfparse::TypeInformation>, kallsyms: &str) -> KfuncPlace {
    let in_vmlinux = types.and_then(|t| {
        let id = t.id_of(name)?;
        matches!(t.from_id(id)?, btfparse::TypeVariant::Func(_)).then_some(id)
    });
    if let Some(btf_id) = in_vmlinux {
        return KfuncPlace::Vmlinux { btf_id };
    }
    // "ffffffffc0a1b2c3 T bpf_xdp_ct_lookup\t[nf_conntrack]"
    let module = kallsyms.lines().find_map(|line| {
        let mut fields = line.split_whitespace();
        let (_, _, symbol) = (fields.next()?, fields.next()?, fields.next()?);
        let module = fields.next()?.strip_prefix('[')?.strip_suffix(']')?;
        (symbol == name).then(|| module.to_owned())
    });
    match module {
        Some(module) if Path::new("/sys/kernel/btf").join(&module).exists() => {
            KfuncPlace::Module { module }
        }
        _ => KfuncPlace::Missing {
            needs: provider(name).map(str::to_owned),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_kfunc_names_what_provides_it_and_a_module_one_is_found_in_kallsyms() {
        let kallsyms =
            "ffffffffc0a1b2c3 T bpf_xdp_ct_lookup\t[nf_conntrack]\nffffffff81000000 T _stext\n";
        // The module has no BTF directory here: not usable, and said why.
        assert_eq!(
            place("bpf_xdp_ct_lookup", None, kallsyms),
            KfuncPlace::Missing {
                needs: Some("module nf_conntrack: modprobe nf_conntrack (Linux 6.0+)".into())
            }
        );
        assert_eq!(
            place("bpf_xdp_metadata_rx_hash", None, ""),
            KfuncPlace::Missing {
                needs: Some("Linux 6.3+".into())
            }
        );
        assert_eq!(
            place("bpf_made_up", None, ""),
            KfuncPlace::Missing { needs: None }
        );
        let k = Kfunc {
            name: "bpf_dynptr_from_xdp".into(),
            weak: true,
            place: KfuncPlace::Vmlinux { btf_id: 7 },
        };
        assert_eq!(
            k.describe(),
            "bpf_dynptr_from_xdp (__weak): in vmlinux (BTF id 7)"
        );
    }
}
