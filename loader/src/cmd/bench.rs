//! `xdploader bench -file FILE`: one line per frame (verdict, the program's
//! p50/p90/p99/max ns per packet, the floor's p50, the program's own cost
//! and Mpps at p50).

use std::{fmt, process::ExitCode};

use xdp_core::{
    bpffs,
    ops::{self, bench::BenchReport},
};

use crate::{cli::BenchArgs, missing, print_report};

pub fn run(args: &BenchArgs) -> anyhow::Result<ExitCode> {
    let Some(file) = args.file.clone() else {
        missing("the XDP object is missing: bench -file FILE");
    };
    ops::require_capabilities("bench")?;
    // The object's maps are pinned in a bpffs that dies with this process:
    // nothing of a benchmark outlives it.
    bpffs::isolate_mounts(false)?;
    let scratch = tempfile::Builder::new()
        .prefix("xdploader-bench-")
        .tempdir()?;
    bpffs::scratch_bpffs(scratch.path())?;
    let report =
        ops::bench::run(&args.options(std::path::absolute(file)?, scratch.path().to_owned()))?;
    print_report(&report, args.json, |r| BenchText(r).to_string())?;
    Ok(ExitCode::SUCCESS)
}

struct BenchText<'a>(&'a BenchReport);

impl fmt::Display for BenchText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self.0;
        let floor = match &r.capture {
            Some(c) => format!(
                "floor = the chain without recorders, own = what its {} recorder(s) add ({} records a frame, {} bytes kept)",
                c.stages + 1,
                c.records_per_frame,
                c.snaplen
            ),
            None => "floor = an empty XDP_PASS program".to_owned(),
        };
        writeln!(
            f,
            "{}: entry {}, {} batches of {} runs per frame; ns per packet, {floor}",
            r.file.display(),
            r.entry,
            r.batches,
            r.repeat
        )?;
        if let Some(ingress) = &r.ingress {
            writeln!(
                f,
                "frames arrive on {ingress}; the devmap holds the -i interfaces"
            )?;
        }
        writeln!(
            f,
            "{:<16} {:>5} {:<13} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7}",
            "frame", "bytes", "verdict", "p50", "p90", "p99", "max", "floor", "own", "Mpps"
        )?;
        for x in &r.results {
            writeln!(
                f,
                "{:<16} {:>5} {:<13} {:>7.1} {:>7.1} {:>7.1} {:>7.1} {:>7.1} {:>7.1} {:>7.2}",
                x.frame,
                x.bytes,
                x.verdict,
                x.program_ns.p50,
                x.program_ns.p90,
                x.program_ns.p99,
                x.program_ns.max,
                x.floor_ns.p50,
                x.own_ns,
                x.mpps
            )?;
        }
        for x in r.results.iter().filter(|x| x.note.is_some()) {
            writeln!(
                f,
                "note: {} {}: {}",
                x.frame,
                x.bytes,
                x.note.as_deref().unwrap_or("")
            )?;
        }
        for s in &r.skipped {
            writeln!(f, "skipped: {s}")?;
        }
        Ok(())
    }
}
