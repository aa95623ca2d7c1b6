//! `xdploader apply [-c FILE]`: make the system match the config file.
//!
//! Each entry is compared with what its interfaces run, by the record a load
//! keeps beside its pins ([`crate::state::LoadRecord`]: object path and
//! SHA-256, entry program, flags, and the config file that asked for it):
//! missing loads are made, changed ones replaced on the pinned link (no
//! packet lost; a changed attach mode needs a new link), loads this config
//! made that it no longer lists are unloaded, and nothing else is touched.
//!
//! [`plan`] decides (no change made: `--dry-run` stops there); [`execute`]
//! carries the plan out step by step. A failing step is reported and the
//! others go on; only a signal stops the rest.

use std::{
    collections::HashSet,
    path::{Path, PathBuf},
};

use serde::Serialize;

use super::{
    load::{self as load_op, LoadOptions, Prepared},
    require_capabilities,
    unload::{self, UnloadOptions},
    Error,
};
use crate::{
    config::{Config, Entry},
    netdev::{Netns, ThreadInNetns},
    state::{self, AppliedPinDirs, LoadRecord, PinLayout},
    DEFAULT_PIN_DIR,
};

/// What a step does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Not loaded yet: load and attach.
    Load,
    /// Loaded with another object or options: replace on the pinned link.
    Replace,
    /// Loaded in another attach mode: detach, then load.
    Reattach,
    /// Loaded by this config, no longer in it: unload.
    Unload,
    /// Already as declared.
    Unchanged,
    /// The entry cannot be planned (unreadable object, missing interface…).
    Invalid,
}

/// Where a step stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Planned and not carried out (`--dry-run`, or nothing to do).
    Planned,
    Done,
    Failed,
    /// Not tried: a signal stopped the apply first.
    Skipped,
}

#[derive(Debug, Serialize)]
pub struct Step {
    /// The config entry, from 1 (None for an unload of an entry now gone).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entry: Option<usize>,
    pub file: PathBuf,
    pub interfaces: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub netns: Option<String>,
    pub pin_dir: PathBuf,
    pub action: Action,
    /// Why this action: what differs, or "as declared".
    pub why: String,
    pub outcome: Outcome,
    /// The error line, for a failed or invalid step.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Step {
    /// `/x/xdp.elf on veth1` (`… in netns lab`), as messages name it.
    pub fn label(&self) -> String {
        crate::config::label(&self.file, &self.interfaces, self.netns.as_deref())
    }
    pub fn changes(&self) -> bool {
        !matches!(self.action, Action::Unchanged | Action::Invalid)
    }
}

#[derive(Debug, Serialize)]
pub struct ApplyReport {
    pub config: PathBuf,
    pub dry_run: bool,
    pub steps: Vec<Step>,
    /// Steps that change something (done, or planned in a dry run).
    pub changes: usize,
    /// Steps that failed, invalid entries included.
    pub failed: usize,
}

/// Work a step still has to do.
#[derive(Debug)]
enum Work {
    Load {
        step: usize,
        netns: Option<String>,
        /// Interfaces to detach first (a changed attach mode).
        detach_first: Vec<String>,
        options: Box<LoadOptions>,
        prepared: Box<Prepared>,
    },
    Unload {
        step: usize,
        netns: Option<String>,
        pin_dir: PathBuf,
        iface: String,
        lock_wait: std::time::Duration,
    },
}

/// The steps, decided, with what they need to be carried out.
#[derive(Debug)]
pub struct Plan {
    pub config: PathBuf,
    pub steps: Vec<Step>,
    work: Vec<Work>,
    /// The entries' pin directories: recorded for the next apply.
    pin_dirs_in_use: Vec<PathBuf>,
}

