#!/usr/bin/env bash
# build-static.sh: the release binaries as static-pie executables (glibc
# linked in, `-C target-feature=+crt-static`), as the Debian package ships
# them; prints the directory that holds them (target/<host triple>/release).
#
# Why: a one-shot `statswatch -file` is mostly process start-up, and a
# dynamically linked Rust binary spends it in the dynamic loader (libc and
# libgcc_s mapped, their symbols bound, libgcc_s's CPU probe, a CPUID exit
# each under a hypervisor). Static, it starts faster than bpftool does
# (bench/results.md, "statswatch while watching"). Neither binary uses
# glibc's NSS (no name lookups), the one thing static glibc cannot do alone.
#
# --target is needed so that the flag does not reach the proc-macros, which
# cargo builds for the host and which cannot be static.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="${HOME:-/root}/.cargo/bin:$PATH"
triple=$(rustc -vV | sed -n 's/^host: //p')
RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static" \
    cargo build --release --workspace --bins -q --target "$triple"
dir=target/$triple/release
for bin in xdploader statswatch; do
    if readelf -d "$dir/$bin" | grep -q '(NEEDED)'; then
        echo "build-static.sh: $dir/$bin still needs shared libraries" >&2
        exit 1
    fi
done
echo "$dir"
