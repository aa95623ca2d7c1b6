#!/usr/bin/env bash
# Do our reference receivers agree with xdp-bench? Debian 12's xdp-bench
# (xdp-tools 1.3.1) fails to load on this machine's 6.18, so the comparison
# runs where it works: Debian 12's own kernel (6.1), in a guest under qemu.
# One guest, one sender (xdploader trafficgen, 64-byte UDP into a veth pair
# between two namespaces), and in turn, round after round, on the far end in
# native mode: `xdp-bench pass`, kern/bench_pass.elf, `xdp-bench drop`,
# kern/bench_drop.elf. xdp-bench counts what it receives itself (its
# "rx/s", per 1 s interval, median); ours from the stats map.
#
# TCG emulates every instruction, so the rates are a fraction of a real
# machine's: what the run is for is the ratio of ours to xdp-bench's, same
# guest, same sender, alternated. Appends its table to bench/results.md
# (or prints it only, with --print).
# Usage: sudo scripts/bench-xdp-bench.sh [--print]   (about 12 min here)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="${HOME:-/root}/.cargo/bin:$PATH"
# shellcheck source=scripts/guest-lib.sh
source scripts/guest-lib.sh
ROUNDS=${ROUNDS:-5}
SECS=${SECS:-6}

guest_workdir xdp-bench-guest
ROOT=$WORK/root

cargo build --release --workspace --bins -q
make -s -C kern
bash scripts/debian-rootfs.sh "$ROOT" bookworm
in_root_of "$ROOT" apt-get update -q >/dev/null
in_root_of "$ROOT" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    xdp-tools python3 >/dev/null
install -m 0755 target/release/xdploader target/release/statswatch "$ROOT/usr/local/bin/"
mkdir -p "$ROOT/opt/xdp"
cp kern/bench_pass.elf kern/bench_drop.elf "$ROOT/opt/xdp/"
cat > "$ROOT/sbin/xdp-bench-init" <<INIT
#!/bin/bash
# PID 1 of the comparison guest (scripts/bench-xdp-bench.sh).
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /run; mount -t tmpfs tmpfs /tmp; mount -t bpf bpf /sys/fs/bpf
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root
echo "xdp-bench-guest: kernel \$(uname -r), xdp-tools \$(dpkg-query -W -f '\${Version}' xdp-tools)"
ip netns add gen; ip netns add rx
ip -n gen link add lg0 type veth peer name lr0 netns rx
ip -n gen link set lg0 up; ip -n rx link set lr0 up
mac=\$(ip -n rx -br link show lr0 | awk '{print \$3}')
send() { ip netns exec gen xdploader trafficgen -i lg0 --duration $SECS --dst-mac "\$mac" --json; }
counted() {
    statswatch --json -file /sys/fs/bpf/rx/stats_map |
        python3 -c 'import json, sys; print(sum(a["packets"] for a in json.load(sys.stdin)["actions"]))'
}
for round in \$(seq $ROUNDS); do
    for mode in pass drop; do
        ip netns exec rx sh -c 'mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
            exec xdp-bench '"\$mode"' lr0 -i 1' > /tmp/xdp-bench.out 2>&1 &
        bench=\$!
        sleep 2
        sent=\$(send)
        kill -INT \$bench; wait \$bench
        # "Summary  1,234 rx/s ...": the intervals while the sender ran.
        rx=\$(grep -a 'rx/s' /tmp/xdp-bench.out | sed -E 's/.* ([0-9,]+) rx\/s.*/\1/; s/,//g' | sort -n |
            awk '{a[NR]=\$1} END {print a[int((NR+1)/2)] + 0}')
        echo "xdp-bench-guest: xdp-bench_\$mode \$rx \$(python3 -c 'import json, sys; print(json.loads(sys.argv[1])["mpps"] * 1e6)' "\$sent")"
        [ "\$rx" != 0 ] || sed 's/^/xdp-bench-guest: | /' /tmp/xdp-bench.out
        ip netns exec rx xdploader -file /opt/xdp/bench_\$mode.elf -i lr0 --pin-dir /sys/fs/bpf/rx \
            --mode native --no-peer-fix >/dev/null
        before=\$(counted); sent=\$(send); after=\$(counted)
        echo "xdp-bench-guest: ours_\$mode \$(python3 -c 'import json, sys; s = json.loads(sys.argv[1]); print((int(sys.argv[3]) - int(sys.argv[2])) / s["seconds"], s["mpps"] * 1e6)' "\$sent" "\$before" "\$after")"
        ip netns exec rx xdploader unload -i lr0 --pin-dir /sys/fs/bpf/rx >/dev/null
    done