impl Plan {
    /// Pin directories the work will pin in: the binary mounts bpffs there
    /// before isolating its mounts.
    pub fn pin_dirs(&self) -> Vec<PathBuf> {
        let mut dirs: Vec<PathBuf> = self
            .work
            .iter()
            .filter_map(|w| match w {
                Work::Load { options, .. } => Some(options.pin_dir.clone()),
                Work::Unload { .. } => None,
            })
            .collect();
        dirs.sort();
        dirs.dedup();
        dirs
    }

    /// Whether some object to load needs the kernel's BTF (CO-RE).
    pub fn needs_kernel_btf(&self) -> bool {
        self.work.iter().any(|w| match w {
            Work::Load { prepared, .. } => prepared.needs_kernel_btf(),
            Work::Unload { .. } => false,
        })
    }

    /// The report as planned, nothing carried out.
    pub fn into_report(self, dry_run: bool) -> ApplyReport {
        report(self.config, self.steps, dry_run)
    }
}

fn report(config: PathBuf, steps: Vec<Step>, dry_run: bool) -> ApplyReport {
    let changes = steps
        .iter()
        .filter(|s| s.changes() && s.outcome != Outcome::Failed)
        .count();
    let failed = steps
        .iter()
        .filter(|s| s.outcome == Outcome::Failed)
        .count();
    ApplyReport {
        config,
        dry_run,
        steps,
        changes,
        failed,
    }
}

/// Compares the config with what runs. Changes nothing; needs root (the
/// records are pinned maps).
pub fn plan(config: &Config) -> Result<Plan, Error> {
    require_capabilities("apply")?;
    let mut plan = Plan {
        config: config.path.clone(),
        steps: Vec::new(),
        work: Vec::new(),
        pin_dirs_in_use: Vec::new(),
    };
    // What the config declares: where its pins are, and on what.
    plan.pin_dirs_in_use = config
        .entries
        .iter()
        .map(|e| e.load.pin_dir.clone())
        .collect();
    // (netns, pin dir, interface) the config declares.
    let mut declared: HashSet<(Option<String>, PathBuf, String)> = HashSet::new();
    for entry in &config.entries {
        for name in &entry.load.interfaces {
            declared.insert((
                entry.netns.clone(),
                entry.load.pin_dir.clone(),
                name.clone(),
            ));
        }
        plan_entry(&mut plan, entry, &config.path);
    }
    // What this config loaded before and lists no more. Entry pin dirs, and
    // every pin dir on the default bpffs (where the pin dirs of entries now
    // gone most likely were).
    let mut dirs: Vec<PathBuf> = state::pin_dirs_below(Path::new(DEFAULT_PIN_DIR));
    let recorded = AppliedPinDirs::of(&config.path).read();
    for dir in config
        .entries
        .iter()
        .map(|e| &e.load.pin_dir)
        .chain(&recorded)
    {
        dirs.extend(state::pin_dirs_below(dir));
    }
    let mut seen = HashSet::new();
    dirs.retain(|d| seen.insert(d.clone()));
    for dir in dirs {
        let layout = PinLayout::new(&dir);
        for iface in state::recorded_interfaces(&layout) {
            let Some(record) = LoadRecord::read(&layout, &iface) else {
                continue;
            };
            if record.applied_from.as_deref() != Some(config.path.as_path()) {
                continue;
            }
            let key = (record.netns.clone(), dir.clone(), iface.clone());
            if declared.contains(&key) {
                continue;
            }
            plan.work.push(Work::Unload {
                step: plan.steps.len(),
                netns: record.netns.clone(),
                pin_dir: dir.clone(),
                iface: iface.clone(),
                lock_wait: config.lock_wait,
            });
            plan.steps.push(Step {
                entry: None,
                file: record.object,
                interfaces: vec![iface],
                netns: record.netns,
                pin_dir: dir.clone(),
                action: Action::Unload,
                why: "no longer in the config".to_owned(),
                outcome: Outcome::Planned,
                error: None,
            });
        }
    }
    // Unloads first: an interface may move from a removed entry to a new one.
    plan.work.sort_by_key(|w| !matches!(w, Work::Unload { .. }));
    Ok(plan)
}

