//! Test support shared by the workspace's kernel tests.
//!
//! - [`kernel`]: the gate every root/kernel test starts with. Outside CI a
//!   non-root run skips with a visible line; under `CI=true` a skip is a failure.
//! - [`Testbed`]: two network namespaces joined by a veth pair, removed on drop
//!   (also when the test panics), with unique names so tests run in parallel.
//! - [`Bpffs`]: a private bpffs mount per test, so pins never clash.
//! - [`kern_object`] and [`bin`]: the built C objects and binaries.

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
    sync::{
        atomic::{AtomicU32, Ordering},
        OnceLock,
    },
};

/// Waits for `child` (a command in the background, `what` in the failure)
/// to end, at most 60 s; then kills it and fails with what it printed.
pub fn wait_exit(mut child: std::process::Child, what: &str) -> Output {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while child.try_wait().expect("waitpid").is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("{what} did not end in 60 s: {:?}", child.wait_with_output());
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.wait_with_output().expect("the child's output")
}

/// Returns whether kernel tests may run here. Call it first in every test
/// that needs root or the kernel: `if !testkit::kernel() { return; }`.
#[must_use]
pub fn kernel() -> bool {
    let is_root = nix::unistd::geteuid().is_root();
    if is_root {
        mark_start_in_kernel_log();
        return true;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "kernel test cannot run: not root, and CI=true forbids skipping it"
    );
    eprintln!("SKIPPED (needs root and a BPF-capable kernel)");
    false
}

/// Where `XDP_TEST_KMSG` is set (the guests of scripts/guest-lib.sh), writes
/// "xdp-test: start BINARY TEST" into the kernel's log, so that a kernel that
/// dies prints, among its last lines, which tests were running: the console
/// keeps nothing of a test's own output once the guest is gone.
fn mark_start_in_kernel_log() {
    if std::env::var_os("XDP_TEST_KMSG").is_none() {
        return;
    }
    let binary = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default();
    // target/debug/deps/<name>-<hash>
    let binary = binary.rsplit_once('-').map_or(&*binary, |(name, _)| name);
    let thread = std::thread::current();
    let test = thread.name().unwrap_or("main");
    let line = format!("xdp-test: start {binary} {test}\n");
    // Best effort: a kernel test must not fail for want of a log line.
    let _ = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/kmsg")
        .and_then(|mut kmsg| std::io::Write::write_all(&mut kmsg, line.as_bytes()));
}

/// Whether the running kernel has the tracepoint `event` (a feature probe
/// that needs no tracefs mount: each trace event has its output function
/// among the kernel's symbols).
pub fn has_tracepoint(event: &str) -> bool {
    has_kernel_symbol(&format!("trace_raw_output_{event}"))
}

/// Whether the running kernel has multi-buffer XDP (xdp.frags, 5.18+): its
/// helper bpf_xdp_get_buff_len among the kernel's symbols. Where it lacks
/// it, tests of jumbo frames in native mode expect the loader's refusal.
pub fn has_xdp_frags() -> bool {
    has_kernel_symbol("bpf_xdp_get_buff_len")
}

fn has_kernel_symbol(name: &str) -> bool {
    let symbol = format!(" {name}");
    std::fs::read_to_string("/proc/kallsyms")
        .expect("reading /proc/kallsyms")
        .lines()
        .any(|l| l.ends_with(&symbol))
}

/// Asserts a native load at MTU 9000 failed as it must on a kernel without
/// xdp.frags: one line, the attach refused for the MTU.
pub fn assert_refused_for_the_mtu(out: &Run) {
    assert_eq!(out.code, Some(1), "{out:#?}");
    assert!(
        out.stderr.contains("native XDP attach refused: ERANGE")
            && out.stderr.contains("likely the MTU"),
        "{}",
        out.stderr
    );
}

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("testkit lives in the workspace")
        .to_owned()
}

/// Builds kern/ once per test process (`make -C kern`, the one build command)
/// and returns the path of `kern/<name>`.
pub fn kern_object(name: &str) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let out = Command::new("make")
            .arg("-s")
            .arg("-C")
            .arg(workspace().join("kern"))
            .output()
            .expect("running make -C kern");
        assert!(
            out.status.success(),
            "make -C kern failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    });
    let path = workspace().join("kern").join(name);
    assert!(path.exists(), "{} was not built", path.display());
    path
}

/// Path of a workspace binary built in the same profile as the running test.
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test>-<hash> → target/<profile>/<name>
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test binary under target/<profile>/deps");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is not built: run `cargo build --workspace --bins` before the tests (scripts/test.sh does)",
        path.display()
    );
    path
}

