//! Command-line interface of `xdploader` (clap derive), and what each
//! subcommand's arguments mean as the library's options. Go-style `-file`
//! works too: see [`clikit`].

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use xdp_core::{
    attach::Mode,
    bench::{Effort, FrameKind},
    jump_table::{ChainOptions, TailArg},
    load::MaxEntries,
    ops::{
        bench::{BenchOptions, Frames},
        doctor::DoctorOptions,
        inspect::InspectOptions,
        load::LoadOptions,
        status::StatusOptions,
        trafficgen::TrafficgenOptions,
        unload::UnloadOptions,
    },
    state::PinMode,
};

const EXAMPLES: &str = "\
Examples:
  xdploader -file kern/xdp.elf -i veth1            load, fill jmp_map and if_redirect, pin, attach
  xdploader -file kern/xdp.elf -i veth1,veth2 --mode skb
  xdploader --json -file kern/xdp.elf -i veth1     the same, as one JSON document
  xdploader unload -i veth1                        detach and remove the pins (same as --unload)
  xdploader apply                                  make the system match /etc/xdploader/config.toml
  xdploader inspect -file prog.o                   programs, maps, pins and jump tables; no root needed
  xdploader status                                 what runs where, and what is ours
  xdploader doctor -i veth1                        why frames vanish, and the fixing commands
  xdploader -file prog.o -i veth1 --tail jmp_map:3=stage_c    put stage_c in slot 3";

/// `xdploader --version`: the crate version and the commit it was built from.
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("XDP_BUILD_COMMIT"),
    ")"
);

