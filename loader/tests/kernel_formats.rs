//! "Any XDP ELF": every map-definition format and section-name convention
//! found in the wild, loaded by the real binary into the real kernel. Each
//! fixture is a chain (entry → tail call → verdict), so a ping that comes back
//! and an XDP_PASS counter that moves prove the jump table was filled.

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use serde_json::Value;
use testkit::{counters, kern_object, Bpffs, Testbed};

/// Bytes of one ping frame with a 56-byte payload: Ethernet 14 + IPv4 20 + ICMP 8 + 56.
const PING_FRAME: u64 = 98;

/// Loads `fixture`, checks the jump-table line, pings through the chain and
/// reads the verdict counters at `stats` (relative to the pin dir; `{iface}`
/// is the interface: where maps that ask for no pinning go); unloads and
/// checks nothing is left.
fn chain_passes(fixture: &str, jump_table: &str, stats: &str) {
    let bed = Testbed::new();
    let pins = Bpffs::new();
    let out = bed.load(&pins, &kern_object(fixture), &[]);
    let stdout = out.success();
    assert!(stdout.contains(jump_table), "{stdout}");
    let stats = pins.path().join(stats.replace("{iface}", &bed.if_a));
    assert!(
        stdout.contains(&format!("{} (new)", stats.display())),
        "{stdout}"
    );

    assert_eq!(bed.ping_a_from_b(3, 56), 3);
    assert_eq!(counters(&stats, "XDP_PASS"), (3, 3 * PING_FRAME));
    assert_eq!(counters(&stats, "XDP_ABORTED"), (0, 0), "the chain broke");

    bed.xdploader(&pins, &["unload", "-i", &bed.if_a]).success();
    assert_eq!(pins.pins(), Vec::<String>::new(), "unload left pins behind");
    assert_eq!(bed.xdp_prog_id(&bed.ns_a, &bed.if_a), None);
}

#[test]
#[cfg_attr(not(kernel_tests), ignore = "kernel test: needs root")]
fn libbpf_legacy_bpf_map_def_in_xdp_slash_sections() {
    if !testkit::kernel() {
        return;
    }
    chain_passes(
        "tests/legacy_map_def.elf",
        "jump table jmp_map: 1 <- firewall_1 (naming)",
        "{iface}/stats_map",
    );
}

#[test]
#[cfg_attr(not(kernel_tests), ignore = "kernel test: needs root")]
fn iproute2_bpf_elf_map_pins_globals_under_tc_globals() {
    if !testkit::kernel() {
        return;
    }
    chain_passes(
        "tests/iproute2_elf_map.elf",
        "jump table tails: 2 <- ingress_2 (naming)",
        "tc/globals/stats_map",
    );
}

#[test]
#[cfg_attr(not(kernel_tests), ignore = "kernel test: needs root")]
fn goebpf_maps_are_pinned_at_their_persistent_path() {
    if !testkit::kernel() {
        return;
    }
    chain_passes(
        "tests/goebpf_maps.elf",
        "jump table programs: 1 <- skeleton_1 (naming)",
        "goebpf_fixture/stats_map",
    );
}

