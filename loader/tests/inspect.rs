//! `xdploader inspect`: what a load would do, for any object, without root
//! and without the kernel.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use testkit::{bin, kern_object, run, Run};

/// `xdploader inspect ARGS…` as an unprivileged user: nobody, when the tests
/// run as root; the current user otherwise.
fn inspect(args: &[&str]) -> Run {
    let xdploader = bin("xdploader");
    let mut all = vec!["inspect"];
    all.extend_from_slice(args);
    if nix::unistd::geteuid().is_root() {
        let mut unprivileged = vec![
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
            xdploader.to_str().unwrap(),
        ];
        unprivileged.extend(all);
        run(None, "setpriv", &unprivileged)
    } else {
        run(None, xdploader, &all)
    }
}

fn fixture(name: &str) -> String {
    kern_object(name).to_str().unwrap().to_owned()
}

#[test]
fn text_shows_pins_declared_slots_tail_calls_and_the_plan() {
    let out = inspect(&["-file", &fixture("tests/declarative.elf")]);
    let text = out.success();
    for line in [
        "license GPL, 4 programs, 6 maps",
        "pin /sys/fs/bpf/stats_map (LIBBPF_PIN_BY_NAME)",
        "slot 3 <- stage_a (declared)",
        "map  .rodata     array",
        "global data, not pinned",
        "tail-calls more[0]",
        // The slot comes from .data at run time: not a constant in the bytecode.
        "tail-calls stages[?]",
        "entry: classify",
        "jump table more: 0 <- stage_b (declared), 1 <- stage_drop (declared)",
        "jump table stages: 3 <- stage_a (declared)",
    ] {
        assert!(text.contains(line), "{line:?} missing in\n{text}");
    }
}

