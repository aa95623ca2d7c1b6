//! `statswatch -file /sys/fs/bpf/stats_map`: the verdict counters of a pinned
//! per-CPU stats map, once or every interval, as text, NDJSON or Prometheus
//! metrics. Thin over `xdp_core::stats`, which owns the record layout and
//! the action names; the `--errors` tracepoints are its own ([`xdp_errors`]).

mod prometheus;
mod render;
mod stages;
mod watch;
mod xdp_errors;

use std::{
    io::{IsTerminal as _, Write as _},
    path::PathBuf,
    process::ExitCode,
    sync::mpsc,
    time::{Duration, Instant},
};

use anyhow::Context as _;
use clap::Parser;
use xdp_core::{bpffs, stats::StatsMap};
use xdp_errors::ErrorTracer;

const EXAMPLES: &str = "\
Examples:
  statswatch                                              totals of /sys/fs/bpf/stats_map, once
  statswatch -file /sys/fs/bpf/stats_map                  the same, the pin named
  statswatch -w -file /sys/fs/bpf/stats_map               rates every second until Ctrl-C
  ip netns exec lab statswatch -i eth0                    the stats map of what runs on eth0 there
  statswatch --interval 0.5 --count 10 --per-cpu -file /sys/fs/bpf/stats_map
  statswatch -w --json -file /sys/fs/bpf/stats_map        one JSON object per interval (NDJSON)
  statswatch --prometheus 127.0.0.1:9435 -file /sys/fs/bpf/stats_map
  statswatch -w --errors -file /sys/fs/bpf/stats_map      also why frames vanish: XDP error
                                                          tracepoints by interface and errno
  statswatch --stages -i veth1                            per stage of veth1's tail-call chain
  statswatch --stages -i veth1 --prometheus 127.0.0.1:9436
                                                          the same as metrics labelled by stage";

/// `statswatch --version`: the crate version and the commit it was built from.
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("XDP_BUILD_COMMIT"),
    ")"
);

#[derive(Debug, Parser)]
#[command(
    name = "statswatch",
    version = VERSION,
    about = "Show the XDP verdict counters of a pinned per-CPU stats map",
    after_help = EXAMPLES
)]
struct Cli {
    /// The pinned map: a percpu_array of {u64 packets; u64 bytes}, one per XDP action
    /// (default: stats_map in this network namespace's pin directory, /sys/fs/bpf on the host)
    #[arg(short = 'f', long, value_name = "PIN", conflicts_with = "interface")]
    file: Option<PathBuf>,
    /// Instead of -file: the stats map of the program running on IF in this network namespace,
    /// wherever it is pinned (under /sys/fs/bpf, or /sys/fs/bpf/netns-NAME in another namespace)
    #[arg(short = 'i', long, value_name = "IF")]
    interface: Option<String>,
    /// With -i: the pin directory the load used (--pin-dir of xdploader), if not the default
    #[arg(long, value_name = "DIR", requires = "interface")]
    pin_dir: Option<PathBuf>,
    /// Print JSON instead of a table (one object per interval when watching)
    #[arg(long)]
    json: bool,
    /// Also show each CPU's counters
    #[arg(long)]
    per_cpu: bool,
    /// Watch: print rates every interval until Ctrl-C, then a summary
    #[arg(short, long)]
    watch: bool,
    /// Seconds between samples (implies --watch)
    #[arg(long, value_name = "SECS")]
    interval: Option<f64>,
    /// Stop after N intervals (implies --watch); STATSWATCH_COUNT=1 makes any watch end at once
    #[arg(long, value_name = "N", env = "STATSWATCH_COUNT")]
    count: Option<u64>,
    /// Also count the kernel's XDP error tracepoints (xdp_exception, xdp_redirect_err,
    /// xdp_devmap_xmit, xdp_bulk_tx) by interface, action and errno while watching
    /// (implies --watch; the tracepoint programs are detached at exit)
    #[arg(long)]
    errors: bool,
    /// Per stage of the chain on -i IF: frames per second into each, the share of frames each
    /// decided (by verdict), ns per stage (p50/p99); recorders sit in the chain's prog-array slots
    /// only while this runs; with --prometheus, served as counters labelled stage and program
    #[arg(long, requires = "interface", conflicts_with_all = ["errors", "per_cpu"])]
    stages: bool,
    /// Serve /metrics in the Prometheus text format on ADDR:PORT until Ctrl-C (or --count intervals)
    #[arg(long, value_name = "ADDR:PORT")]
    prometheus: Option<String>,
    /// Write the man page and the shell completions into DIR (packaging)
    #[arg(long, value_name = "DIR", hide = true)]
    generate_assets: Option<PathBuf>,
}

