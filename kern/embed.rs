// The build script of each crate that embeds objects from kern/ (xdp-core:
// xdp_pass; statswatch: xdp_errors), included by both so there is one way to
// build them: the kern/Makefile rule, writing into OUT_DIR only. Without
// clang the build fails with the Makefile's one-line cause: an installed
// binary missing its objects would fail later, and worse.

use std::{env, path::PathBuf, process::Command};

fn embed(objects: &[&str]) {
    let kern =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo")).join("../kern");
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("set by cargo"));
    for file in ["Makefile", "common.h", "fib.h", "embed.rs"] {
        println!("cargo:rerun-if-changed={}", kern.join(file).display());
    }
    for name in objects {
        println!(
            "cargo:rerun-if-changed={}",
            kern.join(format!("{name}.c")).display()
        );
        let target = out_dir.join(format!("{name}.elf"));
        let status = Command::new("make")
            .arg("-s")
            .arg("-C")
            .arg(&kern)
            .arg(format!("OUT={}", out_dir.display()))
            .arg(&target)
            .status();
        match status {
            Ok(s) if s.success() => {}
            Ok(_) => {
                eprintln!("building kern/{name}.c failed (see above); scripts/setup.sh installs clang and libbpf-dev");
                std::process::exit(1);
            }
            Err(e) => {
                eprintln!("cannot run make for kern/{name}.c: {e}; scripts/setup.sh installs it");
                std::process::exit(1);
            }
        }
    }
}