#[derive(Debug, Parser)]
#[command(
    name = "xdploader",
    version = VERSION,
    about = "Load an XDP ELF object, fill its jump table and devmap, pin its maps and attach it",
    long_about = None,
    after_help = EXAMPLES,
    args_conflicts_with_subcommands = true,
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub load: LoadArgs,
    /// Same as `xdploader unload`: detach from -i and remove the pins the load made
    #[arg(long)]
    pub unload: bool,
    /// Write the man pages and the shell completions into DIR (packaging)
    #[arg(long, value_name = "DIR", hide = true)]
    pub generate_assets: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Load and attach (what xdploader does without a subcommand)
    #[command(
        after_help = "Examples:\n  xdploader load -file kern/xdp.elf -i veth1\n  xdploader load -file prog.o -i eth1,eth2 --mode native --tail jmp_map:3=stage_c\n  xdploader load -file prog.o -i veth1 --verifier-log /tmp/verifier.log"
    )]
    Load(LoadArgs),
    /// Detach from the interfaces and remove the pins the load made
    #[command(
        after_help = "Examples:\n  xdploader unload -i veth1\n  xdploader unload -i veth1,veth2 --pin-dir /sys/fs/bpf/lab\n  xdploader unload --all                 every load of ours under /sys/fs/bpf"
    )]
    Unload(UnloadArgs),
    /// Make the system match a config file: load what is missing, replace what
    /// changed, unload what the file no longer lists; leave the rest alone
    #[command(
        after_help = "Examples:\n  xdploader apply                        /etc/xdploader/config.toml\n  xdploader apply -c examples/xdploader.toml --dry-run\n  xdploader apply -c fleet.toml --json   one JSON document: each step, done or failed"
    )]
    Apply(ApplyArgs),
    /// Show what a load would do: programs, tail calls, maps, pins, jump tables (no root needed);
    /// exits 1 when a load would fail
    #[command(
        after_help = "Examples:\n  xdploader inspect -file kern/xdp.elf\n  xdploader inspect --json -file /usr/lib/x86_64-linux-gnu/bpf/xdpfilt_alw_all.o\n  xdploader inspect --dot -file kern/xdp.elf | dot -Tsvg > chain.svg"
    )]
    Inspect(InspectArgs),
    /// Every interface with an XDP program: mode, program, whether it is ours (object,
    /// load time, pins, jump-table slots, peer fix)
    #[command(
        after_help = "Examples:\n  xdploader status\n  xdploader status -i veth1 --json\n  xdploader status --all-netns          every namespace ip netns or a process names\n  xdploader status -i veth1 --dot | dot -Tsvg > running.svg"
    )]
    Status(StatusArgs),
    /// Measure the program's cost per packet: BPF_PROG_TEST_RUN on built-in frames (or a
    /// pcap), against an empty XDP_PASS program in the same batches; nothing attached
    #[command(
        after_help = "Examples:\n  xdploader bench -file kern/xdp.elf\n  xdploader bench -file kern/echo.elf --frames ipv4-icmp --sizes 64,1500 --json\n  xdploader bench -file prog.o --pcap capture.pcap --batches 500\n  ip netns exec rt xdploader bench -file kern/redirect.elf -i rt0,rt1 --frames ipv4-udp   FIB hits, redirected"
    )]
    Bench(BenchArgs),
    /// Send UDP frames (or ICMP echo requests) out of an interface as fast as the machine allows (live-frames test
    /// runs of an XDP_TX program, as xdp-trafficgen): for benches on veth pairs
    #[command(
        after_help = "Examples:\n  ip netns exec gen xdploader trafficgen -i veth0 --duration 5\n  xdploader trafficgen -i veth0 --size 1500 --threads 2 --dst-mac 52:54:27:27:27:25 --json\n  xdploader trafficgen -i veth0 --icmp --dst 10.2.2.1 --dst-mac 52:54:27:27:27:25   echo requests\nA veth delivers only to a peer with an XDP program (or GRO on)."
    )]
    Trafficgen(TrafficgenArgs),
    /// Show what XDP programs print with bpf_printk, as it comes (what `bpftool prog tracelog` shows,
    /// from a tracefs instance of its own, so other readers of trace_pipe lose nothing)
    #[command(
        after_help = "Examples:\n  xdploader tracelog\n  xdploader tracelog --count 10 --json\n  xdploader tracelog --duration 5\nThe kernel names the task and CPU a program ran on, not the program: say which in the text you print."
    )]
    Tracelog(TracelogArgs),
    /// See inside the chain on an interface: every stage's view of each frame, the verdict and
    /// the stage that decided it (recorders in the prog-array slots while it runs, then the real
    /// programs back)
    #[command(
        after_help = "Examples:\n  xdploader capture -i veth1                          a line per frame and stage, until Ctrl-C\n  xdploader capture -i veth1 -w chain.pcapng --count 100   then: tshark -r chain.pcapng\n  xdploader capture -i veth1 --stage parse_ip --verdict XDP_DROP\n  xdploader capture -i veth1 --json --duration 5      a JSON object per frame\nWorks on chains xdploader loaded (any object); each stage costs one more tail call while it runs."
    )]
    Capture(CaptureArgs),
    /// Find why XDP may not work on interfaces (without -i: each one running XDP here) (veth peers, checksums, MTU, rp_filter,
    /// bpffs, other tools' attachments), with the command that fixes each; exits 1 on problems
    #[command(
        after_help = "Examples:\n  xdploader doctor -i veth1\n  xdploader doctor --fix -i vethA,vethB     apply the safe fixes\n  ip netns exec lab xdploader doctor --json -i veth0"
    )]
    Doctor(DoctorArgs),
}

#[derive(Debug, Clone, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub target: Target,
    /// Also every other network namespace (`ip netns` names, then processes')
    #[arg(long)]
    pub all_netns: bool,
    /// Print the programs, prog arrays and counters as a Graphviz digraph
    #[arg(long, conflicts_with = "json")]
    pub dot: bool,
    /// Also each stage of the chain on -i IF over one second: frames per second into it, the
    /// share of frames it decided, ns p50/p99 (recorders in the chain for that second only)
    #[arg(long, conflicts_with_all = ["dot", "all_netns"])]
    pub stages: bool,
}

impl StatusArgs {
    pub fn options(&self) -> StatusOptions {
        StatusOptions {
            interfaces: self.target.interfaces.clone(),
            pin_dir: pin_dir_or_default(self.target.pin_dir.as_ref()),
            all_netns: self.all_netns,
        }
    }
}

#[derive(Debug, Clone, Args)]
pub struct DoctorArgs {
    #[command(flatten)]
    pub target: Target,
    /// Apply the safe fixes (peer program and tx checksum, rp_filter, bpffs, netlink attachments)
    #[arg(long)]
    pub fix: bool,
}

