//! Verifier rejections explained: each common cause made real by a fixture
//! in kern/tests/, loaded by the binary into the real kernel, and the
//! explanation checked against the fixture's own source: the right file and
//! line, the failing instruction, a cause and a fix. Nothing is left behind.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use testkit::{kern_object, workspace, Bpffs, Testbed};

/// One fixture: what the kernel says, the source line it points at (None:
/// the log names none), and words the cause must have.
struct Case {
    fixture: &'static str,
    program: &'static str,
    message: &'static str,
    source: Option<&'static str>,
    cause: &'static str,
}

const CASES: &[Case] = &[
    Case {
        fixture: "verifier_reject",
        program: "xdp_unchecked",
        message: "invalid access to packet",
        source: Some("return data[100] ? XDP_PASS : XDP_DROP;"),
        cause: "data_end",
    },
    Case {
        fixture: "rejected_map_null",
        program: "xdp_no_null_check",
        message: "invalid mem access 'map_value_or_null'",
        source: Some("*value += 1;"),
        cause: "returns NULL",
    },
    Case {
        fixture: "rejected_loop",
        program: "xdp_unbounded",
        message: "BPF program is too large",
        source: Some("sum += i;"),
        cause: "cannot bound a loop",
    },
    Case {
        fixture: "rejected_helper",
        program: "xdp_wrong_helper",
        // 6.1 says "unknown func bpf_skb_load_bytes#26" (below).
        message: "cannot use helper bpf_skb_load_bytes",
        source: Some("if (bpf_skb_load_bytes(ctx, 0, head, sizeof(head)) < 0)"),
        cause: "XDP programs may not call",
    },
    Case {
        fixture: "rejected_arg_type",
        program: "xdp_bad_arg",
        message: "R1 type=scalar expected=map_ptr",
        source: Some("return bpf_map_lookup_elem(not_a_map, &key) ? XDP_DROP : XDP_PASS;"),
        cause: "wrong kind of argument",
    },
    Case {
        fixture: "rejected_license",
        program: "xdp_not_gpl",
        message: "cannot call GPL-restricted function",
        source: Some("bpf_trace_printk(fmt, sizeof(fmt));"),
        cause: "GPL-only",
    },
    Case {
        fixture: "rejected_stack_size",
        program: "xdp_deep_stack",
        message: "combined stack size of 2 calls",
        source: None,
        cause: "512 bytes",
    },
];

/// The 1-based line of `text` in the fixture's C source.
fn line_of(fixture: &str, text: &str) -> usize {
    let path = workspace().join("kern/tests").join(format!("{fixture}.c"));
    let source = std::fs::read_to_string(&path).unwrap();
    source
        .lines()
        .position(|l| l.trim() == text)
        .unwrap_or_else(|| panic!("{text:?} is not a line of {}", path.display()))
        + 1
}

#[test]
#[cfg_attr(not(kernel_tests), ignore = "kernel test: needs root")]
fn each_common_rejection_is_explained_at_its_source_line() {
    if !testkit::kernel() {
        return;
    }
    let bed = Testbed::new();
    let pins = Bpffs::new();
    for case in CASES {
        let file = kern_object(&format!("tests/{}.elf", case.fixture));
        let out = bed.load(&pins, &file, &[]);
        assert_eq!(out.code, Some(1), "{}: {out:#?}", case.fixture);
        assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
        let lines: Vec<&str> = out.stderr.lines().collect();
        let first = lines[0];
        assert!(
            first.starts_with(&format!(
                "xdploader: program {} was rejected by the kernel verifier",
                case.program
            )),
            "{first}"
        );
        // A kernel before 6.4 whose log filled (the 1M-instruction walk)
        // fails with ENOSPC whatever the refusal was, and says so.
        let message = if first.contains("(ENOSPC: ") {
            "the verifier's log filled before it finished"
        } else if case.fixture == "rejected_helper" && first.contains("unknown func ") {
            // Kernels before 6.4 name a helper the program type may not call so.
            "unknown func bpf_skb_load_bytes"
        } else {
            case.message
        };
        assert!(first.contains(message), "{first}");
        // Every other line is indented: the explanation under the error.
        assert!(lines[1..].iter().all(|l| l.starts_with("  ")), "{lines:#?}");
        let field = |name: &str| {
            lines
                .iter()
                .find_map(|l| l.strip_prefix(&format!("  {name}:")))
                .map(str::trim)
        };
        if let Some(text) = case.source {
            let mut line = line_of(case.fixture, text);
            // A log cut off mid-walk (ENOSPC) ends wherever the walk was:
            // in the loop, its body or its header the line above.
            if first.contains("(ENOSPC: ") && first.ends_with(&format!(".c:{}", line - 1)) {
                line -= 1;
            }
            let place = format!("{}.c:{line}", case.fixture);
            assert!(first.ends_with(&format!(", at {place}")), "{first}");
            let source = std::fs::read_to_string(
                workspace()
                    .join("kern/tests")
                    .join(format!("{}.c", case.fixture)),
            )
            .unwrap();
            let text = source.lines().nth(line - 1).unwrap().trim();
            assert_eq!(
                field("source"),
                Some(format!("{place}: {text}").as_str()),
                "{}",
                case.fixture
            );
            assert!(field("insn").is_some(), "{lines:#?}");
        }
        let cause = field("cause").unwrap_or_else(|| panic!("no cause: {lines:#?}"));
        assert!(cause.contains(case.cause), "{}: {cause}", case.fixture);
        assert!(field("fix").is_some(), "{lines:#?}");
        // Nothing of the failed load is left.
        assert_eq!(pins.pins(), Vec::<String>::new(), "{}", case.fixture);
        assert_eq!(bed.xdp_prog_id(&bed.ns_a, &bed.if_a), None);
    }
}

#[test]
#[cfg_attr(not(kernel_tests), ignore = "kernel test: needs root")]
fn the_whole_log_goes_to_a_file_and_json_carries_the_explanation() {
    if !testkit::kernel() {
        return;
    }
    let (bed, pins) = (Testbed::new(), Bpffs::new());
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("verifier.log");
    let file = kern_object("tests/rejected_map_null.elf");
    let log_arg = log.display().to_string();
    let out = bed.load(&pins, &file, &["--json", "--verifier-log", &log_arg]);
    assert_eq!(out.code, Some(1), "{out:#?}");
    let doc: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(doc["rejection"]["source"]["line"], 20, "{doc:#}");
    assert_eq!(doc["rejection"]["source"]["text"], "*value += 1;");
    assert!(doc["rejection"]["fix"]
        .as_str()
        .unwrap()
        .contains("if (!value)"));
    assert_eq!(doc["verifier_log"], log_arg.as_str());
    let written = std::fs::read_to_string(&log).unwrap();
    assert!(written.contains("processed "), "{written}");
    assert!(written.contains("map_value_or_null"), "{written}");
}
