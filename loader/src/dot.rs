//! `--dot`: the tail-call chain as a Graphviz digraph, for `inspect` (the
//! plan: programs, the tail calls read off their bytecode, each slot with
//! the rule that fills it) and for `status` (what runs: program ids, each
//! prog array's slots, the verdict counters). `dot -Tsvg` draws it.
//!
//! Nodes: a program is a box (the entry has a double border), a prog-array
//! slot an ellipse `map[N]`. Edges: program -> slot is a tail call, slot ->
//! program the slot's content, labelled with its rule. A slot a program
//! calls that nothing fills is red (the tail call falls through); an XDP
//! program nothing reaches is grey and dashed.

use std::{collections::BTreeSet, fmt::Write as _};

use xdp_core::ops::{inspect::InspectReport, status::StatusReport};

/// A Graphviz ID: a quoted string, escaped (a newline is dot's `\n`).
fn id(text: &str) -> String {
    let escaped = text
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n");
    format!("\"{escaped}\"")
}

fn slot_node(map: &str, slot: Option<u32>) -> String {
    match slot {
        Some(n) => format!("{map}[{n}]"),
        None => format!("{map}[?]"),
    }
}

/// The plan `inspect` shows.
pub fn inspect(report: &InspectReport) -> String {
    let mut out = String::new();
    let name = report.file.file_name().map_or_else(
        || report.file.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let _ = writeln!(out, "digraph {} {{", id(&name));
    let _ = writeln!(out, "  rankdir=LR;\n  node [fontname=\"monospace\"];");
    if let Some(problem) = &report.problem {
        let _ = writeln!(
            out,
            "  label={};\n  labelloc=t;",
            id(&format!("a load would fail: {problem}"))
        );
    }
    let entry = report.entry.as_deref();
    let tables = report.jump_tables.as_ref();
    // Slots filled, and programs something reaches.
    let mut filled: BTreeSet<(String, u32)> = BTreeSet::new();
    let mut reached: BTreeSet<&str> = entry.into_iter().collect();
    for table in tables.map(|t| t.tables.as_slice()).unwrap_or_default() {
        for slot in &table.slots {
            filled.insert((table.map.clone(), slot.slot));
            reached.insert(&slot.program);
        }
    }
    for prog in report.summary.programs.iter().filter(|p| p.xdp) {
        let mut attrs = vec![
            format!("label={}", id(&format!("{}\n{}", prog.name, prog.section))),
            "shape=box".to_owned(),
        ];
        if Some(prog.name.as_str()) == entry {
            attrs.push("peripheries=2".to_owned());
        } else if entry.is_some() && !reached.contains(prog.name.as_str()) && !prog.map_program {
            attrs.push("style=dashed color=gray50 fontcolor=gray50".to_owned());
            attrs.push("tooltip=\"no rule puts it in a slot: never runs\"".to_owned());
        }
        let _ = writeln!(out, "  {} [{}];", id(&prog.name), attrs.join(" "));
    }
    if let Some(entry) = entry {
        let _ = writeln!(out, "  \"(interface)\" [shape=plaintext];");
        let _ = writeln!(out, "  \"(interface)\" -> {} [label=\"entry\"];", id(entry));
    }
    // Tail calls off the bytecode, then what fills each slot.
    let mut slots: BTreeSet<String> = BTreeSet::new();
    for prog in report.summary.programs.iter().filter(|p| p.xdp) {
        for call in &prog.tail_calls {
            let map = call.map.as_deref().unwrap_or("?");
            let node = slot_node(map, call.slot);
            let empty = call
                .slot
                .is_some_and(|n| !filled.contains(&(map.to_owned(), n)));
            if slots.insert(node.clone()) {
                let style = if empty {
                    " color=red fontcolor=red tooltip=\"nothing fills it: the tail call falls through\""
                } else {
                    ""
                };
                let _ = writeln!(out, "  {} [shape=ellipse{style}];", id(&node));
            }
            let _ = writeln!(
                out,
                "  {} -> {} [label=\"tail call\"];",
                id(&prog.name),
                id(&node)
            );
        }
    }
    for table in tables.map(|t| t.tables.as_slice()).unwrap_or_default() {
        for slot in &table.slots {
            let node = slot_node(&table.map, Some(slot.slot));
            if slots.insert(node.clone()) {
                let _ = writeln!(out, "  {} [shape=ellipse];", id(&node));
            }
            let _ = writeln!(
                out,
                "  {} -> {} [label={} style=bold];",
                id(&node),
                id(&slot.program),
                id(&slot.rule.to_string())
            );
        }
    }
    out.push_str("}\n");
    out
}

/// What runs, per interface of the report.
pub fn status(
    report: &StatusReport,
    counters: &dyn Fn(&std::path::Path) -> Option<String>,
) -> String {
    let mut out =
        String::from("digraph status {\n  rankdir=LR;\n  node [fontname=\"monospace\"];\n");
    for i in &report.interfaces {
        let iface = match &i.netns {
            Some(ns) => format!("{} ({}, {ns})", i.iface, i.ifindex),
            None => format!("{} ({})", i.iface, i.ifindex),
        };
        let _ = writeln!(out, "  {} [shape=plaintext];", id(&iface));
        let Some(prog_id) = i.prog_id else { continue };
        let prog = format!("prog {prog_id}");
        let name = i.prog_name.as_deref().unwrap_or("?");
        let owner = match (&i.load, &i.peer_fix_of) {
            (Some(load), _) => load.object.display().to_string(),
            (None, Some(of)) => format!("peer fix of {of}"),
            (None, None) if i.ours => "ours".to_owned(),
            (None, None) => "not ours".to_owned(),
        };
        let _ = writeln!(
            out,
            "  {} [shape=box peripheries=2 label={}];",
            id(&prog),
            id(&format!("{name}\nprog {prog_id}\n{owner}"))
        );
        let _ = writeln!(
            out,
            "  {} -> {} [label={}];",
            id(&iface),
            id(&prog),
            id(i.mode.name())
        );
        // The slots as the kernel has them now (which program calls which
        // slot is the bytecode's: `inspect --dot` shows that).
        for table in &i.jump_tables {
            let map = format!("{} (map {})", table.map, table.map_id);
            let _ = writeln!(out, "  {} [shape=ellipse];", id(&map));
            let _ = writeln!(
                out,
                "  {} -> {} [label=\"prog array\"];",
                id(&prog),
                id(&map)
            );
            for slot in &table.slots {
                let target = format!("prog {}", slot.prog_id);
                let _ = writeln!(
                    out,
                    "  {} [shape=box label={}];",
                    id(&target),
                    id(&format!("{}\nprog {}", slot.prog_name, slot.prog_id))
                );
                let _ = writeln!(
                    out,
                    "  {} -> {} [label={} style=bold];",
                    id(&map),
                    id(&target),
                    id(&format!("slot {}", slot.slot))
                );
            }
        }
        // The verdict counters of the object's stats map, where it has one.
        if let Some(text) = i
            .pins
            .iter()
            .find(|p| p.file_name().is_some_and(|n| n == "stats_map"))
            .and_then(|p| counters(p))
        {
            let node = format!("counters {prog_id}");
            let _ = writeln!(out, "  {} [shape=note label={}];", id(&node), id(&text));
            let _ = writeln!(
                out,
                "  {} -> {} [style=dotted arrowhead=none];",
                id(&prog),
                id(&node)
            );
        }
    }
    out.push_str("}\n");
    out
}