/// Plans one entry: prepared in its namespace (interfaces resolve there).
fn plan_entry(plan: &mut Plan, entry: &Entry, config: &Path) {
    let mut step = Step {
        entry: Some(entry.number),
        file: entry.load.file.clone(),
        interfaces: entry.load.interfaces.clone(),
        netns: entry.netns.clone(),
        pin_dir: entry.load.pin_dir.clone(),
        action: Action::Invalid,
        why: String::new(),
        outcome: Outcome::Planned,
        error: None,
    };
    match compare(entry, config) {
        Ok((action, why, detach_first, prepared)) => {
            step.action = action;
            step.why = why;
            if action != Action::Unchanged {
                plan.work.push(Work::Load {
                    step: plan.steps.len(),
                    netns: entry.netns.clone(),
                    detach_first,
                    options: Box::new(entry.load.clone()),
                    prepared: Box::new(prepared),
                });
            }
        }
        Err(e) => {
            step.why = "cannot be planned".to_owned();
            step.outcome = Outcome::Failed;
            step.error = Some(crate::error_chain(&e));
        }
    }
    plan.steps.push(step);
}

/// What `entry` needs, why, which interfaces to detach first, and the
/// prepared load.
fn compare(entry: &Entry, config: &Path) -> Result<(Action, String, Vec<String>, Prepared), Error> {
    let netns = entry.netns.as_deref().map(Netns::named).transpose()?;
    let _inside = netns.as_ref().map(ThreadInNetns::enter).transpose()?;
    let mut prepared = load_op::prepare(&entry.load)?;
    prepared.record.applied_from = Some(config.to_owned());
    prepared.record.netns = entry.netns.clone();
    let layout = PinLayout::new(&entry.load.pin_dir);
    let (mut why, mut detach_first, mut any_loaded) = (Vec::new(), Vec::new(), false);
    for iface in &prepared.interfaces {
        let name = &iface.name;
        let alive = crate::sys::pinned_link_facts(&layout.link(name))
            .is_ok_and(|facts| facts.xdp_ifindex == Some(iface.ifindex));
        let record = LoadRecord::read(&layout, name);
        let Some(record) = record.filter(|_| alive) else {
            why.push(format!("not loaded on {name}"));
            continue;
        };
        any_loaded = true;
        if record == prepared.record {
            continue;
        }
        why.push(difference(name, &record, &prepared.record));
        if record.mode != prepared.record.mode {
            detach_first.push(name.clone());
        }
    }
    let action = if why.is_empty() {
        Action::Unchanged
    } else if !detach_first.is_empty() {
        Action::Reattach
    } else if any_loaded {
        Action::Replace
    } else {
        Action::Load
    };
    let why = if why.is_empty() {
        "as declared".to_owned()
    } else {
        why.join("; ")
    };
    Ok((action, why, detach_first, prepared))
}

/// What differs between the load on `iface` and the declared one, briefly.
fn difference(iface: &str, now: &LoadRecord, wanted: &LoadRecord) -> String {
    let short = |h: &str| h.chars().take(12).collect::<String>();
    if now.object != wanted.object {
        format!("{iface} runs {}, not this object", now.object.display())
    } else if now.sha256 != wanted.sha256 {
        format!(
            "object changed on {iface} (sha256 {} -> {})",
            short(&now.sha256),
            short(&wanted.sha256)
        )
    } else if now.mode != wanted.mode {
        let mode =
            |m: Option<crate::attach::Mode>| m.map_or("unrecorded", crate::attach::Mode::name);
        format!(
            "attach mode on {iface}: {} -> {}",
            mode(now.mode),
            mode(wanted.mode)
        )
    } else if now.flags != wanted.flags {
        format!("flags on {iface}: {} -> {}", now.flags, wanted.flags)
    } else if now.entry != wanted.entry {
        format!("entry on {iface}: {} -> {}", now.entry, wanted.entry)
    } else if now.applied_from != wanted.applied_from {
        format!("{iface} was loaded by hand: this config takes it over")
    } else {
        format!("netns record on {iface} differs")
    }
}

