//! Embeds kern/xdp_errors.elf, the tracepoint counters behind `statswatch
//! --errors`, so an installed binary needs no kern/ directory.

include!("../kern/embed.rs");
include!("../testkit/kernel_cfg.rs");

fn main() {
    kernel_tests_cfg();
    embed(&["xdp_errors"]);
}