/// What a command printed, with helpers for the assertions tests make.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn ok(&self) -> bool {
        self.code == Some(0)
    }

    /// Asserts success and returns stdout.
    #[track_caller]
    pub fn success(&self) -> &str {
        assert!(self.ok(), "command failed: {self:#?}");
        &self.stdout
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(self.success()).expect("stdout is JSON")
    }
}

impl From<Output> for Run {
    fn from(out: Output) -> Self {
        Self {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// Runs `program args…`, optionally inside network namespace `netns`.
pub fn run<S: AsRef<std::ffi::OsStr>>(
    netns: Option<&str>,
    program: impl AsRef<std::ffi::OsStr>,
    args: &[S],
) -> Run {
    let mut cmd = match netns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns]).arg(program.as_ref());
            c
        }
        None => Command::new(program.as_ref()),
    };
    cmd.args(args);
    cmd.output().expect("spawning command").into()
}

/// Runs `program ARGS…`, killed after `limit` (then `code` is None and
/// stderr says so): for commands whose failure mode is hanging.
pub fn run_with_timeout<S: AsRef<std::ffi::OsStr>>(
    limit: std::time::Duration,
    program: impl AsRef<std::ffi::OsStr>,
    args: &[S],
) -> Run {
    let mut child = Command::new(program.as_ref())
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawning command");
    let deadline = std::time::Instant::now() + limit;
    while child.try_wait().expect("waiting").is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Run {
                code: None,
                stdout: String::new(),
                stderr: format!("killed after {limit:?}: it hung"),
            };
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.wait_with_output().expect("collecting output").into()
}

/// Runs a setup command that must succeed.
#[track_caller]
pub fn sh(args: &[&str]) {
    let out = run(None, args[0], &args[1..]);
    assert!(
        out.ok(),
        "`{}` failed: {}",
        args.join(" "),
        out.stderr.trim()
    );
}

fn unique_id() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    // ≤ 9 characters so "<id>a" fits IFNAMSIZ with room to spare.
    format!("x{:05}{:02}", std::process::id() % 100_000, n % 100)
}

/// Two network namespaces, `a` and `b`, joined by veth `<id>a` ↔ `<id>b`
/// (10.11.12.1/24 ↔ 10.11.12.2/24). IPv6 is off and the neighbours are
/// static, so the only frames on the wire are the ones a test sends: counters
/// can be asserted exactly.
#[derive(Debug)]
pub struct Testbed {
    pub ns_a: String,
    pub ns_b: String,
    pub if_a: String,
    pub if_b: String,
    pub addr_a: &'static str,
    pub addr_b: &'static str,
}

impl Testbed {
    #[track_caller]
    pub fn new() -> Self {
        Self::with_ifindex(None)
    }

    /// The same, with both veth ends at `ifindex` (each in its own
    /// namespace): a busy host's or a container's large ifindexes.
    #[track_caller]
    pub fn with_ifindex(ifindex: Option<u32>) -> Self {
        Self::build(ifindex, None)
    }

    /// The same, with the veth end in namespace a called `if_a` (interface
    /// names are per namespace: two testbeds can each have a `ux0`).
    #[track_caller]
    pub fn with_if_a(if_a: &str) -> Self {
        Self::build(None, Some(if_a))
    }

    #[track_caller]
    fn build(ifindex: Option<u32>, if_a: Option<&str>) -> Self {
        let id = unique_id();
        let bed = Self {
            ns_a: format!("{id}-a"),
            ns_b: format!("{id}-b"),
            if_a: if_a.map_or_else(|| format!("{id}a"), str::to_owned),
            if_b: format!("{id}b"),
            addr_a: "10.11.12.1",
            addr_b: "10.11.12.2",
        };
        // Constructed first so a failing step below still removes what exists.
        sh(&["ip", "netns", "add", &bed.ns_a]);
        sh(&["ip", "netns", "add", &bed.ns_b]);
        let index = ifindex.map(|i| i.to_string());
        let index: Vec<&str> = index.iter().flat_map(|i| ["index", i.as_str()]).collect();
        let mut add = vec!["ip", "-n", &bed.ns_a, "link", "add", &bed.if_a];
        add.extend(&index);
        add.extend(["type", "veth", "peer", "name", &bed.if_b]);
        add.extend(&index);
        add.extend(["netns", &bed.ns_b]);
        sh(&add);
        for (ns, ifname, addr, peer_if, peer_addr) in [
            (&bed.ns_a, &bed.if_a, bed.addr_a, &bed.if_b, bed.addr_b),
            (&bed.ns_b, &bed.if_b, bed.addr_b, &bed.if_a, bed.addr_a),
        ] {
            let peer_mac = bed.mac(
                peer_if,
                if ns == &bed.ns_a {
                    &bed.ns_b
                } else {
                    &bed.ns_a
                },
            );
            sh(&[
                "ip",
                "netns",
                "exec",
                ns,
                "sysctl",
                "-qw",
                &format!("net.ipv6.conf.{ifname}.disable_ipv6=1"),
            ]);
            sh(&[
                "ip",
                "-n",
                ns,
                "addr",
                "add",
                &format!("{addr}/24"),
                "dev",
                ifname,
            ]);
            sh(&[
                "ip",
                "-n",
                ns,
                "neigh",
                "replace",
                peer_addr,
                "lladdr",
                &peer_mac,
                "dev",
                ifname,
                "nud",
                "permanent",
            ]);
            sh(&["ip", "-n", ns, "link", "set", "lo", "up"]);
            sh(&["ip", "-n", ns, "link", "set", ifname, "up"]);
        }
        bed
    }