/// Which program is the entry, and what goes into the jump tables.
#[derive(Debug, Clone, Args)]
pub struct ChainArgs {
    /// Entry program by function name (default: the only XDP program no rule puts in a slot)
    #[arg(long, value_name = "NAME")]
    pub prog: Option<String>,
    /// Entry program by section name, e.g. xdp/firewall
    #[arg(long, value_name = "SECTION")]
    pub sec: Option<String>,
    /// Prog array that `<entry>_<N>` programs go into (default: jmp_map, else the one the entry calls)
    #[arg(long, value_name = "NAME")]
    pub jmp_map: Option<String>,
    /// Put PROG in SLOT of MAP (default map: as --jmp-map); overrides naming and declared slots
    #[arg(long, value_name = "[MAP:]SLOT=PROG")]
    pub tail: Vec<TailArg>,
    /// Load even when the entry tail-calls a slot nothing fills (you fill it yourself afterwards)
    #[arg(long)]
    pub allow_empty_slots: bool,
}

#[derive(Debug, Clone, Args)]
pub struct Target {
    /// Interfaces, comma-separated or repeated
    #[arg(
        short = 'i',
        long = "interfaces",
        visible_alias = "interface",
        value_delimiter = ',',
        value_name = "IF[,IF...]"
    )]
    pub interfaces: Vec<String>,
    /// Directory on bpffs for the pins (mounted there if it is not bpffs); default /sys/fs/bpf,
    /// and /sys/fs/bpf/netns-NAME in another network namespace than the host's
    #[arg(long, value_name = "DIR")]
    pub pin_dir: Option<PathBuf>,
    /// Print one JSON document instead of text
    #[arg(long)]
    pub json: bool,
    /// Seconds to wait while another xdploader holds the pin directory's lock
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = lock_wait)]
    pub lock_wait: std::time::Duration,
}

/// `--pin-dir`, or this network namespace's own (xdp_core::netns): the
/// host's /sys/fs/bpf, /sys/fs/bpf/netns-NAME elsewhere.
pub fn pin_dir_or_default(given: Option<&PathBuf>) -> PathBuf {
    given
        .cloned()
        .unwrap_or_else(|| xdp_core::netns::here().default_pin_dir())
}

/// `--lock-wait SECS`: 0 to an hour.
fn lock_wait(arg: &str) -> Result<std::time::Duration, String> {
    let secs: f64 = arg
        .parse()
        .map_err(|_| format!("{arg:?} is not a number of seconds"))?;
    if (0.0..=3600.0).contains(&secs) {
        Ok(std::time::Duration::from_secs_f64(secs))
    } else {
        Err(format!("{arg}: give 0 to 3600 seconds"))
    }
}

#[derive(Debug, Clone, Args)]
pub struct LoadArgs {
    /// The XDP ELF object (clang -target bpf)
    #[arg(short = 'f', long, value_name = "FILE")]
    pub file: Option<PathBuf>,
    #[command(flatten)]
    pub target: Target,
    #[command(flatten)]
    pub chain: ChainArgs,
    /// Devmap to fill with the interfaces (default: if_redirect)
    #[arg(long, value_name = "NAME")]
    pub devmap: Option<String>,
    /// Size of a map the object leaves to user space (max_entries 0); repeatable
    #[arg(long, value_name = "MAP=N")]
    pub max_entries: Vec<MaxEntries>,
    /// Attach mode: native, falling back to skb (auto), or only one of them
    #[arg(long, value_enum, default_value = "auto")]
    pub mode: ModeArg,
    /// Replace pinned maps that do not match the object instead of refusing
    #[arg(long)]
    pub fresh: bool,
    /// Replace a program another tool attached through netlink (ip, xdp-loader),
    /// saying what it replaces; a failed load attaches it again
    #[arg(long)]
    pub force: bool,
    /// Leave a veth's peer alone. By default, in native mode, the peer gets a pass
    /// program (else XDP_TX/REDIRECT frames into it are dropped with ENXIO) and its
    /// tx checksum offload is turned off (else redirected TCP/UDP arrives with bad
    /// checksums); unload restores both
    #[arg(long)]
    pub no_peer_fix: bool,
    /// Mode of the pins this load makes (octal; directories get x where it has r):
    /// 0600 by default, whatever the umask; 0640 lets a group run statswatch
    #[arg(long, value_name = "MODE", default_value = "0600")]
    pub pin_mode: PinMode,
    /// Print the verifier log when the verifier rejects a program
    #[arg(short, long)]
    pub verbose: bool,
    /// Write the verifier's whole log to FILE when it rejects a program
    #[arg(long, value_name = "FILE")]
    pub verifier_log: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct UnloadArgs {
    #[command(flatten)]
    pub target: Target,
    /// Every load of ours in the pin directory and the pin directories below it
    #[arg(long, conflicts_with = "interfaces")]
    pub all: bool,
}

#[derive(Debug, Clone, Args)]
pub struct ApplyArgs {
    /// The config file: [[attach]] tables (see examples/xdploader.toml)
    #[arg(short = 'c', long, value_name = "FILE", default_value = xdp_core::config::DEFAULT_CONFIG)]
    pub config: PathBuf,
    /// Print the plan and change nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Print one JSON document instead of text
    #[arg(long)]
    pub json: bool,
    /// Seconds each step waits while another xdploader holds its pin directory's lock
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = lock_wait)]
    pub lock_wait: std::time::Duration,
}

