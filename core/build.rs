//! Embeds kern/xdp_pass.elf (the program the veth peer fix attaches, and
//! bench's floor) and kern/xdp_trafficgen.elf (trafficgen's sender), so an
//! installed binary needs no kern/ directory.

include!("../kern/embed.rs");
include!("../testkit/kernel_cfg.rs");

fn main() {
    kernel_tests_cfg();
    embed(&["xdp_pass", "xdp_trafficgen", "xdp_capture"]);
}