#[test]
#[cfg_attr(not(kernel_tests), ignore = "kernel test: needs root")]
fn declarative_prog_arrays_global_data_and_tail_overrides() {
    if !testkit::kernel() {
        return;
    }
    let bed = Testbed::new();
    let pins = Bpffs::new();
    let fixture = kern_object("tests/declarative.elf");
    let stdout = bed.load(&pins, &fixture, &[]).success().to_owned();
    for line in [
        "jump table more: 0 <- stage_b (declared), 1 <- stage_drop (declared)",
        "jump table stages: 3 <- stage_a (declared)",
        "(LIBBPF_PIN_BY_NAME)",
    ] {
        assert!(stdout.contains(line), "{line} missing in\n{stdout}");
    }
    // classify → stages[3] (slot from .data) → stage_a → more[0] → stage_b → .rodata's XDP_PASS.
    let stats = pins.path().join("stats_map");
    assert_eq!(bed.ping_a_from_b(3, 56), 3);
    assert_eq!(counters(&stats, "XDP_PASS"), (3, 3 * PING_FRAME));

    // --tail overrides a declared slot: the chain now ends in stage_drop.
    let out = bed.load(&pins, &fixture, &["--tail", "more:0=stage_drop", "--json"]);
    let report: Value = out.json();
    let more = report["jump_tables"]["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["map"] == "more")
        .unwrap()
        .clone();
    assert_eq!(more["slots"][0]["program"], "stage_drop");
    assert_eq!(more["slots"][0]["rule"], "tail");
    assert_eq!(bed.ping_a_from_b(2, 56), 0, "stage_drop drops");
    assert_eq!(counters(&stats, "XDP_DROP"), (2, 2 * PING_FRAME));
    assert_eq!(
        counters(&stats, "XDP_PASS"),
        (3, 3 * PING_FRAME),
        "the LIBBPF_PIN_BY_NAME stats_map is reused across the reload"
    );

    bed.xdploader(&pins, &["unload", "-i", &bed.if_a]).success();
    assert_eq!(pins.pins(), Vec::<String>::new());
}

#[test]
#[cfg_attr(not(kernel_tests), ignore = "kernel test: needs root")]
fn sec_selects_the_entry_by_its_old_style_section() {
    if !testkit::kernel() {
        return;
    }
    let bed = Testbed::new();
    let pins = Bpffs::new();
    // The tail program as the entry: no tail call, it just passes.
    let out = bed.load(
        &pins,
        &kern_object("tests/legacy_map_def.elf"),
        &["--sec", "xdp/firewall_1", "--json"],
    );
    assert_eq!(out.json()["entry"], "firewall_1");
    assert_eq!(bed.ping_a_from_b(2, 56), 2);
    assert_eq!(
        counters(&pins.path().join(&bed.if_a).join("stats_map"), "XDP_PASS"),
        (2, 2 * PING_FRAME)
    );
}

/// Debian's xdp-tools package installs these (scripts/setup.sh installs it).
const XDP_TOOLS_BPF: &str = "/usr/lib/x86_64-linux-gnu/bpf";

#[test]
#[cfg_attr(not(kernel_tests), ignore = "kernel test: needs root")]
fn xdp_tools_objects_inspect_load_and_attach() {
    if !testkit::kernel() {
        return;
    }
    let dir = Path::new(XDP_TOOLS_BPF);
    assert!(
        dir.is_dir(),
        "{XDP_TOOLS_BPF} is missing: apt-get install xdp-tools (scripts/setup.sh does)"
    );
    let mut objects: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "o"))
        .collect();
    objects.sort();
    let mut loaded = Vec::new();
    for object in &objects {
        let file = object.to_str().unwrap();
        let name = object.file_name().unwrap().to_str().unwrap();
        let inspect = testkit::run(
            None,
            testkit::bin("xdploader"),
            &["inspect", "--json", "-file", file],
        );
        if name == "xdpdump_bpf.o" {
            // fentry/fexit programs only: refused, with the reason.
            assert!(!inspect.ok());
            assert!(
                inspect.stderr.contains("no XDP program in this object"),
                "{}",
                inspect.stderr
            );
            continue;
        }
        // A report either way; exit 1 where it names a problem (several
        // entry programs: chosen below with --prog).
        let report: Value = serde_json::from_str(&inspect.stdout).expect("inspect --json");
        assert_eq!(
            inspect.code,
            Some(i32::from(!report["problem"].is_null())),
            "{inspect:#?}"
        );
        let maps: Vec<&str> = report["summary"]["maps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["name"].as_str().unwrap())
            .collect();
        let mut extra = Vec::new();
        if name.starts_with("xdpfilt_") {
            // xdp-filter pins its maps by name, and counts verdicts like we do.
            let stats = report["summary"]["maps"]
                .as_array()
                .unwrap()
                .iter()
                .find(|m| m["name"] == "xdp_stats_map")
                .unwrap_or_else(|| panic!("{name}: no xdp_stats_map in {maps:?}"));
            assert_eq!(stats["pin"]["rule"], "libbpf_by_name", "{name}");
            assert_eq!(stats["type"], "percpu_array");
        }
        if name == "xdp-dispatcher.o" {
            // libxdp's dispatcher and its xdp_pass: the entry must be named.
            assert!(report["problem"]
                .as_str()
                .unwrap()
                .contains("several entry programs (xdp_dispatcher, xdp_pass)"));
            extra = vec!["--prog", "xdp_dispatcher"];
        } else {
            assert!(report["entry"].is_string(), "{name}: {report}");
        }

        let bed = Testbed::new();
        let pins = Bpffs::new();
        let out = bed.load(&pins, object, &extra);
        assert!(out.ok(), "{name}: {}", out.stderr);
        assert!(bed.xdp_prog_id(&bed.ns_a, &bed.if_a).is_some(), "{name}");
        let answered = bed.ping_a_from_b(2, 56);
        if name.starts_with("xdpfilt_") {
            // xdp-filter counts every verdict in its pinned xdp_stats_map,
            // which statswatch reads: exactly the 2 echo requests that came in.
            let stats = pins.path().join("xdp_stats_map");
            let seen: u64 = [
                "XDP_ABORTED",
                "XDP_DROP",
                "XDP_PASS",
                "XDP_TX",
                "XDP_REDIRECT",
            ]
            .iter()
            .map(|a| counters(&stats, a).0)
            .sum();
            assert_eq!(seen, 2, "{name} counted {seen} packets");
        } else {
            assert_eq!(answered, 2, "{name} dropped pings");
        }
        bed.xdploader(&pins, &["unload", "-i", &bed.if_a]).success();
        assert_eq!(pins.pins(), Vec::<String>::new(), "{name}");
        loaded.push(name.to_owned());
    }
    assert!(loaded.len() >= 10, "loaded only {loaded:?}");
}