#[test]
fn json_names_every_pin_path_and_where_it_came_from() {
    let cases = [
        (
            "tests/goebpf_maps.elf",
            "stats_map",
            "/x/goebpf_fixture/stats_map",
            "goebpf_persistent_path",
            "goebpf",
        ),
        (
            "tests/iproute2_elf_map.elf",
            "stats_map",
            "/x/tc/globals/stats_map",
            "iproute2_global_ns",
            "bpf_elf_map",
        ),
        (
            "tests/legacy_map_def.elf",
            "jmp_map",
            "/x/jmp_map",
            "default",
            "bpf_map_def",
        ),
        (
            "xdp.elf",
            "if_redirect",
            "/x/if_redirect",
            "libbpf_by_name",
            "btf",
        ),
    ];
    for (file, map, path, rule, format) in cases {
        let report = inspect(&["--json", "--pin-dir", "/x", "-file", &fixture(file)]).json();
        assert_eq!(report["pin_dir"], "/x");
        let m = report["summary"]["maps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == map)
            .unwrap_or_else(|| panic!("{file}: no {map}"))
            .clone();
        let shown = format!("/x/{}", m["pin"]["path"].as_str().unwrap());
        assert_eq!(shown, path, "{file}");
        assert_eq!(m["pin"]["rule"], rule, "{file}");
        assert_eq!(m["format"], format, "{file}");
    }
}

#[test]
fn old_section_names_are_kept_and_selectable() {
    let file = fixture("tests/iproute2_elf_map.elf");
    let report = inspect(&["--json", "-file", &file]).json();
    let sections: Vec<&str> = report["summary"]["programs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["section"].as_str().unwrap())
        .collect();
    assert_eq!(sections, ["xdp_ingress", "xdp_ingress_2"]);
    assert_eq!(report["entry"], "ingress");
    assert_eq!(
        report["summary"]["programs"][0]["tail_calls"][0],
        serde_json::json!({"map": "tails", "slot": 2})
    );
    let by_section = inspect(&["--json", "--sec", "xdp_ingress_2", "-file", &file]).json();
    assert_eq!(by_section["entry"], "ingress_2");
}

#[test]
fn an_entry_that_cannot_be_chosen_is_reported_and_exits_1() {
    // Both programs are candidates without --prog: a load would fail, inspect says why.
    let out = inspect(&[
        "-file",
        &fixture("tests/legacy_map_def.elf"),
        "--tail",
        "1=firewall",
    ]);
    // Reported in full, and a script sees it in the exit status.
    assert_eq!(out.code, Some(1), "{out:#?}");
    assert!(
        out.stdout
            .contains("a load would fail: several entry programs"),
        "{out:#?}"
    );
    assert_eq!(out.stderr, "", "{out:#?}");
}

#[test]
fn bad_files_give_one_error_line() {
    let dir = tempfile::tempdir().unwrap();
    let whole = std::fs::read(kern_object("tests/goebpf_maps.elf")).unwrap();
    // A goebpf pin path outside bpffs: same length, so the object stays valid.
    let mut outside = whole.clone();
    let at = outside
        .windows(12)
        .position(|w| w == b"/sys/fs/bpf/")
        .unwrap();
    outside[at..at + 12].copy_from_slice(b"/tmp/fs/bpf/");
    let cases: [(&str, Vec<u8>, &str); 4] = [
        ("garbage.o", b"\x7fELF garbage".to_vec(), "malformed"),
        ("cut.o", whole[..whole.len() / 3].to_vec(), "malformed"),
        ("empty.o", Vec::new(), "not an ELF file"),
        (
            "outside.o",
            outside,
            "unsupported: map stats_map: persistent_path \"/tmp/fs/bpf/goebpf_fixture/stats_map\" is not a path under /sys/fs/bpf",
        ),
    ];
    for (name, bytes, cause) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let out = run(
            None,
            bin("xdploader"),
            &["inspect", "-file", path.to_str().unwrap()],
        );
        assert_ne!(out.code, Some(0), "{name}");
        let lines: Vec<&str> = out.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{name}: {}", out.stderr);
        assert!(lines[0].starts_with("xdploader: "), "{}", lines[0]);
        assert!(lines[0].contains(cause), "{name}: {}", lines[0]);
    }
    let out = run(None, bin("xdploader"), &["inspect", "-file", "/bin/true"]);
    assert!(out.stderr.contains("not BPF"), "{}", out.stderr);
}

#[test]
fn programs_in_no_slot_and_empty_called_slots_come_with_the_flags_that_fill_them() {
    let elf = fixture("tests/unfilled_slots.elf");
    // The xdp/devmap program is never an entry candidate.
    let out = inspect(&["-file", &elf]);
    assert_eq!(out.code, Some(1), "{out:#?}");
    assert!(
        out.stdout
            .contains("several entry programs (parse, filter_v4, filter_v6): choose one"),
        "{}",
        out.stdout
    );
    // The entry calls slots nothing fills: a load would black-hole, so it
    // is refused with the flags that fill them (issue 28).
    let out = inspect(&["-file", &elf, "--prog", "parse"]);
    assert_eq!(out.code, Some(1), "{out:#?}");
    assert!(
        out.stdout.contains(
            "a load would fail: the entry parse tail-calls jmp_map[3], jmp_map[5], which nothing fills: every frame would take the path after a failed tail call; fill them with --tail jmp_map:3=filter_v4 --tail jmp_map:5=filter_v6, or --allow-empty-slots if another program fills them"
        ),
        "{}",
        out.stdout
    );
    // Said to be filled by hand: planned, and what is left out is noted.
    let out = inspect(&["-file", &elf, "--prog", "parse", "--allow-empty-slots"]);
    assert!(
        out.success().contains(
            "jump table: filter_v4, filter_v6 are in no slot while jmp_map[3], jmp_map[5] are empty: e.g. --tail jmp_map:3=filter_v4 --tail jmp_map:5=filter_v6"
        ),
        "{}",
        out.stdout
    );
    // The suggested flags give a plan with nothing left out.
    let out = inspect(&[
        "-file",
        &elf,
        "--prog",
        "parse",
        "--tail",
        "jmp_map:3=filter_v4",
        "--tail",
        "jmp_map:5=filter_v6",
    ]);
    let text = out.success();
    assert!(
        text.contains("jump table jmp_map: 3 <- filter_v4 (--tail), 5 <- filter_v6 (--tail)"),
        "{text}"
    );
    assert!(!text.contains("in no slot"), "{text}");
}

#[test]
fn dot_draws_the_plan_and_graphviz_reads_it() {
    let file = fixture("xdp.elf");
    let plan = inspect(&["--json", "-file", &file]).json();
    let graph = testkit::graphviz(inspect(&["--dot", "-file", &file]).success());
    assert!(graph.edge("(interface)", plan["entry"].as_str().unwrap()));
    // Every tail call off the bytecode, and every slot with its rule.
    for prog in plan["summary"]["programs"].as_array().unwrap() {
        for call in prog["tail_calls"].as_array().unwrap() {
            let slot = format!("{}[{}]", call["map"].as_str().unwrap(), call["slot"]);
            assert!(
                graph.edge(prog["name"].as_str().unwrap(), &slot),
                "{graph:#?}"
            );
        }
    }
    let mut slots = 0;
    for table in plan["jump_tables"]["tables"].as_array().unwrap() {
        for slot in table["slots"].as_array().unwrap() {
            let node = format!("{}[{}]", table["map"].as_str().unwrap(), slot["slot"]);
            let program = slot["program"].as_str().unwrap();
            let edge = graph
                .edges
                .iter()
                .find(|(t, h, _)| *t == node && h == program);
            assert_eq!(
                edge.map(|e| e.2.as_str()),
                slot["rule"].as_str(),
                "{graph:#?}"
            );
            slots += 1;
        }
    }
    assert_eq!(slots, 2);
    // Nothing else: no edge the plan does not have.
    assert_eq!(graph.edges.len(), 1 + 2 + slots, "{graph:#?}");
}

#[test]
fn dot_marks_unfilled_slots_and_programs_nothing_reaches() {
    let file = fixture("tests/unfilled_slots.elf");
    let graph = testkit::graphviz(
        inspect(&[
            "--dot",
            "--prog",
            "parse",
            "--allow-empty-slots",
            "-file",
            &file,
        ])
        .success(),
    );
    for slot in ["jmp_map[3]", "jmp_map[5]"] {
        assert_eq!(graph.colour(slot), Some("red"), "{graph:#?}");
        assert!(graph.edge("parse", slot));
    }
    for dead in ["filter_v4", "filter_v6"] {
        assert_eq!(graph.colour(dead), Some("gray50"), "{graph:#?}");
    }
    // A devmap program runs from a devmap entry, not from the chain.
    assert_eq!(graph.colour("on_egress"), Some("black"), "{graph:#?}");
}

#[test]
fn version_names_the_commit_it_was_built_from() {
    let out = run(None, bin("xdploader"), &["--version"]);
    let head = run(
        None,
        "git",
        &[
            "-C",
            testkit::workspace().to_str().unwrap(),
            "rev-parse",
            "--short=12",
            "HEAD",
        ],
    );
    let version = out.success().trim();
    assert!(version.starts_with("xdploader 0."), "{version}");
    // The binary may be older than HEAD only if HEAD moved since the build.
    assert!(
        version.ends_with(&format!("(commit {})", head.success().trim())),
        "{version}"
    );
    let statswatch = run(None, bin("statswatch"), &["--version"]);
    assert!(statswatch.success().contains("(commit "), "{statswatch:?}");
}

#[test]
fn man_pages_and_completions_come_from_the_clap_definitions() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().display().to_string();
    run(None, bin("xdploader"), &["--generate-assets", &out]).success();
    run(None, bin("statswatch"), &["--generate-assets", &out]).success();
    for page in [
        "xdploader",
        "xdploader-load",
        "xdploader-apply",
        "xdploader-inspect",
        "statswatch",
    ] {
        let path = dir.path().join(format!("{page}.1"));
        let rendered = run(None, "man", &["-l", "-P", "cat", path.to_str().unwrap()]);
        let text = rendered.success();
        assert!(text.contains("SYNOPSIS"), "{page}: {text}");
        // Each page has the subcommand's real examples, as written (man does
        // not reflow them), then what a Debian user looks for.
        for section in ["EXAMPLES", "EXIT STATUS", "SEE ALSO"] {
            assert!(text.contains(section), "{page}: no {section} in\n{text}");
        }
    }
    for shell in ["xdploader.bash", "statswatch.bash"] {
        let path = dir.path().join(shell);
        run(None, "bash", &["-n", path.to_str().unwrap()]).success();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("--file"), "{shell}");
    }
    for other in [
        "_xdploader",
        "xdploader.fish",
        "_statswatch",
        "statswatch.fish",
    ] {
        assert!(dir.path().join(other).is_file(), "{other} missing");
    }
}