    /// A second veth pair inside namespace a, `<if_a>c` ↔ `<if_a>d`, both up:
    /// both ends are in a, for tests of several interfaces of one load. IPv6
    /// is off on both, as on the first pair: else d's router solicitations
    /// and MLD reports arrive on c, and a program there counts them into
    /// the stats map the tests assert exactly.
    pub fn second_pair(&self) -> (String, String) {
        let (c, d) = (format!("{}c", self.if_a), format!("{}d", self.if_a));
        sh(&[
            "ip", "-n", &self.ns_a, "link", "add", &c, "type", "veth", "peer", "name", &d,
        ]);
        for end in [&c, &d] {
            sh(&[
                "ip",
                "netns",
                "exec",
                &self.ns_a,
                "sysctl",
                "-qw",
                &format!("net.ipv6.conf.{end}.disable_ipv6=1"),
            ]);
            sh(&["ip", "-n", &self.ns_a, "link", "set", end, "up"]);
        }
        (c, d)
    }

    /// A bridge `<if_a>br` in namespace a, up: a device without native XDP
    /// (BPF_LINK_CREATE in driver mode says EOPNOTSUPP).
    pub fn bridge(&self) -> String {
        let bridge = format!("{}br", self.if_a);
        sh(&[
            "ip", "-n", &self.ns_a, "link", "add", &bridge, "type", "bridge",
        ]);
        sh(&["ip", "-n", &self.ns_a, "link", "set", &bridge, "up"]);
        bridge
    }

    /// Another tool's program on `ifname` in namespace a:
    /// kern/tests/other_tool.elf attached through netlink in generic mode, as
    /// `ip link` does. Returns its program id.
    pub fn attach_netlink_generic(&self, ifname: &str) -> u64 {
        let pass = kern_object("tests/other_tool.elf");
        // `ip -n` runs in a mount namespace of its own with a fresh /sys, and
        // iproute2 then builds its bpffs tree (tc/globals, ip, xdp) in the
        // first bpffs it finds in /proc/mounts: another test's pin dir. Its
        // own mount point keeps that tree in its namespace, gone with it.
        let private = tempfile::tempdir().expect("tempdir");
        let out: Run = Command::new("ip")
            .env("TC_BPF_MNT", private.path())
            .args([
                "-n",
                &self.ns_a,
                "link",
                "set",
                "dev",
                ifname,
                "xdpgeneric",
                "obj",
            ])
            .arg(&pass)
            .args(["sec", "xdp"])
            .output()
            .expect("spawning ip")
            .into();
        assert!(
            out.ok(),
            "ip link set dev {ifname} xdpgeneric obj: {}",
            out.stderr.trim()
        );
        self.xdp_prog_id(&self.ns_a, ifname)
            .expect("ip link attached a program")
    }

    /// The MAC address of `ifname` in `ns`.
    pub fn mac(&self, ifname: &str, ns: &str) -> String {
        let out = run(None, "ip", &["-n", ns, "-j", "link", "show", "dev", ifname]);
        let v: serde_json::Value = serde_json::from_str(out.success()).expect("ip -j output");
        v[0]["address"].as_str().expect("address").to_owned()
    }

    /// Sends `count` pings of `size` payload bytes from b to a; returns how many were answered.
    pub fn ping_a_from_b(&self, count: u32, size: u32) -> u32 {
        ping(&self.ns_b, self.addr_a, count, size)
    }

