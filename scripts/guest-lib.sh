# Shared by scripts/provision-test.sh and scripts/kernel-matrix.sh (sourced,
# not run): a Debian root file system prepared on the host, the workspace's
# kernel test suite staged in it, and the guest booted under qemu.
# shellcheck shell=bash

# Where the guests' consoles stay after a run, pass or fail (the work
# directories go): a guest that died is read here.
# shellcheck disable=SC2034 # read by the scripts that source this file
GUEST_LOGS=${XDP_GUEST_LOGS:-/var/tmp/xdp-guest-logs}

# guest_workdir NAME: WORK, a fresh directory under $TMPDIR (/var/tmp by
# default) for a root file system and its image, removed at exit together
# with a guest still running then (QEMU_PID, set by boot_guest).
guest_workdir() {
    WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/$1.XXXXXX")
    QEMU_PID=
    trap guest_cleanup EXIT
}
guest_cleanup() {
    [ -z "$QEMU_PID" ] || kill "$QEMU_PID" 2>/dev/null || true
    rm -rf "$WORK"
}

# in_root_of ROOT CMD...: CMD in the guest file system, as root, in a mount
# namespace of its own (all these mounts go with it). /proc/sys is read-only
# there, so provision.sh's `sysctl -p` cannot change the host's kernel: it
# says so and goes on, as in a container.
in_root_of() {
    # shellcheck disable=SC2016 # expanded by the inner bash
    unshare --mount --pid --fork --propagation private -- bash -euc '
        root=$1; shift
        mount -t proc proc "$root/proc"
        mount --bind "$root/proc/sys" "$root/proc/sys"
        mount -o remount,bind,ro "$root/proc/sys"
        mount --rbind /dev "$root/dev"
        exec chroot "$root" "$@"' in_root_of "$@"
}

# guest_image ROOT IMAGE: ROOT as an ext4 file system image with room to
# spare (the tests write pins, logs and namespaces' state).
guest_image() {
    local size_mib=$(( $(du -sm "$1" | cut -f1) * 12 / 10 + 512 ))
    mkfs.ext4 -q -F -L xdp-vm -d "$1" "$2" "${size_mib}M"
}

# boot_guest LOG KERNEL INITRD IMAGE [KERNEL ARGS...]: boots IMAGE once under
# qemu (TCG: this machine has no usable KVM), its serial console in LOG.
# GUEST_TIMEOUT bounds it; QEMU_PID is set while it runs, for a cleanup trap.
# The two vCPUs run on one host thread (thread=single): under QEMU 7.2's
# multi-threaded TCG, a vCPU executed the int3 of a text_poke that another
# had already finished, and XDP traffic through the kernel's XDP dispatcher
# while it was rewritten killed Debian's 6.1 and 6.12 guests ("Oops: int3",
# issue 24). Measured on 6.12 with the same kernel_bench loop: multi-threaded,
# a panic in the first of 12 runs (and, with the tools' fix, in the 8th and
# the 3rd); single-threaded, 12 of 12 runs and no kernel report
# (docs/testing.md). GUEST_ACCEL=tcg brings the multi-threaded TCG back.
boot_guest() {
    local log=$1 kernel=$2 initrd=$3 image=$4 start=$SECONDS
    shift 4
    timeout "${GUEST_TIMEOUT:-1200}" qemu-system-x86_64 -accel "${GUEST_ACCEL:-tcg,thread=single}" -cpu max -smp 2 -m 3072 \
        -display none -monitor none -no-reboot -serial "file:$log" \
        -kernel "$kernel" -initrd "$initrd" \
        -append "root=/dev/vda rw console=ttyS0 panic=-1 net.ifnames=0 $*" \
        -drive "file=$image,format=raw,if=virtio" -nic none &
    QEMU_PID=$!
    wait "$QEMU_PID" || true
    QEMU_PID=
    echo "guest ($(basename "$log")): $((SECONDS - start)) s"
}

# The test binaries' list and the init that runs them, inside the guest.
SUITE_LIST=/etc/xdp-suite.list
SUITE_INIT=/sbin/xdp-suite-init

