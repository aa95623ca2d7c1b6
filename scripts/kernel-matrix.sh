#!/usr/bin/env bash
# kernel-matrix.sh: the whole test suite on every kernel we test, on demand
# (about 70 minutes on a 2-core machine without KVM). Root and network needed.
#   - this machine's kernel: `cargo test --workspace`, as the test command
#     runs it;
#   - Debian 12's 6.1 and Debian 13's 6.12: scripts/provision-test.sh with
#     XDP_VM_RELEASE bookworm and trixie, provisioning included (the two
#     Vagrant boxes), then the suite in that guest;
#   - Debian 11's 5.10, the oldest kernel with XDP bpf_links: its kernel
#     booted with the Debian 12 system (the binaries built here need Debian
#     12's glibc), the suite only. 5.10 has no xdp.frags and no live-frames
#     test runs: what needs them fails there, each with one line naming what
#     the kernel lacks; the table shows how many.
# Writes the table (kernel × passed/failed/skipped, and the time) into
# docs/testing.md between the kernel-matrix markers, and prints it.
# XDP_MATRIX="host 6.1 6.12 5.10" chooses the rows (all by default); the
# docs/testing.md keeps the rows not run. XDP_MATRIX_EXTRA=FILE adds rows another
# run of provision-test.sh wrote with XDP_SUITE_RESULTS=FILE.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
# shellcheck source=scripts/guest-lib.sh
. scripts/guest-lib.sh
ROWS=${XDP_MATRIX-host 6.1 6.12 5.10}  # set but empty: only XDP_MATRIX_EXTRA's rows
MIRROR=${XDP_VM_MIRROR:-http://deb.debian.org}

fail() { echo "kernel-matrix: FAILED: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || fail "run as root (the kernel tests, chroot, mounts)"

guest_workdir xdp-kernel-matrix
RESULTS=$WORK/results   # lines: "kernel passed failed skipped seconds ran/staged system"
# The consoles and logs of the last run stay here (the guests' own words).
LOGS=/var/tmp/xdp-kernel-matrix-logs
mkdir -p "$LOGS"
: > "$RESULTS"

# host: the suite as the test command runs it, here.
host_row() {
    local start=$SECONDS log=$WORK/host.log
    make -s -C kern
    cargo build --workspace --bins -q
    CI=true cargo test --workspace --no-fail-fast >"$log" 2>&1 || true
    read -r p f s < <(grep -a '^test result:' "$log" |
        sed -E 's/.* ([0-9]+) passed; ([0-9]+) failed; ([0-9]+) ignored.*/\1 \2 \3/' |
        awk '{p += $1; f += $2; s += $3} END {print p + 0, f + 0, s + 0}')
    echo "$(uname -r) $p $f $s $((SECONDS - start)) - this machine" >> "$RESULTS"
}

# debian RELEASE LABEL: provision-test.sh in that release, suite included;
# it writes its row, pass or fail, once the suite has run.
debian_row() {
    local release=$1 label=$2 before
    before=$(wc -l < "$RESULTS")
    XDP_VM_RELEASE=$release XDP_SUITE_RESULTS=$RESULTS XDP_SUITE_LOG=$LOGS/suite-$release.log \
        bash scripts/provision-test.sh > "$LOGS/provision-$release.log" 2>&1 || true
    if [ "$(wc -l < "$RESULTS")" -eq "$before" ]; then
        tail -30 "$LOGS/provision-$release.log"
        echo "kernel-matrix: $label: provision-test failed before the suite (above)" >&2
        echo "$release - - - - - $label" >> "$RESULTS"
    fi
}

# bullseye_row: Debian 11's kernel booted with a Debian 12 system.
bullseye_row() {
    local root=$WORK/rootfs-5.10 pkg version start
    bash scripts/debian-rootfs.sh "$root" bookworm > "$WORK/rootfs-5.10.log" 2>&1 ||
        { tail -20 "$WORK/rootfs-5.10.log"; fail "the Debian 12 root file system"; }
    cp -L /etc/resolv.conf "$root/etc/resolv.conf"
    echo "deb $MIRROR/debian bullseye main" > "$root/etc/apt/sources.list.d/bullseye.list"
    in_root_of "$root" apt-get update -q > "$WORK/kernel-5.10.log" 2>&1
    pkg=$(in_root_of "$root" apt-cache search --names-only '^linux-image-5\.10\.0-[0-9]+-amd64$' |
        cut -d' ' -f1 | sort -V | tail -1)
    [ -n "$pkg" ] || fail "no linux-image-5.10 in bullseye"
    in_root_of "$root" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$pkg" \
        >> "$WORK/kernel-5.10.log" 2>&1 || { tail -20 "$WORK/kernel-5.10.log"; fail "installing $pkg"; }
    rm "$root/etc/apt/sources.list.d/bullseye.list"
    version=${pkg#linux-image-}
    cp "$root/boot/vmlinuz-$version" "$root/boot/initrd.img-$version" "$WORK/"
    suite_stage "$root"
    guest_image "$root" "$WORK/guest-5.10.img"
    rm -rf "$root"
    start=$SECONDS
    GUEST_TIMEOUT=2400 boot_guest "$WORK/suite-5.10.log" "$WORK/vmlinuz-$version" "$WORK/initrd.img-$version" \
        "$WORK/guest-5.10.img" "init=$SUITE_INIT"
    cp "$WORK/suite-5.10.log" "$LOGS/suite-5.10.log"
    suite_report "$WORK/suite-5.10.log" "kernel $version" || true
    echo "$version $SUITE_PASSED $SUITE_FAILED $SUITE_SKIPPED $((SECONDS - start)) $SUITE_RAN Debian 11's kernel, Debian 12's system" >> "$RESULTS"
    # Each failing test's complaint: what 5.10 lacks.
    grep -a '^xdploader: \|^statswatch: \|panicked at' "$WORK/suite-5.10.log" | sort | uniq -c | head -40 || true
}

# Rows another run measured: a test command's provision-test.sh run with
# XDP_SUITE_RESULTS=FILE (the 6.1 row), given as XDP_MATRIX_EXTRA=FILE.
if [ -n "${XDP_MATRIX_EXTRA:-}" ]; then
    cat "$XDP_MATRIX_EXTRA" >> "$RESULTS"
fi
for row in $ROWS; do
    echo "kernel-matrix: $row"
    case $row in
        host) host_row ;;
        6.1) debian_row bookworm "Debian 12 (debian/bookworm64)" ;;
        6.12) debian_row trixie "Debian 13 (debian/trixie64)" ;;
        5.10) bullseye_row ;;
        *) fail "unknown row $row (host, 6.1, 6.12, 5.10)" ;;
    esac