    /// `xdploader ARGS… --pin-dir <pins>` inside namespace a. The pin dir goes
    /// after the subcommand, as the printed `detach with:` command has it.
    pub fn xdploader(&self, pins: &Bpffs, args: &[&str]) -> Run {
        let mut all: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        all.extend(["--pin-dir".to_owned(), pins.arg()]);
        run(Some(&self.ns_a), bin("xdploader"), &all)
    }

    /// `xdploader -file FILE -i <if_a> EXTRA… --pin-dir <pins>` inside namespace a.
    pub fn load(&self, pins: &Bpffs, file: &Path, extra: &[&str]) -> Run {
        let file = file.to_str().expect("UTF-8 object path");
        let mut args = vec!["-file", file, "-i", &self.if_a];
        args.extend_from_slice(extra);
        self.xdploader(pins, &args)
    }

    /// The id of the XDP program attached to `ifname` in `ns`, if any.
    pub fn xdp_prog_id(&self, ns: &str, ifname: &str) -> Option<u64> {
        let out = run(
            None,
            "ip",
            &["-n", ns, "-d", "-j", "link", "show", "dev", ifname],
        );
        let v: serde_json::Value = serde_json::from_str(out.success()).ok()?;
        v[0]["xdp"]["prog"]["id"].as_u64()
    }
}

