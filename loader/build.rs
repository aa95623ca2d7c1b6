//! Embeds the two objects the tools carry with them, so an installed binary
//! needs no kern/ directory:
//! - kern/xdp_errors.elf, the tracepoint counters behind `statswatch --errors`;
//! - kern/xdp_pass.elf, the program the veth peer fix attaches.
//!
//! They are built with the project's one build command (`make -C kern`).
//! Without clang the build goes on with empty objects, and the features that
//! need them say why they cannot run instead of the workspace failing to build.

use std::{env, fs, path::PathBuf, process::Command};

const OBJECTS: [&str; 2] = ["xdp_errors", "xdp_pass"];

fn main() {
    let kern =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo")).join("../kern");
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("set by cargo"));
    println!("cargo:rerun-if-changed={}", kern.join("Makefile").display());
    for name in OBJECTS {
        let object = format!("{name}.elf");
        println!(
            "cargo:rerun-if-changed={}",
            kern.join(format!("{name}.c")).display()
        );
        let built = Command::new("make")
            .args(["-s", "-C"])
            .arg(&kern)
            .arg(&object)
            .status()
            .is_ok_and(|s| s.success());
        let out = out_dir.join(&object);
        if built && fs::copy(kern.join(&object), &out).is_ok() {
            continue;
        }
        println!(
            "cargo:warning=kern/{object} could not be built (is clang installed? scripts/setup.sh installs it): the feature that embeds it will refuse to run"
        );
        fs::write(&out, b"").expect("writing OUT_DIR");
    }
}
