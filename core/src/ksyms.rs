//! Where the kernel symbols an object uses (`extern … __ksym`: kfuncs it
//! calls, variables it reads) are on this kernel: in vmlinux's BTF, with the
//! BTF id a kfunc call or a typed variable carries; at an address in
//! kallsyms (an untyped variable, `extern const void sym __ksym`); in a
//! loaded module (kallsyms names it); or nowhere, with what provides it
//! where that is known. `inspect` shows it and a refused load says it, so a
//! user learns whether the kernel has what the object needs
//! ([`crate::elf::kfunc_link`] links those in vmlinux, and the `__weak`
//! ones the kernel lacks).

use std::path::Path;

use serde::Serialize;

use crate::elf::{Extern, KsymVariable};

const VMLINUX_BTF: &str = "/sys/kernel/btf/vmlinux";
const KALLSYMS: &str = "/proc/kallsyms";

/// Where one kernel symbol is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "in", rename_all = "snake_case")]
pub enum KsymPlace {
    /// In vmlinux's BTF, as a function (a kfunc) or a variable (typed) with
    /// this id.
    Vmlinux { btf_id: u32 },
    /// At this address (an untyped variable, from /proc/kallsyms).
    Kallsyms { address: u64 },
    /// A variable in vmlinux's BTF that kallsyms does not list: the kernel
    /// was built without CONFIG_KALLSYMS_ALL, and the verifier looks a
    /// variable's address up there ("ldimm64 failed to find the address").
    NoAddress { btf_id: u32 },
    /// In a loaded module (its BTF, under /sys/kernel/btf/MODULE).
    Module { module: String },
    /// Not on this kernel; `needs` says what provides it, where known.
    Missing {
        #[serde(skip_serializing_if = "Option::is_none")]
        needs: Option<String>,
    },
}

#[derive(Clone, Debug, Serialize)]
pub struct Ksym {
    pub name: String,
    /// A variable, not a kfunc: how it is declared.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variable: Option<KsymVariable>,
    /// `__weak`: a kernel without it resolves it to 0 (bpf_ksym_exists()).
    pub weak: bool,
    pub place: KsymPlace,
}