#[derive(Debug, Clone, Args)]
pub struct InspectArgs {
    /// The XDP ELF object
    #[arg(short = 'f', long, value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// The pin directory a load would use (only changes the pin paths shown); default as a load's
    #[arg(long, value_name = "DIR")]
    pub pin_dir: Option<PathBuf>,
    /// Print one JSON document instead of text
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub chain: ChainArgs,
    /// Size of a map the object leaves to user space, as a load would take it
    #[arg(long, value_name = "MAP=N")]
    pub max_entries: Vec<MaxEntries>,
    /// Print the tail-call chain as a Graphviz digraph (dot -Tsvg draws it)
    #[arg(long, conflicts_with = "json")]
    pub dot: bool,
}

#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// The XDP ELF object
    #[arg(short = 'f', long, value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Fill the devmap with these interfaces, as a load would (nothing is attached); frames
    /// arrive on the first, so a FIB lookup or a redirect takes the path it would there
    #[arg(
        short = 'i',
        long = "interfaces",
        visible_alias = "interface",
        value_delimiter = ',',
        value_name = "IF[,IF...]"
    )]
    pub interfaces: Vec<String>,
    #[command(flatten)]
    pub chain: ChainArgs,
    /// Size of a map the object leaves to user space, as a load would take it
    #[arg(long, value_name = "MAP=N")]
    pub max_entries: Vec<MaxEntries>,
    /// Built-in frame kinds to run
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "ipv4-icmp,ipv4-tcp,ipv4-udp,ipv6-udp,vlan-udp,arp"
    )]
    pub frames: Vec<FrameArg>,
    /// Frame sizes in bytes (past 3520 only xdp.frags programs run)
    #[arg(long, value_delimiter = ',', default_value = "64,512,1500,9000")]
    pub sizes: Vec<usize>,
    /// Run the first frames of this pcap file instead of the built-in ones
    #[arg(long, value_name = "FILE")]
    pub pcap: Option<PathBuf>,
    /// Batches per frame: one histogram sample each
    #[arg(long, default_value = "200", value_parser = clap::value_parser!(u32).range(1..))]
    pub batches: u32,
    /// Runs per batch: the kernel times their mean
    #[arg(long, default_value = "1000", value_parser = clap::value_parser!(u32).range(1..))]
    pub repeat: u32,
    /// Print one JSON document instead of text
    #[arg(long)]
    pub json: bool,
    /// Time the chain with `xdploader capture`'s recorders in its slots (64-byte snap length,
    /// the ring drained as a capture would) against the same chain without them: "floor" is then
    /// the chain, "own" what the recorders add
    #[arg(long)]
    pub capture: bool,
}

