//! `xdploader doctor -i IF[,IF]`: why XDP on these interfaces may not work,
//! each finding with its cause in one sentence and the command that fixes
//! it; `--fix` applies the safe fixes. Run it in the interfaces' namespace.
//!
//! The commands are advice, quoted for a shell (interface names may hold
//! `;`, `$` or backquotes). `--fix` never runs them: every fix is applied
//! through the library (netlink, /proc/sys, the peer fix, bpffs).

use std::path::PathBuf;

use aya::programs::links::LinkType;
use serde::Serialize;

use super::{require_capabilities, Error};
use crate::{
    bpffs,
    iface::{self, Interface},
    netdev::{self, shell_quote, Link, XdpMode},
    peer,
    state::PinLayout,
};

#[derive(Clone, Debug)]
pub struct DoctorOptions {
    pub interfaces: Vec<String>,
    pub pin_dir: PathBuf,
    /// Apply the safe fixes.
    pub fix: bool,
}

/// The largest MTU a veth takes in native mode when a program in the chain
/// is not `xdp.frags`: one page minus headroom and skb_shared_info (x86_64).
const VETH_SINGLE_PAGE_MTU: u32 = 3498;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Something XDP users hit: traffic lost, attach refused.
    Problem,
    /// How things are, for the record.
    Info,
}

/// How a finding gets fixed: a command the user can run, and whether
/// `--fix` applies it itself.
#[derive(Clone, Debug, Serialize)]
pub struct Remedy {
    pub command: String,
    pub safe: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct Finding {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iface: Option<String>,
    /// A stable name for scripts and tests: `peer-no-xdp`, `rp-filter`, ...
    pub check: &'static str,
    pub severity: Severity,
    /// The cause, in one sentence.
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<Remedy>,
    /// `--fix` applied the fix and it worked.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub fixed: bool,
    /// `--fix` tried and failed: why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix_failed: Option<String>,
}

impl Finding {
    fn new(iface: Option<&str>, check: &'static str, severity: Severity, message: String) -> Self {
        Self {
            iface: iface.map(str::to_owned),
            check,
            severity,
            message,
            fix: None,
            fixed: false,
            fix_failed: None,
        }
    }

    fn fix(mut self, command: String, safe: bool) -> Self {
        self.fix = Some(Remedy { command, safe });
        self
    }
}

#[derive(Debug, Serialize)]
pub struct DoctorReport {
    pub findings: Vec<Finding>,
}

impl DoctorReport {
    /// Problems not fixed by this run.
    pub fn open_problems(&self) -> usize {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Problem && !f.fixed)
            .count()
    }
}

pub fn run(opts: &DoctorOptions) -> Result<DoctorReport, Error> {
    require_capabilities("doctor")?;
    let fix = opts.fix;
    let interfaces = iface::resolve(&opts.interfaces)?;
    let layout = PinLayout::new(&opts.pin_dir);
    let mut findings = Vec::new();

    let pin_dir = &opts.pin_dir;
    if !bpffs::is_bpffs(pin_dir) {
        let mut finding = Finding::new(
            None,
            "bpffs",
            Severity::Problem,
            format!(
                "{} is not on bpffs, so maps and links cannot be pinned there and nothing outlives the loader",
                pin_dir.display()
            ),
        )
        .fix(
            format!(
                "mkdir -p {0} && mount -t bpf bpf {0}",
                shell_quote(&pin_dir.display().to_string())
            ),
            true,
        );
        if fix {
            apply(&mut finding, || bpffs::ensure_bpffs(pin_dir).map(drop));
        }
        findings.push(finding);
    }

    // The machine itself (issue 24): an emulator known to crash under
    // dispatcher rewrites. Info: inside the guest nothing says whether
    // QEMU runs the vCPUs on one thread (safe) or several.
    if let Some(risk) = crate::dispatcher::emulation_risk() {
        findings.push(Finding::new(None, "emulated-cpus", Severity::Info, risk));
    }

    let link_programs = xdp_link_programs();
    for iface in &interfaces {
        let link = netdev::link(iface.ifindex)?;
        check_interface(iface, &link, &link_programs, &layout, fix, &mut findings)?;
    }
    Ok(DoctorReport { findings })
}

/// Ids of the programs attached through XDP bpf_links, anywhere.
fn xdp_link_programs() -> Vec<u32> {
    aya::programs::loaded_links()
        .flatten()
        .filter(|l| l.link_type().is_ok_and(|t| t == LinkType::Xdp))
        .map(|l| l.program_id())
        .collect()
}

/// Applies a fix through the library; a failure is recorded, one line.
fn apply<E: std::error::Error + 'static>(finding: &mut Finding, f: impl FnOnce() -> Result<(), E>) {
    match f() {
        Ok(()) => finding.fixed = true,
        Err(e) => finding.fix_failed = Some(crate::error_chain(&e)),
    }
}

