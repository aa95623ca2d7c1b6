//! `statswatch -file /sys/fs/bpf/stats_map`: the verdict counters of a pinned
//! per-CPU stats map, summed over every possible CPU. Thin over
//! `xdploader::stats`, which owns the record layout and the action names.

use std::{path::PathBuf, process::ExitCode};

use clap::Parser;
use xdploader::stats::{ActionStats, StatsMap};

const EXAMPLES: &str = "\
Examples:
  statswatch -file /sys/fs/bpf/stats_map
  statswatch --json --per-cpu -file /sys/fs/bpf/stats_map";

#[derive(Debug, Parser)]
#[command(
    name = "statswatch",
    version,
    about = "Show the XDP verdict counters of a pinned per-CPU stats map",
    after_help = EXAMPLES
)]
struct Cli {
    /// The pinned map: a percpu_array of {u64 packets; u64 bytes}, one per XDP action
    #[arg(short = 'f', long, value_name = "PIN")]
    file: PathBuf,
    /// Print JSON instead of a table
    #[arg(long)]
    json: bool,
    /// Also show each CPU's counters
    #[arg(long)]
    per_cpu: bool,
}

fn main() -> ExitCode {
    let cli: Cli = xdploader::args::parse();
    match run(&cli) {
        Ok(out) => {
            print!("{out}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("statswatch: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: &Cli) -> anyhow::Result<String> {
    let map = StatsMap::open(&cli.file)?;
    let rows = map.read(cli.per_cpu)?;
    Ok(if cli.json {
        serde_json::to_string(&serde_json::json!({
            "map": map.path(),
            "actions": rows,
        }))? + "\n"
    } else {
        table(&rows)
    })
}

fn table(rows: &[ActionStats]) -> String {
    let mut out = format!("{:<14} {:>14} {:>18}\n", "action", "packets", "bytes");
    for r in rows {
        out += &format!("{:<14} {:>14} {:>18}\n", r.action, r.packets, r.bytes);
        for (cpu, rec) in r.per_cpu.iter().enumerate() {
            if rec.rx_packets != 0 || rec.rx_bytes != 0 {
                out += &format!(
                    "  cpu{:<9} {:>14} {:>18}\n",
                    cpu, rec.rx_packets, rec.rx_bytes
                );
            }
        }
    }
    out
}