#[derive(Debug, Clone, Args)]
pub struct TracelogArgs {
    /// Stop after N lines
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
    /// Stop after SECS seconds
    #[arg(long, value_name = "SECS")]
    pub duration: Option<f64>,
    /// One JSON object per line (task, cpu, time, message)
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Args)]
pub struct CaptureArgs {
    /// The interface whose chain is captured
    #[arg(short = 'i', long = "interface", value_name = "IF")]
    pub interface: String,
    /// Where the load pinned its link (default: this namespace's, /sys/fs/bpf on the host)
    #[arg(long, value_name = "DIR")]
    pub pin_dir: Option<PathBuf>,
    /// Write pcapng to FILE (an interface per stage; tshark, Wireshark) instead of lines
    #[arg(short = 'w', long = "write", value_name = "FILE")]
    pub write: Option<PathBuf>,
    /// Bytes kept of each frame (the rest is counted in its length)
    #[arg(long, default_value = "4096", value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub snaplen: u32,
    /// Stop after N frames
    #[arg(long, value_name = "N")]
    pub count: Option<u64>,
    /// Stop after SECS seconds
    #[arg(long, value_name = "SECS", value_parser = duration_secs)]
    pub duration: Option<std::time::Duration>,
    /// Only this stage's records: a program name, a slot, MAP[SLOT], entry or verdict (repeatable)
    #[arg(long = "stage", value_name = "NAME|SLOT")]
    pub stages: Vec<String>,
    /// Only frames the chain ended so (XDP_DROP, XDP_PASS, ...; comma-separated)
    #[arg(long, value_delimiter = ',', value_name = "VERDICT")]
    pub verdict: Vec<String>,
    /// A JSON object per frame, then one with the totals
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Args)]
pub struct TrafficgenArgs {
    /// The interface the frames leave by
    #[arg(short = 'i', long = "interface", value_name = "IF")]
    pub interface: String,
    /// Frame size in bytes
    #[arg(long, default_value = "64", value_parser = clap::value_parser!(u64).range(60..=3498))]
    pub size: u64,
    /// Seconds to send for
    #[arg(long, value_name = "SECS", default_value = "5", value_parser = duration_secs)]
    pub duration: std::time::Duration,
    /// Sender threads (one per CPU is the most that helps)
    #[arg(long, default_value = "1", value_parser = clap::value_parser!(u64).range(1..=256))]
    pub threads: u64,
    /// Frames per kernel batch
    #[arg(long, default_value = "64", value_parser = clap::value_parser!(u32).range(1..=256))]
    pub batch: u32,
    /// Destination MAC of the frames (default: broadcast)
    #[arg(long, value_name = "MAC", default_value = "ff:ff:ff:ff:ff:ff", value_parser = mac)]
    pub dst_mac: [u8; 6],
    /// Source IPv4 address
    #[arg(long, default_value = "10.2.2.2")]
    pub src: std::net::Ipv4Addr,
    /// Destination IPv4 address
    #[arg(long, default_value = "10.2.2.1")]
    pub dst: std::net::Ipv4Addr,
    /// Send ICMP echo requests instead of UDP (for an echo responder such as kern/echo.elf)
    #[arg(long)]
    pub icmp: bool,
    /// Print one JSON document instead of text
    #[arg(long)]
    pub json: bool,
}

/// `--dst-mac aa:bb:cc:dd:ee:ff`.
fn mac(arg: &str) -> Result<[u8; 6], String> {
    let bytes: Vec<u8> = arg
        .split(':')
        .map(|b| u8::from_str_radix(b, 16))
        .collect::<Result<_, _>>()
        .map_err(|_| format!("{arg}: give a MAC as six hex bytes, e.g. 52:54:00:00:00:01"))?;
    bytes
        .try_into()
        .map_err(|_| format!("{arg}: give a MAC as six hex bytes, e.g. 52:54:00:00:00:01"))
}

/// `--duration SECS`: 0.1 s to a day.
fn duration_secs(arg: &str) -> Result<std::time::Duration, String> {
    let secs: f64 = arg
        .parse()
        .map_err(|_| format!("{arg:?} is not a number of seconds"))?;
    if (0.1..=86_400.0).contains(&secs) {
        Ok(std::time::Duration::from_secs_f64(secs))
    } else {
        Err(format!("{arg}: give 0.1 to 86400 seconds"))
    }
}