# suite_stage ROOT: builds the workspace's tests on the host (cargo test
# --no-run, the binaries, kern/) and puts them into ROOT at the workspace's
# own absolute path: the test binaries find kern/ and target/debug/ there as
# they do here (CARGO_MANIFEST_DIR is compiled in). Installs what the tests
# run (scripts/setup.sh's packages and the guest's test packages) into ROOT
# and writes the init that runs every test binary as root with CI=true, one
# line per binary on the console, then powers off.
suite_stage() {
    local root=$1 ws list exe f
    ws=$(pwd -P)
    make -s -C kern
    cargo build --workspace --bins -q
    list=$(cargo test --workspace --no-run --message-format=json -q 2>/dev/null | python3 -c '
import json, os, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["profile"]["test"]:
        print(os.path.dirname(m["manifest_path"]), m["executable"])')
    [ -n "$list" ] || { echo "suite_stage: cargo listed no test binaries" >&2; return 1; }
    # The Prometheus test starts its own server: none at boot (masked before
    # the package could enable it).
    mkdir -p "$root/etc/systemd/system"
    ln -sf /dev/null "$root/etc/systemd/system/prometheus.service"
    # mmdebstrap leaves no package lists.
    in_root_of "$root" apt-get update -q >/dev/null
    # shellcheck disable=SC2046 # a package list, one word each
    in_root_of "$root" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        $(bash scripts/setup.sh --print-packages --guest-test) >/dev/null
    # The sources, the built objects and the binaries; not the rest of
    # target/. And .git: a test checks --version against `git rev-parse`.
    mkdir -p "$root$ws"
    { git ls-files -z --cached --others --exclude-standard; find kern -name '*.elf' -print0; printf '.git\0'; } |
        tar -c --null -T - | tar -x -C "$root$ws"
    mkdir -p "$root$ws/target/debug/deps"
    for f in target/debug/xdploader target/debug/statswatch; do
        objcopy --strip-debug "$f" "$root$ws/$f"
    done
    while read -r _ exe; do
        objcopy --strip-debug "$exe" "$root$exe"
    done <<<"$list"
    printf '%s\n' "$list" > "$root$SUITE_LIST"
    SUITE_EXPECTED=$(grep -c . <<<"$list")
    cat > "$root$SUITE_INIT" <<'INIT'
#!/bin/bash
# PID 1 of a kernel-suite guest (scripts/guest-lib.sh): the mounts a Debian
# system has, then every test binary of the workspace as root with CI=true
# (a skipped kernel test fails), from its crate's directory as cargo runs it.
# On the console, for a guest that dies to explain itself: "xdp-suite: start"
# before each binary, each test's result line as it ends, and (through
# XDP_TEST_KMSG, testkit::kernel) "xdp-test: start" in the kernel's own log
# as each kernel test begins; then one "xdp-suite: result" line per binary
# and a failing binary's whole output.
# Kernel command line: xdp_suite.only=BIN[,BIN] runs only those binaries,
# xdp_suite.args=ARG[,ARG] gives each binary those arguments (a test filter),
# xdp_suite.repeat=N runs the whole list N times in this boot, as
# scripts/soak-guest.sh uses them.
mountpoint -q /proc || mount -t proc proc /proc
mountpoint -q /sys || mount -t sysfs sysfs /sys
mountpoint -q /dev || mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /run
mount -t bpf bpf /sys/fs/bpf
mount -t cgroup2 cgroup2 /sys/fs/cgroup
hostname xdp-suite
ip link set lo up
export HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin CI=true XDP_TEST_KMSG=1
only= args=() repeat=1
for word in $(cat /proc/cmdline); do
    case $word in
        xdp_suite.only=*) only=",${word#*=}," ;;
        xdp_suite.args=*) IFS=, read -ra args <<<"${word#*=}" ;;
        xdp_suite.repeat=*) repeat=${word#*=} ;;
    esac
done
echo "xdp-suite: kernel $(uname -r)"
for _ in $(seq "$repeat"); do cat /etc/xdp-suite.list; done |
while read -r dir exe; do
    name=$(basename "$exe")
    name=${name%-*}
    [ -z "$only" ] || [[ $only == *",$name,"* ]] || continue
    echo "xdp-suite: start $name"
    start=$(date +%s)
    (cd "$dir" && timeout 1500 "$exe" "${args[@]}" </dev/null 2>&1) | tee /run/xdp-suite.out |
        grep -a --line-buffered -E '^test .* \.\.\. '
    rc=${PIPESTATUS[0]}
    result=$(grep -a '^test result:' /run/xdp-suite.out | tail -1)
    count() { grep -oE "[0-9]+ $1" <<<"$result" | cut -d' ' -f1; }
    passed=$(count passed) failed=$(count failed) ignored=$(count ignored)
    if [ "$rc" -ne 0 ]; then
        cat /run/xdp-suite.out
    fi
    echo "xdp-suite: result $name rc=$rc passed=${passed:-0} failed=${failed:-0} ignored=${ignored:-0} secs=$(( $(date +%s) - start ))"
done
echo "xdp-suite: done"
sync
echo o > /proc/sysrq-trigger
sleep 30
INIT
    chmod 0755 "$root$SUITE_INIT"
}