fn main() -> ExitCode {
    let mut cli: Cli = clikit::parse();
    if let Some(dir) = &cli.generate_assets {
        use clap::CommandFactory as _;
        let sections = |_: &str| clikit::ManSections {
            exit_status: [
                (
                    "0",
                    "Read (or watched, or served) until done, Ctrl-C or --count.",
                ),
                (
                    "1",
                    "An error, said in one line on stderr (no such pin, not a stats map).",
                ),
                ("2", "The command line is wrong (usage on stderr)."),
            ]
            .map(|(tag, text)| (tag.to_owned(), text.to_owned()))
            .to_vec(),
            files: [
                (
                    "/sys/fs/bpf/stats_map",
                    "The stats map a load of kern/xdp.c pins, read by default.",
                ),
                (
                    "/sys/fs/bpf/netns-NAME/stats_map",
                    "The same, for loads in network namespace NAME.",
                ),
            ]
            .map(|(tag, text)| (tag.to_owned(), text.to_owned()))
            .to_vec(),
            see_also: vec!["xdploader(1)", "bpftool(8)", "prometheus(1)"],
        };
        return match clikit::generate_assets(Cli::command(), dir, &sections) {
            Ok(_) => ExitCode::SUCCESS,
            Err(err) => clikit::fail("statswatch", &err, false),
        };
    }
    if cli.stages {
        let result = (|| {
            let interval = watch_period(cli.interval.unwrap_or(1.0))?;
            anyhow::ensure!(cli.count != Some(0), "--count 0: give at least 1 interval");
            let mut pin_dir = cli
                .pin_dir
                .clone()
                .unwrap_or_else(|| xdp_core::netns::here().default_pin_dir());
            clikit::pins_where_the_host_sees_them("statswatch", &mut pin_dir)?;
            let iface = cli.interface.as_deref().unwrap_or_default();
            stages::run(
                iface,
                pin_dir,
                interval,
                cli.count,
                cli.json,
                cli.prometheus.as_deref(),
            )
        })();
        return match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => clikit::fail("statswatch", &err, cli.json),
        };
    }
    // Under `ip netns exec`, /sys/fs/bpf is the host's only once we look there.
    // Required by clap unless --generate-assets is given.
    let file = match (cli.file.take(), &cli.interface) {
        // A pin this process sees is read where it is: a reader pins
        // nothing that could vanish with a mount namespace of its own, so
        // the host's is looked for (ancestors' /proc walked) only when the
        // pin is not here, as under `ip netns exec`'s fresh /sys.
        (Some(file), _) if bpffs::is_bpffs(&file) => {
            std::path::absolute(&file).map_err(anyhow::Error::from)
        }
        (Some(mut file), _) => {
            clikit::pins_where_the_host_sees_them("statswatch", &mut file).map(|()| file)
        }
        // The namespace is read before a mount namespace is entered.
        (None, Some(iface)) => {
            let mut pin_dir = cli
                .pin_dir
                .clone()
                .unwrap_or_else(|| xdp_core::netns::here().default_pin_dir());
            clikit::pins_where_the_host_sees_them("statswatch", &mut pin_dir)
                .and_then(|()| Ok(xdp_core::stats::pin_for_interface(&pin_dir, iface)?))
        }
        // Where a load of kern/xdp.c (or a copy) pins it in this namespace.
        (None, None) => {
            let mut file = xdp_core::netns::here().default_pin_dir().join("stats_map");
            clikit::pins_where_the_host_sees_them("statswatch", &mut file).map(|()| file)
        }
    };
    let file = match file {
        Ok(file) => file,
        Err(err) => return clikit::fail("statswatch", &err, false),
    };
    match run(&cli, &file) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => clikit::fail("statswatch", &err, false),
    }
}