fn check_interface(
    iface: &Interface,
    link: &Link,
    link_programs: &[u32],
    layout: &PinLayout,
    fix: bool,
    findings: &mut Vec<Finding>,
) -> Result<(), Error> {
    let name = iface.name.as_str();
    let at = Some(name);

    // Mode in use, and who attached it.
    let mode = match link.xdp {
        XdpMode::None => "no XDP program".to_owned(),
        mode => format!(
            "XDP program id {} in {} mode",
            link.xdp_prog_id.unwrap_or(0),
            mode.name()
        ),
    };
    findings.push(Finding::new(
        at,
        "xdp-mode",
        Severity::Info,
        format!("{name} has {mode}"),
    ));
    if link.xdp == XdpMode::Skb {
        findings.push(Finding::new(
            at,
            "generic-mode",
            Severity::Info,
            format!("{name} runs XDP in generic (skb) mode: it works everywhere but after the stack allocated an skb, so slower than native"),
        ));
    }
    if let Some(id) = link.xdp_prog_id {
        if link.xdp != XdpMode::None && !link_programs.contains(&id) {
            // `xdp off` alone only detaches the mode the driver defaults to.
            let mode = match link.xdp {
                XdpMode::Skb => "xdpgeneric",
                XdpMode::Offload => "xdpoffload",
                _ => "xdpdrv",
            };
            let command = format!("ip link set dev {} {mode} off", shell_quote(name));
            let mut finding = Finding::new(
                at,
                "netlink-attachment",
                Severity::Problem,
                format!("{name}'s XDP program (id {id}) was attached through netlink by another tool (ip, xdp-loader, libxdp), so xdploader's bpf_link attach fails with EBUSY"),
            )
            .fix(command, true);
            if fix {
                apply(&mut finding, || {
                    netdev::detach_netlink_xdp(iface.ifindex, link.xdp)
                });
            }
            findings.push(finding);
        }
    }

    // MTU beyond a page with a program that could not go native.
    let mtu = link.mtu;
    if link.is_veth() && link.xdp == XdpMode::Skb && mtu > VETH_SINGLE_PAGE_MTU {
        findings.push(
            Finding::new(
                at,
                "mtu-native",
                Severity::Problem,
                format!("{name}'s MTU {mtu} is above the {VETH_SINGLE_PAGE_MTU} bytes native XDP on veth takes without multi-buffer, so a program that is not xdp.frags runs in generic mode only"),
            )
            .fix(
                format!("build the program with SEC(\"xdp.frags\") and bpf_xdp_get_buff_len(), or: ip link set dev {} mtu {VETH_SINGLE_PAGE_MTU}", shell_quote(name)),
                false,
            ),
        );
    }

    // Strict reverse-path filtering.
    let rp = |key: &str| netdev::ipv4_conf(key, "rp_filter").unwrap_or(0);
    if rp("all").max(rp(name)) == 1 {
        let command = format!(
            "sysctl -qw net.ipv4.conf.all.rp_filter=2 {}",
            shell_quote(&format!("net.ipv4.conf.{name}.rp_filter=2"))
        );
        let mut finding = Finding::new(
            at,
            "rp-filter",
            Severity::Problem,
            format!("strict reverse-path filtering on {name} drops packets that arrive on another interface than their replies would leave by, which is what redirecting and asymmetric test topologies produce"),
        )
        .fix(command, true);
        if fix {
            apply(&mut finding, || {
                netdev::set_ipv4_conf("all", "rp_filter", "2")?;
                netdev::set_ipv4_conf(name, "rp_filter", "2")
            });
        }
        findings.push(finding);
    }

    // The veth peer: an XDP program to receive XDP frames, tx checksums.
    if link.xdp != XdpMode::Native {
        return Ok(());
    }
    let found = match peer::find(link) {
        Ok(found) => found,
        Err(e) => {
            findings.push(Finding::new(
                at,
                "peer",
                Severity::Problem,
                crate::error_chain(&e),
            ));
            return Ok(());
        }
    };
    let Some(peer) = found else {
        return Ok(());
    };
    let (peer_link, tx_on) = peer::query(&peer)?;
    let peer_name = peer_link.name.as_str();
    let place = peer.place();
    let doctor_fix = format!("xdploader doctor --fix -i {}", shell_quote(name));
    let mut peer_findings = Vec::new();
    if peer_link.xdp != XdpMode::Native {
        peer_findings.push(
            Finding::new(
                at,
                "peer-no-xdp",
                Severity::Problem,
                format!("{name}'s veth peer {peer_name}{place} has no native XDP program, so frames {name}'s program sends with XDP_TX or XDP_REDIRECT are dropped (ENXIO in xdp:xdp_bulk_tx)"),
            )
            .fix(doctor_fix.clone(), true),
        );
    }
    if tx_on {
        peer_findings.push(
            Finding::new(
                at,
                "peer-tx-checksum",
                Severity::Problem,
                format!("{name}'s veth peer {peer_name}{place} offloads tx checksums, so TCP/UDP it sends that XDP redirects arrive with bad checksums (ping still works)"),
            )
            .fix(
                netdev::command_in(
                    peer.netns.as_ref(),
                    &format!("ethtool -K {} tx off", shell_quote(peer_name)),
                ),
                true,
            ),
        );
    }
    if fix && !peer_findings.is_empty() {
        // The loader's own fix: recorded next to the link pin, so unload undoes it.
        let result = peer::fix(layout, iface)
            .map(drop)
            .map_err(|e| crate::error_chain(&e));
        for finding in &mut peer_findings {
            match &result {
                Ok(()) => finding.fixed = true,
                Err(e) => finding.fix_failed = Some(e.clone()),
            }
        }
    }
    findings.extend(peer_findings);
    Ok(())
}
