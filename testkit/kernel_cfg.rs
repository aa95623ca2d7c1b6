// Included by the build script of every crate with kernel tests: sets the cfg
// `kernel_tests` when the build runs as root, so that a non-root `cargo test`
// reports those tests as ignored, with the reason, instead of "ok". Each
// kernel test carries
//     #[cfg_attr(not(kernel_tests), ignore = "kernel test: needs root")]
// and still starts with `testkit::kernel()` for a binary built as root and
// run as another user. Under CI=true nothing may be skipped, so a non-root
// build fails here.

use std::env as cfg_env;

fn kernel_tests_cfg() {
    println!("cargo:rustc-check-cfg=cfg(kernel_tests)");
    // Who builds decides; sudo changes USER, so the script runs again.
    println!("cargo:rerun-if-env-changed=USER");
    println!("cargo:rerun-if-env-changed=CI");
    let root = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let uid = status.lines().find(|l| l.starts_with("Uid:"))?;
            uid.split_whitespace().nth(2).map(|euid| euid == "0")
        })
        .unwrap_or(false);
    if root {
        println!("cargo:rustc-cfg=kernel_tests");
    } else if cfg_env::var("CI").as_deref() == Ok("true") {
        eprintln!("kernel tests cannot run: the build is not root, and CI=true forbids skipping them");
        std::process::exit(1);
    }
}
