//! `xdp.frags` programs made plain XDP programs, for kernels without
//! multi-buffer XDP (before 5.18, found by `sys::xdp_frags_supported`): the
//! same programs, code, tail calls and source lines, only the flag gone.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use testkit::kern_object;
use xdp_core::elf::{inspect, inspect_for, Frags};

#[test]
fn frags_programs_become_plain_xdp_with_their_code_tail_calls_and_lines() {
    let data = std::fs::read(kern_object("xdp.elf")).unwrap();
    let kept = inspect(&data).unwrap();
    let dropped = inspect_for(&data, Frags::Dropped).unwrap();
    assert!(kept.summary.xdp_programs().all(|p| p.frags));
    assert!(dropped.summary.xdp_programs().all(|p| !p.frags));
    let names = |i: &xdp_core::elf::Inspected| -> Vec<String> {
        i.summary.xdp_programs().map(|p| p.name.clone()).collect()
    };
    assert_eq!(names(&kept), names(&dropped));
    for (k, d) in kept
        .summary
        .xdp_programs()
        .zip(dropped.summary.xdp_programs())
    {
        assert_eq!(k.instructions, d.instructions, "{}", k.name);
        assert_eq!(k.tail_calls, d.tail_calls, "{}", k.name);
        assert!(!d.source_lines.is_empty(), "{}: no line info", d.name);
        assert_eq!(k.source_lines, d.source_lines, "{}", k.name);
    }
    // What aya gets parses as plain XDP programs, as aya will read it.
    let bytes = dropped.rewritten.as_deref().expect("rewritten for aya");
    let reread = inspect(bytes).unwrap();
    assert!(reread.summary.xdp_programs().all(|p| !p.frags));
    // The skeleton asks to be told (kern/common.h); a program without it does not.
    assert!(kept.summary.frags_global && dropped.summary.frags_global);
    let fixture = std::fs::read(kern_object("tests/other_tool.elf")).unwrap();
    assert!(!inspect(&fixture).unwrap().summary.frags_global);
    assert!(dropped
        .summary
        .rewritten_for_aya
        .iter()
        .any(|r| r.contains("this kernel has no xdp.frags")));
}