impl Default for Testbed {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Testbed {
    fn drop(&mut self) {
        // Deleting a namespace deletes its veth end, and with it the peer.
        for ns in [&self.ns_a, &self.ns_b] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

/// `statswatch --json -file <stats_map>` → (packets, bytes) of `action`
/// (`XDP_PASS`, …).
pub fn counters(stats_map: &Path, action: &str) -> (u64, u64) {
    let path = stats_map.to_str().expect("UTF-8 pin path");
    let v = run(None, bin("statswatch"), &["-file", path, "--json"]).json();
    let row = v["actions"]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["action"] == action))
        .unwrap_or_else(|| panic!("no {action} row in {v}"));
    (
        row["packets"].as_u64().expect("packets"),
        row["bytes"].as_u64().expect("bytes"),
    )
}

/// A directory of the host's own /sys/fs/bpf, for the tests of what a user
/// types (`ip netns exec NS xdploader … --pin-dir /sys/fs/bpf/X`): not made
/// here (the tool under test makes it), removed with everything in it on drop.
#[derive(Debug)]
pub struct HostPinDir {
    path: PathBuf,
}

impl HostPinDir {
    #[track_caller]
    pub fn new() -> Self {
        let fs_type = run(None, "stat", &["-f", "-c", "%T", "/sys/fs/bpf"]);
        assert_eq!(
            fs_type.success().trim(),
            "bpf_fs",
            "the host's /sys/fs/bpf is not bpffs: run scripts/setup.sh"
        );
        Self {
            path: PathBuf::from(format!("/sys/fs/bpf/xdptest-{}", unique_id())),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn arg(&self) -> String {
        self.path.display().to_string()
    }
}

impl HostPinDir {
    /// The pin directory a load inside netns `ns` makes by default
    /// (`/sys/fs/bpf/netns-NS`, xdp_core::netns), removed on drop likewise.
    pub fn of_netns(ns: &str) -> Self {
        let dir = Self::new();
        Self {
            path: dir.path.with_file_name(format!("netns-{ns}")),
        }
    }
}

impl Default for HostPinDir {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for HostPinDir {
    fn drop(&mut self) {
        // Pins are files: unlinking them releases what they held.
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// A bpffs instance of the test's own, unmounted (releasing every pin in it,
/// and so every link and map they held) on drop.
#[derive(Debug)]
pub struct Bpffs {
    dir: tempfile::TempDir,
}

impl Bpffs {
    #[track_caller]
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("xdptest-bpffs-")
            .tempdir()
            .expect("tempdir");
        sh(&[
            "mount",
            "-t",
            "bpf",
            "bpf",
            &dir.path().display().to_string(),
        ]);
        Self { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn arg(&self) -> String {
        self.dir.path().display().to_string()
    }

    /// Every pin in it, relative, sorted (bpffs' own `*.debug` iterators excluded).
    pub fn pins(&self) -> Vec<String> {
        fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let path = entry.path();
                let rel = path
                    .strip_prefix(root)
                    .unwrap_or(&path)
                    .display()
                    .to_string();
                if rel.ends_with(".debug") {
                    continue;
                }
                out.push(rel);
                if path.is_dir() {
                    walk(root, &path, out);
                }
            }
        }
        let mut out = Vec::new();
        walk(self.path(), self.path(), &mut out);
        out.sort();
        out
    }
}

impl Default for Bpffs {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Bpffs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .output();
    }
}

/// Sends `count` pings (0.05 s apart) of `size` payload bytes from
/// namespace `ns` to `target` (IPv4 or IPv6); returns how many were answered.
pub fn ping(ns: &str, target: &str, count: u32, size: u32) -> u32 {
    let out = run(
        Some(ns),
        "ping",
        &[
            "-q",
            "-c",
            &count.to_string(),
            "-i",
            "0.05",
            "-W",
            "1",
            "-s",
            &size.to_string(),
            target,
        ],
    );
    out.stdout
        .split(", ")
        .find_map(|part| {
            part.strip_suffix(" received")
                .and_then(|n| n.trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Network namespaces of a test's own, deleted on drop (also on panic).
#[derive(Debug)]
pub struct Namespaces {
    pub names: Vec<String>,
}

impl Namespaces {
    /// Creates `<id>-<suffix>` for each suffix, with a unique id.
    #[track_caller]
    pub fn new(suffixes: &[&str]) -> Self {
        let id = unique_id();
        let mut made = Self { names: Vec::new() };
        for suffix in suffixes {
            let name = format!("{id}-{suffix}");
            sh(&["ip", "netns", "add", &name]);
            made.names.push(name);
        }
        made
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        for ns in &self.names {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

/// Starts `f` on a thread of its own inside network namespace `ns`: the
/// sockets it opens live there.
pub fn spawn_in_netns<T: Send + 'static>(
    ns: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> std::thread::JoinHandle<T> {
    let path = format!("/run/netns/{ns}");
    std::thread::spawn(move || {
        let netns = std::fs::File::open(&path).expect("opening the netns");
        nix::sched::setns(netns, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
        f()
    })
}

/// Runs `f` inside network namespace `ns` and returns what it returns.
pub fn in_netns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    spawn_in_netns(ns, f)
        .join()
        .expect("the thread in the netns panicked")
}

/// A digraph as Debian's `dot` reads it (`dot -Tplain`): proof that the text
/// parses, and its nodes and edges to assert on.
#[derive(Debug, Default)]
pub struct Graph {
    /// (name, label, colour)
    pub nodes: Vec<(String, String, String)>,
    /// (tail, head, label or "")
    pub edges: Vec<(String, String, String)>,
}

impl Graph {
    pub fn edge(&self, tail: &str, head: &str) -> bool {
        self.edges.iter().any(|(t, h, _)| t == tail && h == head)
    }
    pub fn colour(&self, node: &str) -> Option<&str> {
        self.nodes
            .iter()
            .find(|(n, _, _)| n == node)
            .map(|(_, _, c)| c.as_str())
    }
}

/// Runs `dot -Tplain` on `text` and reads its output; panics if dot refuses it.
#[track_caller]
pub fn graphviz(text: &str) -> Graph {
    use std::io::Write as _;
    let mut child = Command::new("dot")
        .arg("-Tplain")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("dot (graphviz; scripts/setup.sh --test installs it)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("writing to dot");
    let out: Run = child.wait_with_output().expect("dot").into();
    let plain = out.success();
    let mut graph = Graph::default();
    for line in plain.lines() {
        let words = plain_words(line);
        match words.first().map(String::as_str) {
            // node name x y width height label style shape color fillcolor
            Some("node") if words.len() >= 10 => {
                graph
                    .nodes
                    .push((words[1].clone(), words[6].clone(), words[9].clone()))
            }
            // edge tail head n x1 y1 .. xn yn [label xl yl] style color
            Some("edge") if words.len() >= 4 => {
                let points: usize = words[3].parse().unwrap_or(0);
                let after = 4 + 2 * points;
                let label = if words.len() >= after + 5 {
                    words[after].clone()
                } else {
                    String::new()
                };
                graph
                    .edges
                    .push((words[1].clone(), words[2].clone(), label));
            }
            _ => {}
        }
    }
    graph
}

/// The words of a `dot -Tplain` line: quoted ones unquoted, `\n` kept as is.
fn plain_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut chars = line.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c == ' ' {
            chars.next();
        } else if c == '"' {
            chars.next();
            let mut word = String::new();
            while let Some(c) = chars.next() {
                match c {
                    '\\' if chars.peek() == Some(&'"') => word.push(chars.next().unwrap_or('"')),
                    '"' => break,
                    c => word.push(c),
                }
            }
            words.push(word);
        } else {
            let mut word = String::new();
            while let Some(&c) = chars.peek() {
                if c == ' ' {
                    break;
                }
                word.push(c);
                chars.next();
            }
            words.push(word);
        }
    }
    words
}