impl Ksym {
    /// `name: in vmlinux (BTF id 1234)`, `name: not on this kernel (needs …)`.
    pub fn describe(&self) -> String {
        let weak = if self.weak { " (__weak)" } else { "" };
        let what = match self.variable {
            None => "",
            Some(KsymVariable::Typed) => " (typed variable)",
            Some(KsymVariable::Untyped) => " (untyped variable)",
        };
        match &self.place {
            KsymPlace::Vmlinux { btf_id } => {
                format!("{}{what}{weak}: in vmlinux (BTF id {btf_id})", self.name)
            }
            KsymPlace::Kallsyms { address } => {
                format!("{}{what}{weak}: at {address:#x} (kallsyms)", self.name)
            }
            KsymPlace::NoAddress { btf_id } => format!(
                "{}{what}{weak}: in vmlinux's BTF (id {btf_id}) but not in /proc/kallsyms: this \
                 kernel lacks CONFIG_KALLSYMS_ALL, without which the verifier finds no variable's address",
                self.name
            ),
            KsymPlace::Module { module } => {
                format!("{}{what}{weak}: in module {module}", self.name)
            }
            KsymPlace::Missing { needs } => format!(
                "{}{what}{weak}: not on this kernel{}",
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
            KsymPlace::Vmlinux { .. } if self.name.starts_with("bpf_xdp_metadata_") => {
                Some(format!(
                    "{}, but XDP RX metadata kfuncs load only into a device-bound program \
                 (prog_ifindex, BPF_F_XDP_DEV_BOUND_ONLY), which aya 0.14 cannot load",
                    self.describe()
                ))
            }
            KsymPlace::Vmlinux { .. } | KsymPlace::Kallsyms { .. } => None,
            KsymPlace::Module { .. } => Some(format!(
                "{}, but a module's symbol needs the module's BTF in fd_array, which aya 0.14 \
                 cannot pass",
                self.describe()
            )),
            // Resolved to 0: the bpf_ksym_exists() branch is dead code.
            KsymPlace::Missing { .. } | KsymPlace::NoAddress { .. } if self.weak => None,
            KsymPlace::NoAddress { .. } => Some(self.describe()),
            KsymPlace::Missing { .. } => Some(self.describe()),
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

/// Where each kernel symbol among `externs` is on this kernel.
pub fn resolve(externs: &[Extern]) -> Vec<Ksym> {
    let ksyms: Vec<&Extern> = externs
        .iter()
        .filter(|e| e.kfunc || e.variable.is_some())
        .collect();
    if ksyms.is_empty() {
        return Vec::new();
    }
    let vmlinux = std::fs::read(VMLINUX_BTF).ok();
    let types = vmlinux
        .as_deref()
        .and_then(|btf| btfparse::TypeInformation::new(&crate::elf::BtfBytes(btf)).ok());
    let kallsyms = std::fs::read_to_string(KALLSYMS).unwrap_or_default();
    ksyms
        .into_iter()
        .map(|e| Ksym {
            name: e.name.clone(),
            variable: e.variable,
            weak: e.weak,
            place: place(&e.name, e.variable, types.as_ref(), &kallsyms),
        })
        .collect()
}

fn place(
    name: &str,
    variable: Option<KsymVariable>,
    types: Option<&btfparse::TypeInformation>,
    kallsyms: &str,
) -> KsymPlace {
    // "ffffffffc0a1b2c3 T bpf_xdp_ct_lookup\t[nf_conntrack]": address,
    // module (None for vmlinux).
    let in_kallsyms = || {
        kallsyms.lines().find_map(|line| {
            let mut fields = line.split_whitespace();
            let (address, _, symbol) = (fields.next()?, fields.next()?, fields.next()?);
            let module = fields
                .next()
                .and_then(|m| m.strip_prefix('[')?.strip_suffix(']'))
                .map(str::to_owned);
            (symbol == name).then(|| (u64::from_str_radix(address, 16).unwrap_or(0), module))
        })
    };
    if variable == Some(KsymVariable::Untyped) {
        // Addresses read 0 without CAP_SYSLOG (kptr_restrict): not usable.
        if let Some((address, None)) = in_kallsyms().filter(|(a, _)| *a != 0) {
            return KsymPlace::Kallsyms { address };
        }
    } else {
        let in_vmlinux = types.and_then(|t| {
            let id = t.id_of(name)?;
            let found = t.from_id(id)?;
            let wanted = match variable {
                None => matches!(found, btfparse::TypeVariant::Func(_)),
                Some(_) => matches!(found, btfparse::TypeVariant::Var(_)),
            };
            wanted.then_some(id)
        });
        if let Some(btf_id) = in_vmlinux {
            // The verifier finds a variable's address in kallsyms, which
            // lists data only with CONFIG_KALLSYMS_ALL.
            if variable.is_some() && !kallsyms.is_empty() && in_kallsyms().is_none() {
                return KsymPlace::NoAddress { btf_id };
            }
            return KsymPlace::Vmlinux { btf_id };
        }
    }
    match in_kallsyms() {
        Some((_, Some(module))) if Path::new("/sys/kernel/btf").join(&module).exists() => {
            KsymPlace::Module { module }
        }
        _ => KsymPlace::Missing {
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
            place("bpf_xdp_ct_lookup", None, None, kallsyms),
            KsymPlace::Missing {
                needs: Some("module nf_conntrack: modprobe nf_conntrack (Linux 6.0+)".into())
            }
        );
        assert_eq!(
            place("bpf_xdp_metadata_rx_hash", None, None, ""),
            KsymPlace::Missing {
                needs: Some("Linux 6.3+".into())
            }
        );
        assert_eq!(
            place("bpf_made_up", None, None, ""),
            KsymPlace::Missing { needs: None }
        );
        // An untyped variable is an address in kallsyms, of vmlinux.
        assert_eq!(
            place("_stext", Some(KsymVariable::Untyped), None, kallsyms),
            KsymPlace::Kallsyms {
                address: 0xffff_ffff_8100_0000
            }
        );
        let k = Ksym {
            name: "bpf_dynptr_from_xdp".into(),
            variable: None,
            weak: true,
            place: KsymPlace::Vmlinux { btf_id: 7 },
        };
        assert_eq!(
            k.describe(),
            "bpf_dynptr_from_xdp (__weak): in vmlinux (BTF id 7)"
        );
    }
}
