#!/usr/bin/env bash
# The whole test suite, from a fresh clone: setup, build, lint, tests.
# Kernel tests need root; under CI=true a skipped kernel test is a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

bash scripts/setup.sh --test
make -s -C kern
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -q -- -D warnings
shellcheck -x scripts/*.sh provision/*.sh .ci/run
bash scripts/check-vagrant.sh
# The end-to-end tests run the binaries as a user would: build them first.
cargo build --workspace --bins -q
cargo test --workspace --no-fail-fast
