//! Embeds kern/xdp_errors.elf, the tracepoint counters behind
//! `statswatch --errors`, so the installed binary needs no kern/ directory.
//! Built with the project's one build command (`make -C kern`). Without
//! clang the build goes on with an empty object, and `--errors` says why it
//! cannot run instead of the whole workspace failing to build.

use std::{env, fs, path::PathBuf, process::Command};

const OBJECT: &str = "xdp_errors.elf";

fn main() {
    let kern =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo")).join("../kern");
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("set by cargo")).join(OBJECT);
    for input in ["xdp_errors.c", "Makefile"] {
        println!("cargo:rerun-if-changed={}", kern.join(input).display());
    }
    let built = Command::new("make")
        .args(["-s", "-C"])
        .arg(&kern)
        .arg(OBJECT)
        .status()
        .is_ok_and(|s| s.success());
    if built && fs::copy(kern.join(OBJECT), &out).is_ok() {
        return;
    }
    println!(
        "cargo:warning=kern/{OBJECT} could not be built (is clang installed? scripts/setup.sh installs it): statswatch --errors will refuse to run"
    );
    fs::write(&out, b"").expect("writing OUT_DIR");
}
