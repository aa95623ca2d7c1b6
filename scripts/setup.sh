#!/usr/bin/env bash
# Installs what building and testing need on a fresh Debian machine (root),
# and mounts bpffs. Safe to run again: it only installs what is missing.
#   setup.sh          packages, bpffs, and a check for cargo >= MSRV
#   setup.sh --test   also what only the test command needs
#   setup.sh --run    packages and bpffs, no cargo: for running binaries that
#                     are built already (root in the VM has no toolchain)
#   setup.sh --print-packages [--test|--guest-test]   the package list, one a
#                     line, and nothing else (--guest-test: what a guest needs
#                     to run the kernel tests built here)
set -euo pipefail

# xdp-tools: its BPF objects are third-party test input for the loader.
PACKAGES=(clang llvm libbpf-dev bpftool gcc make iproute2 ethtool iputils-ping
          util-linux procps xdp-tools)
# Only the test command needs these (`setup.sh --test`): shellcheck lints the
# scripts, vagrant validates the Vagrantfile offline, and mmdebstrap, qemu and
# e2fsprogs make and boot the Debian 12 guest of scripts/provision-test.sh.
# The tests themselves run a Prometheus server, graphviz's dot, man and git,
# here and in the guests that run the suite (`--print-packages --guest-test`).
GUEST_TEST_PACKAGES=(prometheus graphviz man-db git tshark)
# prometheus-node-exporter: the exporter benchmark's reference (scripts/bench-exporter.sh).
TEST_PACKAGES=(shellcheck vagrant mmdebstrap qemu-system-x86 e2fsprogs dpkg-dev
               prometheus-node-exporter "${GUEST_TEST_PACKAGES[@]}")
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"

if [ "${1:-}" = --print-packages ]; then
    [ "${2:-}" = --test ] && PACKAGES+=("${TEST_PACKAGES[@]}")
    [ "${2:-}" = --guest-test ] && PACKAGES+=("${GUEST_TEST_PACKAGES[@]}")
    printf '%s\n' "${PACKAGES[@]}"
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "setup.sh: run as root (it installs packages and mounts bpffs)" >&2
    exit 1
fi

MODE=${1:-}
[ "$MODE" = --test ] && PACKAGES+=("${TEST_PACKAGES[@]}")
install_missing setup.sh "${PACKAGES[@]}"
if ! mountpoint -q /sys/fs/bpf; then
    mount -t bpf bpf /sys/fs/bpf
fi
[ "$MODE" = --run ] && exit 0

# Rust: the project needs cargo >= MSRV (aya 0.14). Debian's own cargo is older.
export PATH="${HOME:-/root}/.cargo/bin:$PATH"
if ! command -v cargo >/dev/null; then
    echo "setup.sh: no cargo found: install Rust >= $MSRV with rustup (https://rustup.rs)" >&2
    exit 1
fi
have=$(cargo --version | awk '{print $2}')
if ! at_least_msrv "$have"; then
    echo "setup.sh: cargo $have is older than $MSRV: update it with rustup" >&2
    exit 1
fi
