//! Only the kernel tests' cfg (testkit/kernel_cfg.rs).

include!("../testkit/kernel_cfg.rs");

fn main() {
    kernel_tests_cfg();
}
