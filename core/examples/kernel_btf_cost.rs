//! What `EbpfLoader::new()` costs, which is what hiding the kernel's BTF
//! saves (xdp_core::bpffs::isolate_mounts). scripts/bench.sh runs it as is,
//! and once more with /dev/null bind-mounted over /sys/kernel/btf/vmlinux.
//! Prints `p50_ms X min_ms Y runs N`.

use std::time::Instant;

fn main() {
    let runs = 50;
    let mut ms: Vec<f64> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            drop(aya::EbpfLoader::new());
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    ms.sort_by(f64::total_cmp);
    println!("p50_ms {:.2} min_ms {:.2} runs {runs}", ms[runs / 2], ms[0]);
}
