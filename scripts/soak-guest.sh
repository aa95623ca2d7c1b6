#!/usr/bin/env bash
# soak-guest.sh [ROUNDS]: the kernel test suite, built here, run ROUNDS times
# (default 8) in a Debian guest under qemu, each round a fresh boot of the
# same image, to find or rule out a kernel crash that one run shows only
# sometimes (issue 24: Debian 12's 6.1 panicked "in interrupt" once in two
# runs). Not part of the test command: ~5 minutes a round for the whole
# suite here (TCG), less with XDP_SOAK_ONLY. Root and network needed.
#   XDP_VM_RELEASE=bookworm|trixie   Debian 12 (6.1, the default) or 13 (6.12)
#   XDP_SOAK_ONLY="kernel_bench kernel_lifecycle"   only these test binaries
#   XDP_SOAK_ARGS="trafficgen,--test-threads=1"     arguments for each binary
#                                     (a libtest filter), comma-separated
#   XDP_SOAK_REPEAT=N                 run them N times in each boot (a
#                                     short test looped without a boot each time)
#   XDP_SOAK_STOP=1                   stop at the first round that fails
# Every round's console stays in $GUEST_LOGS (scripts/guest-lib.sh), and a
# round whose guest died prints the kernel's report and the tests in flight.
# The last line: "soak-guest: kernel K: R rounds, P panics (or other kernel
# reports), F failed rounds, S s".
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
# shellcheck source=scripts/guest-lib.sh
. scripts/guest-lib.sh
ROUNDS=${1:-8}
RELEASE=${XDP_VM_RELEASE:-bookworm}
ONLY=${XDP_SOAK_ONLY:-}
ARGS=${XDP_SOAK_ARGS:-}

fail() { echo "soak-guest: FAILED: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || fail "run as root (chroot, mounts, mkfs)"
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || fail "ROUNDS must be a whole number ≥ 1, not '$ROUNDS'"
case $RELEASE in bookworm | trixie) ;; *) fail "XDP_VM_RELEASE=$RELEASE: bookworm or trixie" ;; esac
for tool in mmdebstrap qemu-system-x86_64 mkfs.ext4 unshare; do
    command -v "$tool" >/dev/null || fail "$tool not found: run scripts/setup.sh --test"
done

guest_workdir xdp-soak
mkdir -p "$GUEST_LOGS"

start=$SECONDS
bash scripts/debian-rootfs.sh "$WORK/rootfs" "$RELEASE" > "$WORK/rootfs.log" 2>&1 ||
    { tail -20 "$WORK/rootfs.log"; fail "the Debian $RELEASE root file system"; }
cp -L /etc/resolv.conf "$WORK/rootfs/etc/resolv.conf"
suite_stage "$WORK/rootfs"
cp -L "$WORK/rootfs/vmlinuz" "$WORK/rootfs/initrd.img" "$WORK/"
guest_image "$WORK/rootfs" "$WORK/guest.img"
rm -rf "$WORK/rootfs"
echo "soak-guest: image ready in $((SECONDS - start)) s: $SUITE_EXPECTED test binaries; only: ${ONLY:-all}; args: ${ARGS:-none}"

cmdline=("init=$SUITE_INIT")
if [ -n "$ONLY" ]; then
    cmdline+=("xdp_suite.only=$(tr ' ' ',' <<<"$ONLY")")
    # suite_report counts the binaries it expects to run.
    SUITE_EXPECTED=$(wc -w <<<"$ONLY")
fi
[ -z "$ARGS" ] || cmdline+=("xdp_suite.args=$ARGS")
REPEAT=${XDP_SOAK_REPEAT:-1}
[[ $REPEAT =~ ^[1-9][0-9]*$ ]] || fail "XDP_SOAK_REPEAT must be a whole number ≥ 1, not '$REPEAT'"
if [ "$REPEAT" -gt 1 ]; then
    cmdline+=("xdp_suite.repeat=$REPEAT")
    SUITE_EXPECTED=$((SUITE_EXPECTED * REPEAT))
fi

# Each run's consoles apart from the last run's.
RUN=$(date +%Y%m%d-%H%M%S)
kernel="?" reports=0 failed=0 soak_start=$SECONDS
for round in $(seq 1 "$ROUNDS"); do
    log=$GUEST_LOGS/soak-$RELEASE-$RUN-round-$round.log
    round_start=$SECONDS
    GUEST_TIMEOUT=${XDP_GUEST_TIMEOUT:-2400} boot_guest "$log" "$WORK/vmlinuz" "$WORK/initrd.img" "$WORK/guest.img" \
        "${cmdline[@]}" >/dev/null
    kernel=$(sed -n 's/^xdp-suite: kernel //p' "$log" | tr -d '\r' | head -1)
    ok=true
    suite_report "$log" "round $round/$ROUNDS, kernel ${kernel:-?}, $((SECONDS - round_start)) s" || ok=false
    grep -aqE "$KERNEL_REPORT_START" "$log" && reports=$((reports + 1))
    if [ "$ok" != true ]; then
        failed=$((failed + 1))
        echo "soak-guest: round $round failed; its console: $log"
        [ -z "${XDP_SOAK_STOP:-}" ] || break
    fi
done
echo "soak-guest: kernel ${kernel:-?}: $round rounds, $reports with a kernel report (panic, oops, lockup or warning), $failed failed rounds, $((SECONDS - soak_start)) s"
[ "$failed" -eq 0 ]