/// Carries out `plan`. Between steps, `interrupted` (a pending SIGINT or
/// SIGTERM) stops it: the step under way is rolled back as any load is, and
/// the rest are skipped. Call [`crate::bpffs::ensure_bpffs`] on
/// [`Plan::pin_dirs`] first when the process isolates its mounts.
pub fn execute(
    plan: Plan,
    interrupted: &dyn Fn() -> Option<&'static str>,
) -> (ApplyReport, Option<&'static str>) {
    let Plan {
        config,
        mut steps,
        work,
        pin_dirs_in_use,
    } = plan;
    let mut stopped_by = None;
    for work in work {
        let step = match &work {
            Work::Load { step, .. } | Work::Unload { step, .. } => *step,
        };
        if stopped_by.is_none() {
            stopped_by = interrupted();
        }
        if stopped_by.is_some() {
            steps[step].outcome = Outcome::Skipped;
            continue;
        }
        let result = match work {
            Work::Load {
                netns,
                detach_first,
                options,
                prepared,
                ..
            } => in_netns(netns.as_deref(), || {
                if !detach_first.is_empty() {
                    unload::run(&UnloadOptions {
                        interfaces: detach_first,
                        pin_dir: options.pin_dir.clone(),
                        lock_wait: options.lock_wait,
                    })?;
                }
                load_op::execute_unless(*prepared, &options, interrupted).map(|_| ())
            }),
            Work::Unload {
                netns,
                pin_dir,
                iface,
                lock_wait,
                ..
            } => {
                // A namespace deleted since: its interfaces are gone, the
                // pins and records are what is left to remove.
                let netns = netns.filter(|ns| Netns::named(ns).is_ok());
                in_netns(netns.as_deref(), || {
                    unload::run(&UnloadOptions {
                        interfaces: vec![iface],
                        pin_dir,
                        lock_wait,
                    })
                    .map(|_| ())
                })
            }
        };
        match result {
            Ok(()) => steps[step].outcome = Outcome::Done,
            Err(Error::Interrupted(signal)) => {
                steps[step].outcome = Outcome::Skipped;
                stopped_by = Some(signal);
            }
            Err(e) => {
                steps[step].outcome = Outcome::Failed;
                steps[step].error = Some(crate::error_chain(&e));
            }
        }
    }
    // The next apply looks for what this one made here too; a pin dir whose
    // unload failed stays recorded, so the next apply tries again.
    let mut dirs = pin_dirs_in_use;
    dirs.extend(
        steps
            .iter()
            .filter(|s| s.action == Action::Unload && s.outcome != Outcome::Done)
            .map(|s| s.pin_dir.clone()),
    );
    dirs.sort();
    dirs.dedup();
    if let Err(e) = AppliedPinDirs::of(&config).write(&dirs) {
        steps.push(Step {
            entry: None,
            file: config.clone(),
            interfaces: Vec::new(),
            netns: None,
            pin_dir: PathBuf::from(state::APPLIED_DIR),
            action: Action::Invalid,
            why: "recording the pin directories for the next apply".to_owned(),
            outcome: Outcome::Failed,
            error: Some(crate::error_chain(&e)),
        });
    }
    (report(config, steps, false), stopped_by)
}

/// Runs `f` with this thread in `netns` (None: where it is).
fn in_netns(netns: Option<&str>, f: impl FnOnce() -> Result<(), Error>) -> Result<(), Error> {
    let netns = netns.map(Netns::named).transpose()?;
    let _inside = netns.as_ref().map(ThreadInNetns::enter).transpose()?;
    f()
}