/// Loads `fixture` with `extra` flags, pings through it and counts XDP_PASS
/// in its stats_map (at `stats`, as for [`chain_passes`]); returns the
/// testbed, pins and load output for more checks.
fn load_and_count(fixture: &str, stats: &str, extra: &[&str]) -> (Testbed, Bpffs, String) {
    let bed = Testbed::new();
    let pins = Bpffs::new();
    let out = bed.load(&pins, &kern_object(fixture), extra);
    let stdout = out.success().to_owned();
    assert_eq!(bed.ping_a_from_b(3, 56), 3);
    let stats = pins.path().join(stats.replace("{iface}", &bed.if_a));
    assert_eq!(counters(&stats, "XDP_PASS"), (3, 3 * PING_FRAME));
    (bed, pins, stdout)
}

fn unload_leaves_nothing(bed: &Testbed, pins: &Bpffs) {
    bed.xdploader(pins, &["unload", "-i", &bed.if_a]).success();
    assert_eq!(pins.pins(), Vec::<String>::new(), "unload left pins behind");
    assert_eq!(bed.xdp_prog_id(&bed.ns_a, &bed.if_a), None);
}

/// `bpftool map show pinned PATH`, as JSON.
fn bpftool_map(path: &Path) -> Value {
    let out = testkit::run(
        None,
        "bpftool",
        &["-j", "map", "show", "pinned", path.to_str().unwrap()],
    );
    serde_json::from_str(out.success()).unwrap()
}

#[test]
#[cfg_attr(not(kernel_tests), ignore = "kernel test: needs root")]
fn a_devmap_with_u32_values_is_created_as_declared_and_named_when_not_if_redirect() {
    if !testkit::kernel() {
        return;
    }
    // Without --devmap: the load says which devmap the object has.
    let (bed, pins, stdout) = load_and_count("tests/devmap_u32.elf", "stats_map", &[]);
    assert!(
        stdout.contains("devmap: skipped, the object's devmap is tx_port: pass --devmap tx_port"),
        "{stdout}"
    );
    unload_leaves_nothing(&bed, &pins);

    let (bed, pins, stdout) = load_and_count(
        "tests/devmap_u32.elf",
        "stats_map",
        &["--devmap", "tx_port"],
    );
    assert!(
        stdout.contains(&format!("devmap tx_port: {} (", bed.if_a)),
        "{stdout}"
    );
    assert!(
        stdout.contains("created with its declared 4-byte values"),
        "{stdout}"
    );
    // It asks for no pinning: in the interface's directory.
    let tx_port = pins.path().join(&bed.if_a).join("tx_port");
    assert_eq!(bpftool_map(&tx_port)["bytes_value"], 4);
    // What failed before ("value expected 8 bytes got 4"): user space writes
    // the map as the object declares it (ifindex 1, lo, exists everywhere).
    testkit::sh(&[
        "bpftool",
        "map",
        "update",
        "pinned",
        tx_port.to_str().unwrap(),
        "key",
        "1",
        "0",
        "0",
        "0",
        "value",
        "1",
        "0",
        "0",
        "0",
    ]);
    // A reload reuses nothing wrongly and still creates it as declared.
    bed.load(
        &pins,
        &kern_object("tests/devmap_u32.elf"),
        &["--devmap", "tx_port"],
    )
    .success();
    assert_eq!(bpftool_map(&tx_port)["bytes_value"], 4);
    unload_leaves_nothing(&bed, &pins);
}