done
echo "xdp-bench-guest: done"
sync
echo o > /proc/sysrq-trigger
sleep 30
INIT
chmod 0755 "$ROOT/sbin/xdp-bench-init"
cp -L "$ROOT/vmlinuz" "$ROOT/initrd.img" "$WORK/"
kernel=$(basename "$(readlink "$ROOT/vmlinuz")")
kernel=${kernel#vmlinuz-}
guest_image "$ROOT" "$WORK/guest.img"
rm -rf "$ROOT"
GUEST_TIMEOUT=${GUEST_TIMEOUT:-1500} boot_guest "$WORK/console.log" "$WORK/vmlinuz" "$WORK/initrd.img" \
    "$WORK/guest.img" init=/sbin/xdp-bench-init
# The console outlives the run, for what the guest printed besides.
cp "$WORK/console.log" /var/tmp/xdp-bench-guest.console.log
grep -a 'xdp-bench-guest:' "$WORK/console.log" | sed 's/.*xdp-bench-guest: //' > "$WORK/said"
cat "$WORK/said"
grep -q '^done' "$WORK/said" || { echo "bench-xdp-bench.sh: the guest did not finish (console: /var/tmp/xdp-bench-guest.console.log)" >&2; exit 1; }
median() { awk -v k="$1" -v c="$2" '$1 == k {print $c}' "$WORK/said" | sort -g | awk '{a[NR]=$1} END {printf "%.0f", a[int((NR+1)/2)]}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
declare -A rx sent
for k in xdp-bench_pass ours_pass xdp-bench_drop ours_drop; do rx[$k]=$(median "$k" 2); sent[$k]=$(median "$k" 3); done
table=$(cat <<MD

## Our reference receivers against xdp-bench (Debian 12's kernel, in a guest)

\`sudo scripts/bench-xdp-bench.sh\` on $(date -u +%Y-%m-%d): kernel $kernel under qemu (TCG, 2 vCPUs),
$(head -1 "$WORK/said" | sed 's/^kernel [^,]*, //'). One sender (\`xdploader trafficgen\`, 64-byte UDP) into a
veth pair; receivers in native mode, alternated, $ROUNDS rounds of $SECS s, medians. Emulated
rates: the ratio is the result.

| receiver | received pps | sent pps | received / sent | ours / xdp-bench |
|---|---|---|---|---|
| \`xdp-bench pass\` | ${rx[xdp-bench_pass]} | ${sent[xdp-bench_pass]} | $(ratio "${rx[xdp-bench_pass]}" "${sent[xdp-bench_pass]}") | |
| \`kern/bench_pass.c\` | ${rx[ours_pass]} | ${sent[ours_pass]} | $(ratio "${rx[ours_pass]}" "${sent[ours_pass]}") | **$(ratio "${rx[ours_pass]}" "${rx[xdp-bench_pass]}")** |
| \`xdp-bench drop\` | ${rx[xdp-bench_drop]} | ${sent[xdp-bench_drop]} | $(ratio "${rx[xdp-bench_drop]}" "${sent[xdp-bench_drop]}") | |
| \`kern/bench_drop.c\` | ${rx[ours_drop]} | ${sent[ours_drop]} | $(ratio "${rx[ours_drop]}" "${sent[ours_drop]}") | **$(ratio "${rx[ours_drop]}" "${rx[xdp-bench_drop]}")** |

xdp-bench's figure is the median of its own 1 s intervals while the sender ran; ours is
counted over exactly the sender's run. The sender's rate itself moves from round to round
under TCG, so received / sent is where the two agree or not.
MD
)
printf '%s\n' "$table"
[ "${1:-}" = --print ] || printf '%s\n' "$table" >> bench/results.md
