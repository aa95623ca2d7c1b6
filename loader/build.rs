//! The kernel tests' cfg (testkit/kernel_cfg.rs), and the commit
//! `--version` names (clikit/build_commit.rs).

include!("../testkit/kernel_cfg.rs");
include!("../clikit/build_commit.rs");

fn main() {
    kernel_tests_cfg();
    build_commit_env();
}