# suite_report LOG LABEL: what the suite's guest said, one line per test
# binary and a total, in SUITE_PASSED/SUITE_FAILED/SUITE_SKIPPED (and
# SUITE_RAN: "binaries that ran/binaries staged"). Returns 1
# unless all SUITE_EXPECTED binaries (suite_stage's count) ran and exited 0
# with nothing failed or skipped.
suite_report() {
    local log=$1 label=$2 expected=${SUITE_EXPECTED:?suite_stage first} got bad
    got=$(grep -ac '^xdp-suite: result ' "$log" || true)
    # shellcheck disable=SC2034 # read by the scripts that source this file
    SUITE_RAN="$got/$expected"
    grep -a '^xdp-suite: result ' "$log" | sed 's/^xdp-suite: result /  /'
    read -r SUITE_PASSED SUITE_FAILED SUITE_SKIPPED < <(grep -a '^xdp-suite: result ' "$log" |
        sed -E 's/.* passed=([0-9]+) failed=([0-9]+) ignored=([0-9]+).*/\1 \2 \3/' |
        awk '{p += $1; f += $2; s += $3} END {print p + 0, f + 0, s + 0}')
    bad=$(grep -a '^xdp-suite: result ' "$log" | grep -vc ' rc=0 ' || true)
    echo "$label: $SUITE_PASSED passed, $SUITE_FAILED failed, $SUITE_SKIPPED skipped; $got of $expected test binaries ran, $bad exited non-zero"
    local died=0
    guest_death_report "$log" || died=1
    [ "$died" -eq 0 ] && [ "$got" -eq "$expected" ] && [ "$bad" -eq 0 ] && [ "$SUITE_FAILED" -eq 0 ] &&
        [ "$SUITE_SKIPPED" -eq 0 ]
}

# The kernel's reports that start with one of these lines (an oops, a
# lockup, a panic; a WARNING is printed but fails nothing by itself).
# ("watchdog: BUG: soft lockup" is a BUG; "NMI watchdog: ... disabled" is not a report.)
KERNEL_REPORT_START='BUG: |Oops: |general protection fault|WARNING: |Kernel panic|Watchdog detected hard LOCKUP|INFO: rcu_|INFO: task .* blocked|Out of memory|UBSAN: |KASAN: '
KERNEL_FATAL='BUG: |Oops: |general protection fault|Kernel panic|hard LOCKUP|Out of memory'

# guest_death_report LOG: what a suite guest's console says of the kernel's
# own reports and of the tests that were running when the guest stopped.
# Prints each report whole, from its first line (KERNEL_REPORT_START) through
# its "---[ end" line or the panic, with RIP and the call trace; then, where
# the guest never said "xdp-suite: done", the binary that was running and
# the tests it had started (testkit's "xdp-test: start" in the kernel log)
# and not finished. Returns 1 where the kernel reported something fatal or
# the guest stopped before the end.
guest_death_report() {
    local log=$1 fatal=0 running
    if grep -aqE "$KERNEL_REPORT_START" "$log"; then
        echo "the guest's kernel reported (console: $log):"
        # Kernel lines only ("[ seconds] ..."), from each report's first line
        # to its end; at most 400 lines in all.
        awk -v start="$KERNEL_REPORT_START" '
            { sub(/\r$/, "") }
            /^\[ *[0-9]+\.[0-9]+\]/ {
                if (!inside && $0 ~ start) { inside = 1; lines = 0 }
                if (inside && printed < 400) { print "  " $0; printed++ }
                # A report ends with its end marker or the panic; 150 lines at most.
                if (inside && ($0 ~ /---\[ end/ || $0 ~ /Kernel panic - not syncing/ || ++lines >= 150)) inside = 0
            }' "$log"
        grep -aqE "$KERNEL_FATAL" "$log" && fatal=1
    fi
    if ! grep -aq '^xdp-suite: done' "$log"; then
        running=$(awk '{ sub(/\r$/, "") } /^xdp-suite: start / { bin = $3 } /^xdp-suite: result / { if ($3 == bin) bin = "" }
                       END { print bin }' "$log")
        echo "the guest stopped before the suite's end; running then: ${running:-no test binary}"
        if [ -n "$running" ]; then
            # Started (the kernel log's marker) and not ended (libtest's line).
            awk -v bin="$running" '
                { sub(/\r$/, "") }
                /^xdp-suite: start / { mine = ($3 == bin) }
                mine && / xdp-test: start / { t = $NF; if ($(NF - 1) == bin) started[t] = 1 }
                mine && /^test .* \.\.\. / { done[$2] = 1 }
                END { for (t in started) if (!(t in done)) print "  in flight: " bin " " t }' "$log" | sort
        fi
        fatal=1
    fi
    [ "$fatal" -eq 0 ]
}
