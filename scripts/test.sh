#!/usr/bin/env bash
# The whole test suite, from a fresh clone: setup, build, lint, tests.
# Kernel tests need root; under CI=true a skipped kernel test is a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

# setup.sh resolves the full package list with apt every time (apt_plan);
# test-apt-plan.sh replays a fresh image's qemu packages against real apt.
bash scripts/setup.sh --test
bash scripts/test-apt-plan.sh
make -s -C kern
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -q -- -D warnings
shellcheck -x scripts/*.sh provision/*.sh .ci/run
bash scripts/check-vagrant.sh
# The Prometheus configuration and rules we ship (a real server scrapes with
# them in statswatch/tests/kernel_prometheus.rs).
(cd prometheus && promtool check config prometheus.yml && promtool check rules xdp-rules.yml &&
    promtool test rules xdp-rules.test.yml) >/dev/null
# The end-to-end tests run the binaries as a user would: build them first.
cargo build --workspace --bins -q
cargo test --workspace --no-fail-fast
# Every benchmark, a few iterations, no timing asserted: they never rot.
bash scripts/bench.sh --smoke >/dev/null
# The VM, tier 2 (~20 min): provision.sh in a fresh Debian 12 root file
# system, then that system booted under qemu with Debian's 6.1 kernel: the
# tools as a user runs them, two systemd boots, and the whole test suite
# built above (every kernel test on 6.1). Other kernels: scripts/kernel-matrix.sh.
if [ -n "${XDP_SKIP_VM:-}" ]; then
    echo "test.sh: SKIPPED scripts/provision-test.sh (XDP_SKIP_VM is set)" >&2
    if [ "${CI:-}" = true ]; then
        echo "test.sh: CI=true: a skipped test is a failure" >&2
        exit 1
    fi
else
    bash scripts/provision-test.sh
fi
