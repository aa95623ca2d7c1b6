//! Embeds kern/xdp_errors.elf, the tracepoint counters behind `statswatch
//! --errors`, so an installed binary needs no kern/ directory; and the
//! commit `--version` names (clikit/build_commit.rs).

include!("../kern/embed.rs");
include!("../testkit/kernel_cfg.rs");
include!("../clikit/build_commit.rs");

fn main() {
    kernel_tests_cfg();
    build_commit_env();
    embed(&["xdp_errors"]);
}