done

# The table in docs/testing.md: the rows run now replace those of the same system,
# the others stay (XDP_MATRIX may have run only some).
python3 - "$RESULTS" "$(date -u +%Y-%m-%d)" "$(git rev-parse --short=12 HEAD)" <<'EOF'
import sys
results, day, commit = sys.argv[1:]
begin, end = "<!-- kernel-matrix: begin -->\n", "<!-- kernel-matrix: end -->"
readme = open("docs/testing.md").read()
if begin not in readme or end not in readme:
    sys.exit("kernel-matrix: docs/testing.md has no kernel-matrix markers")
head, rest = readme.split(begin, 1)
old, tail = rest.split(end, 1)
rows = {}
for line in old.splitlines():
    cells = [c.strip() for c in line.strip().strip("|").split("|")]
    if len(cells) == 8 and cells[0] not in ("kernel", "---"):
        rows[cells[1]] = cells
for line in open(results):
    kernel, passed, failed, skipped, secs, ran, label = line.split(" ", 6)
    label = label.strip()
    took = "-" if secs == "-" else f"{int(secs) // 60} min {int(secs) % 60} s"
    rows[label] = [kernel, label, passed, failed, skipped, ran, took, f"{day}, {commit}"]
table = ("| kernel | system | passed | failed | skipped | test binaries run | time | run |\n"
         "|---|---|---|---|---|---|---|---|\n")
table += "".join("| " + " | ".join(r) + " |\n" for r in rows.values())
open("docs/testing.md", "w").write(head + begin + table + end + tail)
print(table, end="")
EOF
echo "kernel-matrix: docs/testing.md updated"