#[test]
#[cfg_attr(not(kernel_tests), ignore = "kernel test: needs root")]
fn a_goebpf_lpm_trie_gets_no_prealloc_as_goebpf_adds_it() {
    if !testkit::kernel() {
        return;
    }
    // Without the flag the kernel refuses the trie (EINVAL): the load failed.
    let (bed, pins, stdout) = load_and_count("tests/lpm_goebpf.elf", "{iface}/stats_map", &[]);
    assert!(
        stdout.contains("LPM trie created with BPF_F_NO_PREALLOC"),
        "{stdout}"
    );
    let trie = bpftool_map(&pins.path().join(&bed.if_a).join("blocklist"));
    assert_eq!(trie["type"], "lpm_trie");
    assert_eq!(trie["flags"].as_u64().unwrap() & 1, 1, "{trie}");
    // A reload finds the pinned trie matching (the summary has the flag too).
    let again = bed
        .load(&pins, &kern_object("tests/lpm_goebpf.elf"), &["--json"])
        .json();
    let action = again["pins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "blocklist")
        .unwrap()["action"]
        .clone();
    assert_eq!(action, "reuse");
    unload_leaves_nothing(&bed, &pins);
}

#[test]
#[cfg_attr(not(kernel_tests), ignore = "kernel test: needs root")]
fn a_map_sized_by_user_space_is_refused_by_name_until_max_entries_gives_it() {
    if !testkit::kernel() {
        return;
    }
    let bed = Testbed::new();
    let pins = Bpffs::new();
    let elf = kern_object("tests/sized_by_user.elf");
    let out = bed.load(&pins, &elf, &[]);
    assert!(!out.ok());
    assert_eq!(
        out.stderr.trim(),
        "xdploader: map flows has max_entries 0: the object leaves its size to user space; give it with --max-entries flows=N"
    );
    assert_eq!(pins.pins(), Vec::<String>::new());
    // inspect says so too, without the kernel.
    let inspect = testkit::run(
        None,
        testkit::bin("xdploader"),
        &["inspect", "-file", elf.to_str().unwrap()],
    );
    assert_eq!(inspect.code, Some(1), "{inspect:#?}");
    assert!(inspect
        .stdout
        .contains("a load would fail: map flows has max_entries 0"));
    drop((bed, pins));

    let (bed, pins, _) = load_and_count(
        "tests/sized_by_user.elf",
        "stats_map",
        &["--max-entries", "flows=1024"],
    );
    assert_eq!(
        bpftool_map(&pins.path().join(&bed.if_a).join("flows"))["max_entries"],
        1024
    );
    unload_leaves_nothing(&bed, &pins);
}

#[test]
#[cfg_attr(not(kernel_tests), ignore = "kernel test: needs root")]
fn bpf_load_c_section_names_and_a_tc_program_beside_them() {
    if !testkit::kernel() {
        return;
    }
    // SEC("xdp1") and SEC("xdp_prog") sank the whole object, even for
    // inspect; the tc program must be listed and skipped, never sink it.
    let elf = kern_object("tests/bpf_load_sections.elf");
    let inspect = testkit::run(
        None,
        testkit::bin("xdploader"),
        &["inspect", "-file", elf.to_str().unwrap()],
    );
    let text = inspect.success();
    for line in [
        "prog xdp_entry    xdp1",
        "prog xdp_entry_1  xdp_prog",
        "prog tc_ingress   tc             2 insns  (not XDP: not loaded)",
        "note: section tc: a program type aya 0.14 does not know; listed, not loaded",
    ] {
        assert!(text.contains(line), "{line:?} not in:\n{text}");
    }
    chain_passes(
        "tests/bpf_load_sections.elf",
        "jump table jmp_map: 1 <- xdp_entry_1 (naming)",
        "stats_map",
    );
    // --sec takes the original name.
    let bed = Testbed::new();
    let pins = Bpffs::new();
    let out = bed.load(&pins, &elf, &["--sec", "xdp1", "--json"]).json();
    assert_eq!(out["entry"], "xdp_entry");
    bed.xdploader(&pins, &["unload", "-i", &bed.if_a]).success();
}

#[test]
#[cfg_attr(not(kernel_tests), ignore = "kernel test: needs root")]
fn metadata_kfuncs_are_refused_naming_each_before_the_kernel_is_asked() {
    if !testkit::kernel() {
        return;
    }
    let bed = Testbed::new();
    let pins = Bpffs::new();
    let elf = kern_object("tests/kfunc.elf");
    let out = bed.load(&pins, &elf, &[]);
    assert!(!out.ok());
    // Where each kfunc is on this kernel: vmlinux's BTF id (the one bpftool
    // shows), or missing on a kernel before 6.3 (the 6.1 guest).
    let btf = vmlinux_btf();
    let place = |name: &str| match vmlinux_kfunc_id(&btf, name) {
        Some(id) => format!("{name}: in vmlinux (BTF id {id})"),
        None => format!("{name}: not on this kernel (needs Linux 6.3+)"),
    };
    // Found in vmlinux, they are still refused: they need a device binding.
    let refusal = |name: &str| {
        let place = place(name);
        if place.contains("in vmlinux") {
            format!("{place}, but XDP RX metadata kfuncs load only into a device-bound program (prog_ifindex, BPF_F_XDP_DEV_BOUND_ONLY), which aya 0.14 cannot load")
        } else {
            place
        }
    };
    assert_eq!(
        out.stderr.trim(),
        format!(
            "xdploader: the object uses kernel symbols this kernel cannot give it (extern __ksym: {}; {}); bpftool prog loadall loads what needs a device binding or a module",
            refusal("bpf_xdp_metadata_rx_hash"),
            refusal("bpf_xdp_metadata_rx_timestamp")
        )
    );
    assert_eq!(pins.pins(), Vec::<String>::new());
    assert_eq!(bed.xdp_prog_id(&bed.ns_a, &bed.if_a), None);
    let inspect = testkit::run(
        None,
        testkit::bin("xdploader"),
        &["inspect", "--json", "-file", elf.to_str().unwrap()],
    );
    assert_eq!(inspect.code, Some(1), "{inspect:#?}");
    let report: Value = serde_json::from_str(&inspect.stdout).unwrap();
    assert_eq!(report["summary"]["externs"][0]["kfunc"], true);
    assert!(report["problem"]
        .as_str()
        .unwrap()
        .contains("uses kernel symbols"));
    assert_eq!(report["kfuncs"][0]["name"], "bpf_xdp_metadata_rx_hash");
    let expected = place("bpf_xdp_metadata_rx_hash");
    match report["kfuncs"][0]["place"]["in"].as_str().unwrap() {
        "vmlinux" => assert!(
            expected.ends_with(&format!(
                "(BTF id {})",
                report["kfuncs"][0]["place"]["btf_id"]
            )),
            "{report:#}"
        ),
        other => assert_eq!(other, "missing", "{report:#}"),
    }
}

/// The kernel's BTF as bpftool dumps it.
fn vmlinux_btf() -> String {
    testkit::run(
        None,
        "bpftool",
        &["btf", "dump", "file", "/sys/kernel/btf/vmlinux"],
    )
    .stdout
}

/// A vmlinux kfunc's BTF id, as bpftool reads it from the kernel.
fn vmlinux_kfunc_id(btf: &str, name: &str) -> Option<String> {
    let line = format!("] FUNC '{name}' ");
    btf.lines()
        .find(|l| l.contains(&line))
        .map(|l| l[1..l.find(']').unwrap()].to_owned())
}

#[test]
#[cfg_attr(not(kernel_tests), ignore = "kernel test: needs root")]
fn vmlinux_kfuncs_are_linked_and_a_missing_weak_one_is_dead_code() {
    if !testkit::kernel() {
        return;
    }
    let bed = Testbed::new();
    let pins = Bpffs::new();
    let elf = kern_object("tests/kfunc_dynptr.elf");
    let out = bed.load(&pins, &elf, &[]);
    let Some(from_xdp) = vmlinux_kfunc_id(&vmlinux_btf(), "bpf_dynptr_from_xdp") else {
        // Before 6.3 (the 6.1 guest): one line naming what the kernel lacks.
        assert!(!out.ok(), "{out:#?}");
        assert_eq!(
            out.stderr.trim(),
            "xdploader: the object uses kernel symbols this kernel cannot give it (extern __ksym: bpf_dynptr_from_xdp: not on this kernel (needs Linux 6.3+ for XDP dynptrs); bpf_dynptr_slice: not on this kernel (needs Linux 6.3+ for XDP dynptrs)); bpftool prog loadall loads what needs a device binding or a module"
        );
        assert_eq!(pins.pins(), Vec::<String>::new());
        assert_eq!(bed.xdp_prog_id(&bed.ns_a, &bed.if_a), None);
        return;
    };
    out.success();
    assert_eq!(bed.ping_a_from_b(3, 56), 3);
    let (passed, _) = counters(&pins.path().join("stats_map"), "XDP_PASS");
    assert!(passed >= 3, "{passed} frames passed the dynptr program");
    // The kernel runs the kfuncs bpftool names by their BTF ids, and the
    // weak one no kernel has is gone (dead code the verifier dropped).
    let id = bed.xdp_prog_id(&bed.ns_a, &bed.if_a).unwrap().to_string();
    let xlated = testkit::run(None, "bpftool", &["prog", "dump", "xlated", "id", &id]);
    assert!(
        xlated.success().contains("call bpf_dynptr_from_xdp#"),
        "{}",
        xlated.stdout
    );
    // Its call was linked to the helper no kernel has (2002000000): dropped.
    assert!(!xlated.stdout.contains("2002000000"), "{}", xlated.stdout);
    assert!(
        xlated.stdout.contains("r1 = 0x0"),
        "bpf_ksym_exists() reads 0: {}",
        xlated.stdout
    );
    let inspect = testkit::run(
        None,
        testkit::bin("xdploader"),
        &["inspect", "--json", "-file", elf.to_str().unwrap()],
    );
    let report: Value = serde_json::from_str(inspect.success()).unwrap();
    assert!(report.get("problem").is_none(), "{report:#}");
    let kfuncs = report["kfuncs"].as_array().unwrap();
    assert_eq!(kfuncs[0]["name"], "bpf_dynptr_from_xdp");
    assert_eq!(kfuncs[0]["place"]["btf_id"].to_string(), from_xdp);
    assert_eq!(kfuncs[2]["name"], "bpf_xdploader_made_up");
    assert_eq!(kfuncs[2]["weak"], true);
    assert_eq!(kfuncs[2]["place"]["in"], "missing");
}

#[test]
fn an_extern_no_object_defines_is_named_by_load_and_inspect() {
    // Refused while reading the object: no kernel needed, so no root either.
    let elf = kern_object("tests/missing_extern.elf");
    let out = testkit::run(
        None,
        testkit::bin("xdploader"),
        &["-file", elf.to_str().unwrap(), "-i", "lo"],
    );
    assert!(!out.ok());
    assert_eq!(
        out.stderr.trim(),
        "xdploader: the object calls functions it does not define (classify): link the object that defines them in (bpftool gen object, or one clang compile)"
    );
    let inspect = testkit::run(
        None,
        testkit::bin("xdploader"),
        &["inspect", "-file", elf.to_str().unwrap()],
    );
    assert_eq!(inspect.code, Some(1), "{inspect:#?}");
    assert!(inspect
        .stdout
        .contains("a load would fail: the object calls functions it does not define (classify)"));
}

/// The BTF id of program `id` and the line numbers in `file` its xlated
/// dump names (`bpftool prog dump xlated id N linum`), in order.
fn btf_and_lines(id: u64, file: &str) -> (Option<u64>, Vec<u32>) {
    let id = id.to_string();
    let show = testkit::run(None, "bpftool", &["-j", "prog", "show", "id", &id]);
    let show: Value = serde_json::from_str(show.success()).unwrap();
    let dump = testkit::run(
        None,
        "bpftool",
        &["prog", "dump", "xlated", "id", &id, "linum"],
    );
    let lines = dump
        .success()
        .lines()
        .filter(|l| l.contains(&format!("/{file} line_num:")))
        .filter_map(|l| l.split_once("line_num:"))
        .filter_map(|(_, rest)| rest.split_whitespace().next()?.parse().ok())
        .filter(|n| *n != 0)
        .collect();
    (show["btf_id"].as_u64(), lines)
}

#[test]
#[cfg_attr(not(kernel_tests), ignore = "kernel test: needs root")]
fn renamed_sections_keep_their_own_btf_and_source_lines() {
    if !testkit::kernel() {
        return;
    }
    // aya 0.14 takes only `xdp`: these sections are renamed, and merged
    // into one so that each program keeps its own BTF line info.
    for (fixture, programs) in [
        // a plain `xdp` beside `xdp_stage`
        ("mixed_sections", ["xdp_mixed", "xdp_mixed_1"]),
        // two `xdp/<name>` and no plain one
        ("legacy_map_def", ["firewall", "firewall_1"]),
        // samples/bpf's `xdp1` and `xdp_prog`, beside a tc program
        ("bpf_load_sections", ["xdp_entry", "xdp_entry_1"]),
    ] {
        let bed = Testbed::new();
        let pins = Bpffs::new();
        bed.load(&pins, &kern_object(&format!("tests/{fixture}.elf")), &[])
            .success();
        assert_eq!(bed.ping_a_from_b(2, 56), 2, "{fixture}");
        let status = bed
            .xdploader(&pins, &["status", "-i", &bed.if_a, "--json"])
            .json();
        let entry = status["interfaces"][0]["prog_id"].as_u64().unwrap();
        let stage = status["interfaces"][0]["jump_tables"][0]["slots"][0]["prog_id"]
            .as_u64()
            .unwrap();
        let source =
            std::fs::read_to_string(testkit::workspace().join(format!("kern/tests/{fixture}.c")))
                .unwrap();
        for (id, name) in [(entry, programs[0]), (stage, programs[1])] {
            let (btf_id, lines) = btf_and_lines(id, &format!("{fixture}.c"));
            assert!(btf_id.is_some(), "{fixture}: {name} has no btf_id");
            // Its first line is its own function's, and every line is in it.
            let header = format!("int {name}(");
            let start = source.lines().position(|l| l.starts_with(&header)).unwrap() as u32 + 1;
            let end = source
                .lines()
                .skip(start as usize)
                .position(|l| l == "}")
                .unwrap() as u32
                + start
                + 1;
            assert_eq!(lines.first(), Some(&start), "{fixture}: {name}: {lines:?}");
            assert!(
                lines.iter().all(|l| (start..=end).contains(l)),
                "{fixture}: {name} has lines outside {start}..={end}: {lines:?}"
            );
        }
        bed.xdploader(&pins, &["unload", "-i", &bed.if_a]).success();
    }
}

#[test]
#[cfg_attr(not(kernel_tests), ignore = "kernel test: needs root")]
fn two_objects_with_a_same_named_map_of_other_sizes_share_a_pin_dir() {
    if !testkit::kernel() {
        return;
    }
    // Both name a map jmp_map (8 and 4 slots) and ask for no pinning: each
    // goes in its interface's directory. bpf_load_sections' stats_map asks
    // to be pinned by name: at the top, Go-style.
    let (one, two) = (Testbed::new(), Testbed::new());
    let pins = Bpffs::new();
    one.load(&pins, &kern_object("tests/legacy_map_def.elf"), &[])
        .success();
    let second = two.load(&pins, &kern_object("tests/bpf_load_sections.elf"), &[]);
    second.success();
    let first_jmp = pins.path().join(&one.if_a).join("jmp_map");
    let second_jmp = pins.path().join(&two.if_a).join("jmp_map");
    assert_eq!(bpftool_map(&first_jmp)["max_entries"], 8);
    assert_eq!(bpftool_map(&second_jmp)["max_entries"], 4);

    assert_eq!(one.ping_a_from_b(3, 56), 3);
    assert_eq!(two.ping_a_from_b(2, 56), 2);
    let first_stats = pins.path().join(&one.if_a).join("stats_map");
    let second_stats = pins.path().join("stats_map");
    assert_eq!(counters(&first_stats, "XDP_PASS"), (3, 3 * PING_FRAME));
    assert_eq!(counters(&second_stats, "XDP_PASS"), (2, 2 * PING_FRAME));

    // Another object on the first interface, whose own map goes in that
    // interface's directory while the last one's leave it.
    let other = one.load(&pins, &kern_object("tests/devmap_u32.elf"), &[]);
    other.success();
    let tx_port = pins.path().join(&one.if_a).join("tx_port");
    assert_eq!(bpftool_map(&tx_port)["bytes_value"], 4);
    assert!(!first_jmp.exists() && !first_stats.exists(), "{other:#?}");
    assert_eq!(one.ping_a_from_b(1, 56), 1);

    // Unloading one leaves the other running, with all its pins.
    one.xdploader(&pins, &["unload", "-i", &one.if_a]).success();
    assert!(!tx_port.exists());
    assert_eq!(two.ping_a_from_b(2, 56), 2);
    // The devmap object's stats_map asks to be pinned by name: it shared
    // bpf_load_sections' (same definition), so the ping on the first counted too.
    assert_eq!(counters(&second_stats, "XDP_PASS"), (5, 5 * PING_FRAME));
    assert_eq!(counters(&second_stats, "XDP_ABORTED"), (0, 0));
    two.xdploader(&pins, &["unload", "-i", &two.if_a]).success();
    assert_eq!(pins.pins(), Vec::<String>::new(), "unload left pins behind");
}

#[test]
#[cfg_attr(not(kernel_tests), ignore = "kernel test: needs root")]
fn an_entry_that_tail_calls_empty_slots_is_refused_with_the_flags_that_fill_them() {
    if !testkit::kernel() {
        return;
    }
    let elf = kern_object("tests/unfilled_slots.elf");
    let bed = Testbed::new();
    let pins = Bpffs::new();
    // Loaded as it was, it would exit 0 and turn every frame into what the
    // entry does after a failed tail call.
    let out = bed.load(&pins, &elf, &["--prog", "parse"]);
    assert_eq!(out.code, Some(1), "{out:#?}");
    assert_eq!(
        out.stderr.trim(),
        "xdploader: the entry parse tail-calls jmp_map[3], jmp_map[5], which nothing fills: every frame would take the path after a failed tail call; fill them with --tail jmp_map:3=filter_v4 --tail jmp_map:5=filter_v6, or --allow-empty-slots if another program fills them"
    );
    assert_eq!(pins.pins(), Vec::<String>::new());
    assert_eq!(bed.xdp_prog_id(&bed.ns_a, &bed.if_a), None);
    // Said to be filled by hand: loaded as asked.
    bed.load(&pins, &elf, &["--prog", "parse", "--allow-empty-slots"])
        .success();
    bed.xdploader(&pins, &["unload", "-i", &bed.if_a]).success();
    drop((bed, pins));
    // The flags it named: every ping passes through filter_v4.
    let (bed, pins, _) = load_and_count(
        "tests/unfilled_slots.elf",
        "stats_map",
        &[
            "--prog",
            "parse",
            "--tail",
            "jmp_map:3=filter_v4",
            "--tail",
            "jmp_map:5=filter_v6",
        ],
    );
    unload_leaves_nothing(&bed, &pins);
}

/// The frames counted for `addr` in a per-CPU hash map pinned at `path`
/// (IPv4 address keys, u64 values), summed over the CPUs, as bpftool reads
/// them through the map's BTF.
fn frames_from(path: &Path, addr: &str) -> u64 {
    let key: u32 = u32::from_ne_bytes(addr.parse::<std::net::Ipv4Addr>().unwrap().octets());
    let out = testkit::run(
        None,
        "bpftool",
        &["-j", "map", "dump", "pinned", path.to_str().unwrap()],
    );
    let entries: Value = serde_json::from_str(out.success()).unwrap();
    entries
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["formatted"])
        .filter(|e| e["key"].as_u64() == Some(u64::from(key)))
        .flat_map(|e| e["values"].as_array().unwrap().clone())
        .map(|v| v["value"].as_u64().unwrap())
        .sum()
}