#[test]
fn maps_of_maps_show_their_declared_inner_maps_beside_a_declared_prog_array() {
    let text = inspect(&["-file", &fixture("tests/map_in_map.elf")])
        .success()
        .to_owned();
    for line in [
        "map  flow_tables  array_of_maps  key 4   value 4     entries 3",
        "slot 0 <- map flows_even (declared)",
        "slot 1 <- map flows_odd (declared)",
        "slot 0 <- finish (declared)",
        "jump table next_stage: 0 <- finish (declared)",
    ] {
        assert!(text.contains(line), "{line:?} missing in\n{text}");
    }
    let json = inspect(&["-file", &fixture("tests/map_in_map.elf"), "--json"]).json();
    let outer = json["summary"]["maps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "flow_tables")
        .unwrap()
        .clone();
    assert_eq!(
        outer["inner_maps"],
        serde_json::json!([{"slot": 0, "map": "flows_even"}, {"slot": 1, "map": "flows_odd"}])
    );
    // aya creates the map of maps (the kernel needs its inner-map template).
    assert!(outer.get("loader_creates").is_none(), "{outer}");
}

#[test]
fn a_prog_array_with_undeclared_values_is_read_with_4_byte_values() {
    let json = inspect(&[
        "-file",
        &fixture("tests/prog_array_values.elf"),
        "--prog",
        "entry",
        "--tail",
        "jmp:0=next",
        "--json",
    ])
    .json();
    let jmp = &json["summary"]["maps"][0];
    assert_eq!(jmp["name"], "jmp");
    assert_eq!(jmp["value_size"], 4, "{jmp}");
    assert_eq!(jmp["loader_creates"], true, "{jmp}");
    assert_eq!(
        json["jump_tables"]["tables"][0]["slots"][0]["program"],
        "next"
    );
}

#[test]
fn maps_initialised_with_maps_must_be_maps_of_maps() {
    let out = inspect(&["-file", &fixture("tests/bad_map_in_map.elf")]);
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(
        out.stderr.contains(
            "map not_outer: slots initialised with maps, but its type is array, not a map of maps"
        ),
        "{}",
        out.stderr
    );
}
