// Included by the binaries' build scripts: `--version` names the commit.

/// Sets `XDP_BUILD_COMMIT` for the crate being built: `$XDP_BUILD_COMMIT` if
/// set (a build from a tarball), else `git rev-parse --short=12 HEAD` of the
/// workspace, else "unknown". Rebuilt when HEAD moves.
fn build_commit_env() {
    use std::{env, path::Path, process::Command};
    println!("cargo:rerun-if-env-changed=XDP_BUILD_COMMIT");
    let root = env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
    let root = Path::new(&root).parent().unwrap_or(Path::new("."));
    let git = |args: &[&str]| {
        Command::new("git")
            .arg("-C")
            .arg(root)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    let commit = env::var("XDP_BUILD_COMMIT")
        .ok()
        .filter(|c| !c.is_empty())
        .or_else(|| git(&["rev-parse", "--short=12", "HEAD"]))
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=XDP_BUILD_COMMIT={commit}");
    // HEAD, and the branch it points at (loose or packed).
    if let Some(git_dir) = git(&["rev-parse", "--absolute-git-dir"]) {
        let git_dir = Path::new(&git_dir);
        println!("cargo:rerun-if-changed={}", git_dir.join("HEAD").display());
        println!("cargo:rerun-if-changed={}", git_dir.join("packed-refs").display());
        if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
            println!("cargo:rerun-if-changed={}", git_dir.join(branch).display());
        }
    }
}