#[test]
#[cfg_attr(not(kernel_tests), ignore = "kernel test: needs root")]
fn a_map_of_maps_gets_its_declared_inner_maps_and_a_reload_keeps_them() {
    if !testkit::kernel() {
        return;
    }
    let bed = Testbed::new();
    let pins = Bpffs::new();
    let fixture = kern_object("tests/map_in_map.elf");
    let stdout = bed.load(&pins, &fixture, &[]).success().to_owned();
    assert!(
        stdout.contains("jump table next_stage: 0 <- finish (declared)"),
        "the prog array beside the map of maps keeps its declared slot:\n{stdout}"
    );
    // count_flows → next_stage[0] → finish: XDP_PASS, or every ping is lost.
    assert_eq!(bed.ping_a_from_b(3, 56), 3);
    let dir = pins.path().join(&bed.if_a);
    let (odd, even) = (dir.join("flows_odd"), dir.join("flows_even"));
    // ICMP (protocol 1): slot 1, flows_odd, read back through the inner map.
    assert_eq!(frames_from(&odd, bed.addr_b), 3);
    assert_eq!(frames_from(&even, bed.addr_b), 0);

    // status reads the outer map: each declared slot holds the inner map
    // pinned beside it; slot 2 was declared empty and stays empty.
    let id = |path: &Path| bpftool_map(path)["id"].as_u64().unwrap();
    let slots = |bed: &Testbed| -> Vec<(u64, u64, String)> {
        let status = bed
            .xdploader(&pins, &["status", "-i", &bed.if_a, "--json"])
            .json();
        let outer = &status["interfaces"][0]["maps_of_maps"][0];
        assert_eq!(outer["map"], "flow_tables", "{status}");
        outer["slots"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["slot"].as_u64().unwrap(),
                    s["map_id"].as_u64().unwrap(),
                    s["map_name"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let declared = vec![
        (0, id(&even), "flows_even".to_owned()),
        (1, id(&odd), "flows_odd".to_owned()),
    ];
    assert_eq!(slots(&bed), declared);

    // A reload reuses the pins: the same inner maps in the same slots, and
    // the counts carry on.
    let stdout = bed.load(&pins, &fixture, &[]).success().to_owned();
    assert!(stdout.contains("flows_odd (reused)"), "{stdout}");
    assert_eq!(slots(&bed), declared);
    assert_eq!(bed.ping_a_from_b(2, 56), 2);
    assert_eq!(frames_from(&odd, bed.addr_b), 5);

    // An inner map made anew (resized, --fresh) takes a new outer map with
    // it, filled with the new inner map: a reused outer map holds the
    // template of the old one.
    let stdout = bed
        .load(
            &pins,
            &fixture,
            &["--max-entries", "flows_odd=512", "--fresh"],
        )
        .success()
        .to_owned();
    assert!(stdout.contains("flow_tables (replaced)"), "{stdout}");
    assert_eq!(bpftool_map(&odd)["max_entries"], 512);
    assert_eq!(
        slots(&bed),
        vec![
            (0, id(&even), "flows_even".to_owned()),
            (1, id(&odd), "flows_odd".to_owned()),
        ]
    );
    assert_eq!(bed.ping_a_from_b(1, 56), 1);
    assert_eq!(frames_from(&odd, bed.addr_b), 1);

    unload_leaves_nothing(&bed, &pins);
}

#[test]
#[cfg_attr(not(kernel_tests), ignore = "kernel test: needs root")]
fn a_prog_array_declared_with_values_and_no_initialiser_loads() {
    if !testkit::kernel() {
        return;
    }
    let bed = Testbed::new();
    let pins = Bpffs::new();
    let fixture = kern_object("tests/prog_array_values.elf");
    // entry drops unless jmp[0] holds next, which passes.
    bed.load(
        &pins,
        &fixture,
        &["--prog", "entry", "--tail", "jmp:0=next"],
    )
    .success();
    assert_eq!(bed.ping_a_from_b(2, 56), 2);
    unload_leaves_nothing(&bed, &pins);
}

#[test]
#[cfg_attr(not(kernel_tests), ignore = "kernel test: needs root")]
fn kernel_variables_are_linked_typed_untyped_and_weak() {
    if !testkit::kernel() {
        return;
    }
    let bed = Testbed::new();
    let pins = Bpffs::new();
    let stats = pins.path().join("stats_map");

    // An untyped ksym (a kallsyms address) and a __weak typed one no kernel
    // has (0): every kernel gives these.
    let untyped = kern_object("tests/ksyms_untyped.elf");
    let report = bed
        .xdploader(
            &pins,
            &["inspect", "-file", untyped.to_str().unwrap(), "--json"],
        )
        .json();
    let ksyms = report["kfuncs"].as_array().unwrap();
    assert_eq!(ksyms[0]["name"], "bpf_prog_put", "{report:#}");
    assert_eq!(ksyms[0]["variable"], "untyped");
    assert_eq!(ksyms[0]["place"]["in"], "kallsyms");
    assert_eq!(ksyms[1]["variable"], "typed");
    assert_eq!(ksyms[1]["place"]["in"], "missing");
    bed.load(&pins, &untyped, &[]).success();
    // XDP_ABORTED if the weak one read non-zero, XDP_DROP if the address
    // were no kernel address.
    assert_eq!(bed.ping_a_from_b(3, 56), 3);
    assert_eq!(counters(&stats, "XDP_PASS"), (3, 3 * PING_FRAME));
    unload_leaves_nothing(&bed, &pins);

    // A typed per-CPU variable read through bpf_this_cpu_ptr(): the verifier
    // finds its address in kallsyms, which lists variables only on kernels
    // built with CONFIG_KALLSYMS_ALL (Debian's are; this machine's may not be).
    let kallsyms = std::fs::read_to_string("/proc/kallsyms").unwrap();
    let listed = kallsyms.lines().any(|l| l.ends_with(" bpf_prog_active"));
    let typed = kern_object("tests/ksyms.elf");
    let out = bed.load(&pins, &typed, &[]);
    if listed {
        out.success();
        assert_eq!(bed.ping_a_from_b(3, 56), 3);
        assert_eq!(counters(&stats, "XDP_PASS"), (3, 3 * PING_FRAME));
        unload_leaves_nothing(&bed, &pins);
    } else {
        assert_eq!(out.code, Some(1), "{out:?}");
        assert!(
            out.stderr
                .contains("bpf_prog_active (typed variable): in vmlinux's BTF (id ")
                && out
                    .stderr
                    .contains(") but not in /proc/kallsyms: this kernel lacks CONFIG_KALLSYMS_ALL"),
            "{}",
            out.stderr
        );
        assert_eq!(pins.pins(), Vec::<String>::new(), "a refused load pinned");
        assert_eq!(bed.xdp_prog_id(&bed.ns_a, &bed.if_a), None);
    }
}