impl TrafficgenArgs {
    pub fn options(&self) -> TrafficgenOptions {
        TrafficgenOptions {
            interface: self.interface.clone(),
            size: self.size as usize,
            template: if self.icmp {
                xdp_core::bench::Template::IcmpEcho
            } else {
                xdp_core::bench::Template::Udp
            },
            dst_mac: self.dst_mac,
            src: self.src.octets(),
            dst: self.dst.octets(),
            duration: self.duration,
            threads: self.threads as usize,
            batch: self.batch,
        }
    }
}

/// `--frames`, as clap lists it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FrameArg {
    Ipv4Icmp,
    Ipv4Tcp,
    Ipv4Udp,
    Ipv6Udp,
    VlanUdp,
    Arp,
}

impl From<FrameArg> for FrameKind {
    fn from(kind: FrameArg) -> Self {
        match kind {
            FrameArg::Ipv4Icmp => Self::Ipv4Icmp,
            FrameArg::Ipv4Tcp => Self::Ipv4Tcp,
            FrameArg::Ipv4Udp => Self::Ipv4Udp,
            FrameArg::Ipv6Udp => Self::Ipv6Udp,
            FrameArg::VlanUdp => Self::VlanUdp,
            FrameArg::Arp => Self::Arp,
        }
    }
}

impl BenchArgs {
    pub fn options(&self, file: PathBuf, scratch: PathBuf) -> BenchOptions {
        let frames = match &self.pcap {
            Some(path) => Frames::Pcap {
                path: path.clone(),
                limit: 64,
            },
            None => Frames::BuiltIn {
                kinds: self.frames.iter().map(|k| (*k).into()).collect(),
                sizes: self.sizes.clone(),
            },
        };
        BenchOptions {
            file,
            interfaces: self.interfaces.clone(),
            chain: self.chain.options(),
            max_entries: self.max_entries.clone(),
            frames,
            effort: Effort {
                batches: self.batches,
                repeat: self.repeat,
            },
            scratch,
            capture: self.capture,
        }
    }
}

/// `--mode`, as clap lists it in the help.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ModeArg {
    /// Native (driver) mode, and generic (skb) mode if the driver refuses
    Auto,
    /// Native (driver) mode only
    Native,
    /// Generic (skb) mode only
    Skb,
}

impl From<ModeArg> for Mode {
    fn from(mode: ModeArg) -> Self {
        match mode {
            ModeArg::Auto => Self::Auto,
            ModeArg::Native => Self::Native,
            ModeArg::Skb => Self::Skb,
        }
    }
}

impl ChainArgs {
    pub fn options(&self) -> ChainOptions {
        ChainOptions {
            prog: self.prog.clone(),
            sec: self.sec.clone(),
            jmp_map: self.jmp_map.clone(),
            tail: self.tail.clone(),
            allow_empty_slots: self.allow_empty_slots,
        }
    }
}

impl LoadArgs {
    pub fn options(&self, file: PathBuf) -> LoadOptions {
        LoadOptions {
            file,
            interfaces: self.target.interfaces.clone(),
            pin_dir: pin_dir_or_default(self.target.pin_dir.as_ref()),
            chain: self.chain.options(),
            devmap: self.devmap.clone(),
            max_entries: self.max_entries.clone(),
            mode: self.mode.into(),
            fresh: self.fresh,
            peer_fix: !self.no_peer_fix,
            lock_wait: self.target.lock_wait,
            pin_mode: self.pin_mode,
            force: self.force,
        }
    }
}

impl Target {
    pub fn unload_options(&self) -> UnloadOptions {
        UnloadOptions {
            interfaces: self.interfaces.clone(),
            pin_dir: pin_dir_or_default(self.pin_dir.as_ref()),
            lock_wait: self.lock_wait,
        }
    }
}

impl DoctorArgs {
    pub fn options(&self) -> DoctorOptions {
        DoctorOptions {
            interfaces: self.target.interfaces.clone(),
            pin_dir: pin_dir_or_default(self.target.pin_dir.as_ref()),
            fix: self.fix,
        }
    }
}

impl InspectArgs {
    pub fn options(&self, file: PathBuf) -> InspectOptions {
        InspectOptions {
            file,
            pin_dir: pin_dir_or_default(self.pin_dir.as_ref()),
            chain: self.chain.options(),
            max_entries: self.max_entries.clone(),
        }
    }
}
