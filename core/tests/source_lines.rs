//! The programs' source places, read off the object's BTF line info: what
//! names the file and line of a verifier rejection on kernels whose log
//! gives only the text (before 6.4). Checked against the fixture's source.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use testkit::{kern_object, workspace};

#[test]
fn each_instruction_is_traced_to_its_line_of_c() {
    let data = std::fs::read(kern_object("tests/rejected_map_null.elf")).unwrap();
    let inspected = xdp_core::elf::inspect(&data).unwrap();
    let program = inspected
        .summary
        .programs
        .iter()
        .find(|p| p.name == "xdp_no_null_check")
        .unwrap();
    let source =
        std::fs::read_to_string(workspace().join("kern/tests/rejected_map_null.c")).unwrap();
    let line = source
        .lines()
        .position(|l| l.trim() == "*value += 1;")
        .unwrap()
        + 1;
    let place = program
        .source_lines
        .iter()
        .find(|p| p.text == "*value += 1;")
        .unwrap();
    assert_eq!(
        (place.file.as_str(), place.line),
        ("rejected_map_null.c", u32::try_from(line).unwrap())
    );
    assert!(place.insn > 0 && (place.insn as usize) < program.instructions);
    assert!(
        program
            .source_lines
            .windows(2)
            .all(|w| w[0].insn <= w[1].insn),
        "{:?}",
        program.source_lines
    );
}
