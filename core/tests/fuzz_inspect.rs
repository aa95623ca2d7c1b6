//! Bounded fuzzing of ELF inspection: mutated copies of every object in
//! kern/ (all the map formats and section conventions) go through
//! `elf::inspect`, which must return a summary or an error, never panic.
//! Mutations aim where parsers trust the file: the ELF header, the section
//! header table, and the sections themselves (BTF, maps, relocations).
//! `FUZZ_CASES` raises the bound for a longer run (docs/testing.md: "Fuzzing").

// In tests a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicU64, Ordering};

use proptest::{prelude::*, test_runner::TestRunner};
use xdp_core::elf;

/// Default bound: a few seconds in a debug build.
const DEFAULT_CASES: u32 = 20_000;

#[derive(Clone, Debug)]
enum Mutation {
    /// Flip one bit.
    Flip { at: usize, bit: u8 },
    /// Write a value parsers treat specially (0, all ones, sign bit, small counts).
    Word { at: usize, value: u64, width: u8 },
    /// Cut the file.
    Truncate { at: usize },
    /// Copy a span over another place (moves plausible headers around).
    Splice { from: usize, to: usize, len: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let place = any::<prop::sample::Index>();
    prop_oneof![
        (place.clone(), 0u8..8).prop_map(|(at, bit)| Mutation::Flip {
            at: at.index(usize::MAX),
            bit
        }),
        (
            place.clone(),
            prop_oneof![
                Just(0u64),
                Just(u64::MAX),
                Just(0x8000_0000),
                Just(0x7fff_ffff),
                1u64..64,
                any::<u64>()
            ],
            prop_oneof![Just(1u8), Just(2), Just(4), Just(8)]
        )
            .prop_map(|(at, value, width)| Mutation::Word {
                at: at.index(usize::MAX),
                value,
                width
            }),
        place.clone().prop_map(|at| Mutation::Truncate {
            at: at.index(usize::MAX)
        }),
        (place.clone(), place, 1usize..128).prop_map(|(from, to, len)| Mutation::Splice {
            from: from.index(usize::MAX),
            to: to.index(usize::MAX),
            len
        }),
    ]
}

/// Applies `m`, biasing a third of the places into the ELF header and the
/// section header table, where one wrong number misleads every later step.
fn apply(data: &mut Vec<u8>, m: &Mutation) {
    if data.is_empty() {
        return;
    }
    let shoff = u64::from_le_bytes(
        data.get(40..48)
            .and_then(|b| b.try_into().ok())
            .unwrap_or([0; 8]),
    ) as usize;
    let place = |at: usize| -> usize {
        let len = data.len();
        match at % 3 {
            0 => at / 3 % 64.min(len),
            1 if shoff < len => shoff + at / 3 % (len - shoff),
            _ => at / 3 % len,
        }
    };
    match *m {
        Mutation::Flip { at, bit } => {
            let i = place(at);
            data[i] ^= 1 << bit;
        }
        Mutation::Word { at, value, width } => {
            let i = place(at);
            let bytes = value.to_le_bytes();
            for (k, b) in bytes.iter().take(width as usize).enumerate() {
                if let Some(slot) = data.get_mut(i + k) {
                    *slot = *b;
                }
            }
        }
        Mutation::Truncate { at } => {
            let len = at % data.len();
            data.truncate(len);
        }
        Mutation::Splice { from, to, len } => {
            let (from, to) = (from % data.len(), place(to));
            let len = len.min(data.len() - from).min(data.len() - to);
            let span = data[from..from + len].to_vec();
            data[to..to + len].copy_from_slice(&span);
        }
    }
}

fn corpus() -> Vec<Vec<u8>> {
    let kern = testkit::kern_object("xdp.elf");
    let kern = kern.parent().unwrap();
    let mut files: Vec<_> = [kern.to_path_buf(), kern.join("tests")]
        .iter()
        .flat_map(|d| std::fs::read_dir(d).unwrap())
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "elf"))
        .collect();
    files.sort();
    assert!(files.len() >= 8, "fixtures missing: {files:?}");
    files.iter().map(|f| std::fs::read(f).unwrap()).collect()
}

#[test]
fn inspect_never_panics_on_mutated_objects() {
    let corpus = corpus();
    let cases = std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(DEFAULT_CASES);
    let executions = AtomicU64::new(0);
    let (errors, summaries) = (AtomicU64::new(0), AtomicU64::new(0));
    let mut runner = TestRunner::new(ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let strategy = (0..corpus.len(), prop::collection::vec(mutation(), 1..6));
    runner
        .run(&strategy, |(file, mutations)| {
            let mut data = corpus[file].clone();
            for m in &mutations {
                apply(&mut data, m);
            }
            executions.fetch_add(1, Ordering::Relaxed);
            if let Ok(path) = std::env::var("FUZZ_LAST") {
                // Written before the call: an abort (not a panic) leaves it behind.
                std::fs::write(path, &data).unwrap();
            }
            match elf::inspect(&data) {
                Ok(_) => summaries.fetch_add(1, Ordering::Relaxed),
                Err(e) => {
                    // An error is one line that names a cause.
                    let text = e.to_string();
                    prop_assert!(!text.is_empty() && !text.contains('\n'), "{text:?}");
                    errors.fetch_add(1, Ordering::Relaxed)
                }
            };
            Ok(())
        })
        .unwrap();
    let executions = executions.into_inner();
    println!(
        "fuzz: {executions} executions over {} objects: {} refused with an error, {} inspected",
        corpus.len(),
        errors.into_inner(),
        summaries.into_inner()
    );
    assert!(executions >= u64::from(cases));
}
