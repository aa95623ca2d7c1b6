//! What the library's kernel tests share.

use aya::Ebpf;
use xdp_core::{elf::ObjectSummary, load};

/// Loads with every map pinned in a bpffs of the test's own, unmounted at
/// once (the maps live on in the Ebpf): aya pins a map that asks to be
/// pinned by name in /sys/fs/bpf unless given a path, and parallel tests
/// would then share one stats_map.
pub fn load_in_private_bpffs(data: &[u8], summary: &ObjectSummary) -> Ebpf {
    let pins = testkit::Bpffs::new();
    let paths: Vec<_> = summary
        .maps
        .iter()
        // Global data (.rodata) is the object's own, never pinned.
        .filter(|m| !m.global_data)
        .map(|m| (m.name.clone(), pins.path().join(&m.name)))
        .collect();
    load::load(data, summary, &paths).expect("the object loads")
}
