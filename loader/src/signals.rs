//! Ctrl-C, SIGTERM and SIGHUP held back while a load or an apply runs, and
//! looked at between its steps: before a load's commit point it is rolled
//! back, after it completed; an apply stops before its next step.

use nix::sys::signal::{SigSet, Signal};

const HELD: [Signal; 3] = [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP];

/// Blocks the signals (the process is single-threaded here); a held-back one
/// is discarded when the process exits. If blocking fails, the signals keep
/// their default action: killed before the commit point, a load has changed
/// nothing visible (the kernel frees what it held).
pub fn hold_back() {
    let mut set = SigSet::empty();
    for s in HELD {
        set.add(s);
    }
    let _ = set.thread_block();
}

/// The first held-back signal that is pending, by name.
pub fn pending() -> Option<&'static str> {
    HELD.into_iter()
        .find(|s| is_pending(*s))
        .map(Signal::as_str)
}

fn is_pending(signal: Signal) -> bool {
    // SAFETY: sigset_t is plain data; sigpending fills the set it is given,
    // and sigismember only reads it.
    unsafe {
        let mut set: nix::libc::sigset_t = std::mem::zeroed();
        nix::libc::sigpending(&mut set) == 0 && nix::libc::sigismember(&set, signal as i32) == 1
    }
}

/// The exit status of a process stopped by `name`: 128 + its number.
pub fn exit_status(name: &str) -> u8 {
    let number = HELD
        .into_iter()
        .find(|s| s.as_str() == name)
        .map_or(1, |s| s as u8);
    128 + number
}
