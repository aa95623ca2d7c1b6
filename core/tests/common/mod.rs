//! What the library's kernel tests share.

use aya::Ebpf;
use xdp_core::{elf::ObjectSummary, load};

/// Loads with every map pinned in a bpffs of the test's own, unmounted at
/// once (the maps live on in the Ebpf): aya pins a map that asks to be
/// pinned by name in /sys/fs/bpf unless given a path, and parallel tests
/// would then share one stats_map.
/// `object` is read from kern/ and taken as this kernel can load it
/// (`load::for_this_kernel`: plain XDP where there is no xdp.frags).
/// Returns the loaded object and its summary.
pub fn load_in_private_bpffs(object: &str) -> (Ebpf, ObjectSummary) {
    let data = std::fs::read(testkit::kern_object(object)).expect("reading the object");
    let inspected = xdp_core::elf::inspect(&data).expect("the object inspects");
    let (inspected, _) = load::for_this_kernel(&data, inspected).expect("the object inspects");
    let summary = inspected.summary;
    let data = inspected.rewritten.unwrap_or(data);
    let pins = testkit::Bpffs::new();
    let paths: Vec<_> = summary
        .maps
        .iter()
        // Global data (.rodata) is the object's own, never pinned.
        .filter(|m| !m.global_data)
        .map(|m| (m.name.clone(), pins.path().join(&m.name)))
        .collect();
    let ebpf = load::load(&data, &summary, &paths).expect("the object loads");
    (ebpf, summary)
}