/// Names, on stderr, loads of xdploader that died mid-way in the pin
/// directory of `file` (`<pin-dir>/stats_map` or `<pin-dir>/<iface>/...`):
/// the counters may come from a program whose jump table is pinned only in
/// the dead load's staging. Finishing it takes the pin directory's lock,
/// which a reader does not take; `xdploader status` does.
fn name_dead_loads(file: &std::path::Path) {
    for dir in file.ancestors().skip(1).take(2) {
        let layout = xdp_core::state::PinLayout::new(dir);
        for (pid, staging) in xdp_core::state::dead_loads(&layout) {
            eprintln!(
                "statswatch: note: xdploader pid {pid} died mid-load and left {}: run `xdploader status --pin-dir {}` as root to finish it",
                staging.display(),
                dir.display()
            );
        }
    }
}

/// The longest interval taken: a day. Longer is a typo, and beyond ~1e19
/// seconds a Duration cannot even hold it.
const MAX_INTERVAL_SECS: f64 = 86_400.0;

fn watch_period(secs: f64) -> anyhow::Result<Duration> {
    anyhow::ensure!(
        (0.01..=MAX_INTERVAL_SECS).contains(&secs),
        "--interval {secs}: give 0.01 to {MAX_INTERVAL_SECS} seconds"
    );
    Ok(Duration::from_secs_f64(secs))
}

fn run(cli: &Cli, file: &std::path::Path) -> anyhow::Result<()> {
    // Checked before anything is opened or attached.
    if let Some(secs) = cli.interval {
        watch_period(secs)?;
    }
    anyhow::ensure!(cli.count != Some(0), "--count 0: give at least 1 interval");
    let map = StatsMap::open(file)?;
    name_dead_loads(file);
    let watching = cli.watch || cli.interval.is_some() || cli.count.is_some() || cli.errors;
    // Before any thread starts: a tracefs mounted for the tracepoints stays
    // private to this process.
    let tracer = if cli.errors {
        // The object has no CO-RE: the kernel's BTF is hidden from aya.
        bpffs::isolate_mounts(true).context("--errors needs a private mount namespace")?;
        let tracer = ErrorTracer::attach()?;
        eprintln!(
            "statswatch: counting XDP errors on xdp:{} (detached at exit)",
            tracer.attached().join(", xdp:")
        );
        Some(tracer)
    } else {
        None
    };
    let error_counters = || {
        tracer
            .as_ref()
            .map(|t| t.counters().try_clone())
            .transpose()
    };
    if !watching && cli.prometheus.is_none() {
        let rows = map.read(cli.per_cpu)?;
        let out = if cli.json {
            serde_json::to_string(&serde_json::json!({ "map": map.path(), "actions": rows }))?
                + "\n"
        } else {
            render::totals(&rows)
        };
        print!("{out}");
        return Ok(());
    }

    let period = watch_period(cli.interval.unwrap_or(1.0))?;
    // Ctrl-C (or SIGTERM) wakes the wait at once; no polling between samples.
    let (stop, stopped) = mpsc::channel();
    ctrlc::set_handler(move || {
        let _ = stop.send(());
    })
    .context("installing the Ctrl-C handler")?;

    let _exporter = match &cli.prometheus {
        Some(addr) => {
            let exporter =
                prometheus::serve(addr, file.to_owned(), cli.per_cpu, error_counters()?)?;
            eprintln!("statswatch: serving http://{}/metrics", exporter.addr);
            Some(exporter)
        }
        None => None,
    };

    let mut watcher = watch::Watcher::new(map, cli.per_cpu, error_counters()?)?;
    let redraw = !cli.json && std::io::stdout().is_terminal();
    let mut next = Instant::now() + period;
    let mut stdout = std::io::stdout().lock();
    loop {
        let wait = next.saturating_duration_since(Instant::now());
        match stopped.recv_timeout(wait) {
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
        next += period;
        let tick = watcher.tick()?;
        if watching || cli.json {
            if cli.json {
                writeln!(stdout, "{}", serde_json::to_string(&tick)?)?;
            } else if redraw {
                // Home and clear: the table redraws in place on a terminal.
                write!(stdout, "\x1b[H\x1b[2J{}", render::interval(&tick))?;
            } else {
                writeln!(stdout, "{}", render::interval(&tick))?;
            }
            stdout.flush()?;
        }
        if cli.count.is_some_and(|n| tick.interval >= n) {
            break;
        }
    }
    if watching {
        let summary = watcher.summary();
        if cli.json {
            writeln!(
                stdout,
                "{}",
                serde_json::to_string(&serde_json::json!({
                    "map": watcher.path(),
                    "summary": summary
                }))?
            )?;
        } else {
            write!(stdout, "{}", render::summary(&summary))?;
        }
    }
    Ok(())
}
