#!/usr/bin/env bash
# Loader benchmark: the whole job (load kern/xdp.elf, fill jump table and
# devmap, pin, attach) by xdploader and by bpftool, run alternately on the same
# veth so both see the same machine state, plus the kernel's attach alone as
# the floor; then the programs' own cost per packet (xdploader bench).
# Writes medians, ratios, peak RSS and the per-packet table to bench/results.md.
# Usage: sudo scripts/bench.sh [RUNS]   (default 40)
#        sudo scripts/bench.sh --smoke  every benchmark, tiny, results thrown
#                                       away (the test command runs it so none rots)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="${HOME:-/root}/.cargo/bin:$PATH"
RESULTS=bench/results.md
BATCHES=${BATCHES:-400}
REPEAT=${REPEAT:-2000}
LIVE_SECS=${LIVE_SECS:-3}
LIVE_ROUNDS=${LIVE_ROUNDS:-5}
if [ "${1:-}" = --smoke ]; then
    RUNS=2 WATCH_SECS=1 BATCHES=3 REPEAT=10 LIVE_SECS=0.3 LIVE_ROUNDS=1
    RESULTS=$(mktemp /tmp/xdpbench-results-XXXXXX.md)
    shift
fi
RUNS=${RUNS:-${1:-40}}


XDPLOADER=$PWD/target/release/xdploader
STATSWATCH=$PWD/target/release/statswatch
WATCH_SECS=${WATCH_SECS:-20}
ELF=$PWD/kern/xdp.elf
FLOOR_ELF=$PWD/kern/tests/pass_nofrags.elf

# A u32 as bpftool's four little-endian key/value bytes.
le32() { printf '%d %d %d %d' $(($1 & 255)) $(($1 >> 8 & 255)) $(($1 >> 16 & 255)) $(($1 >> 24 & 255)); }

# shellcheck disable=SC2317  # the job functions are called indirectly, as "${tool}_job"
measure() { # runs inside the namespace: prints "<tool> <microseconds>" lines and RSS
    # kern/'s maps ask to be pinned by name, which libbpf (bpftool) does in
    # /sys/fs/bpf: a bpffs there, private to `ip netns exec`'s fresh /sys.
    mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
    # --no-peer-fix: bpftool does not touch the veth peer either, so the jobs match.
    xdploader_job() { "$XDPLOADER" -file "$ELF" -i "$IF" --pin-dir "$PINS" --no-peer-fix >/dev/null; }
    xdploader_undo() { "$XDPLOADER" unload -i "$IF" --pin-dir "$PINS" >/dev/null; }
    # bpftool's way to the same end state: load and pin everything (the maps
    # pin themselves by name, as they ask, in /sys/fs/bpf), fill the slots and
    # the devmap, attach (netlink: bpftool cannot pin an XDP link).
    MAPS=/sys/fs/bpf
    bpftool_job() {
        bpftool prog loadall "$ELF" "$PINS/progs" type xdp
        bpftool map update pinned "$MAPS/jmp_map" key 1 0 0 0 value pinned "$PINS/progs/xdp_skeleton_1"
        bpftool map update pinned "$MAPS/jmp_map" key 2 0 0 0 value pinned "$PINS/progs/xdp_skeleton_2"
        # shellcheck disable=SC2046
        bpftool map update pinned "$MAPS/if_redirect" key $(le32 "$IFINDEX") value $(le32 "$IFINDEX")
        bpftool net attach xdpdrv pinned "$PINS/progs/xdp_skeleton" dev "$IF"
    }
    unpin_maps() { rm -f "$MAPS"/{jmp_map,if_redirect,scratch_map,stats_map}; }
    bpftool_undo() { bpftool net detach xdpdrv dev "$IF"; rm -rf "${PINS:?}/progs"; unpin_maps; }
    # The floor: the kernel's attach of an already loaded program, nothing else.
    bpftool prog load "$FLOOR_ELF" "$PINS/floor" type xdp
    unpin_maps  # the floor's own stats_map: pinned by name, not needed
    floor_job() { bpftool net attach xdpdrv pinned "$PINS/floor" dev "$IF"; }
    floor_undo() { bpftool net detach xdpdrv dev "$IF"; }
    # Microseconds from bash's own clock: no process started to read it
    # (a `date` on each side was as costly and as noisy as the jobs' spread).
    # $EPOCHREALTIME is "seconds.micros"; its 6-digit fraction makes the
    # dot-less string the time in microseconds.
    # How cost grows: the same object on 32 interfaces in one call; a
    # reload (the program replaced on the pinned link) of a loaded one; an
    # object of 32 programs chained by tail calls against one of 3.
    many_job() { "$XDPLOADER" -file "$ELF" -i "$IFS32" --pin-dir "$PINS" --no-peer-fix >/dev/null; }
    many_undo() { "$XDPLOADER" unload -i "$IFS32" --pin-dir "$PINS" >/dev/null; }
    chain3_job() { "$XDPLOADER" -file "$CHAIN3" -i "$IF" --pin-dir "$PINS" --no-peer-fix >/dev/null; }
    chain3_undo() { xdploader_undo; }
    chain32_job() { "$XDPLOADER" -file "$CHAIN32" -i "$IF" --pin-dir "$PINS" --no-peer-fix >/dev/null; }
    chain32_undo() { xdploader_undo; }
    reload_job() { xdploader_job; }
    reload_undo() { xdploader_undo; }
    local i tool start end
    for ((i = 0; i < RUNS; i++)); do
        for tool in xdploader bpftool floor many reload chain3 chain32; do
            [ "$tool" = reload ] && xdploader_job
            start=${EPOCHREALTIME/./}; "${tool}_job"; end=${EPOCHREALTIME/./}
            echo "$tool $((end - start))"
            "${tool}_undo" >/dev/null 2>&1
        done
        # Starting a process from bash, measured the same way, to subtract.
        start=${EPOCHREALTIME/./}; /bin/true; end=${EPOCHREALTIME/./}; echo "spawn $((end - start))"
    done
    echo "rss_xdploader $(/usr/bin/time -f %M "$XDPLOADER" -file "$ELF" -i "$IF" --pin-dir "$PINS" --no-peer-fix 2>&1 >/dev/null | tail -1)"
    xdploader_undo
    echo "rss_bpftool $(/usr/bin/time -f %M bpftool prog loadall "$ELF" "$PINS/progs" type xdp 2>&1 | tail -1)"
    rm -rf "${PINS:?}/progs"; unpin_maps
    # statswatch's cost while watching at 1 s: CPU time (getrusage, start-up
    # included) over wall time, as a percentage of one core. Python's fork is
    # charged to the child, so /bin/true measured the same way is subtracted.
    watch_cpu_pct() { # MAP: statswatch watching it at 1 s, % of one core
        python3 -c '
import resource, subprocess, sys, time
def cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime
before = cpu(); subprocess.run(["/bin/true"], check=True); fork = cpu() - before
before = cpu(); start = time.monotonic()
subprocess.run([sys.argv[1], "-file", sys.argv[2], "--interval", "1", "--count", sys.argv[3]],
               stdout=subprocess.DEVNULL, check=True)
wall = time.monotonic() - start
print(f"{max(cpu() - before - fork, 0) / wall * 100:.3f}")' "$STATSWATCH" "$1" "$WATCH_SECS"
    }
    xdploader_job
    echo "statswatch_cpu_pct $(watch_cpu_pct "$PINS/stats_map")"
    # One read of the map: statswatch's one-shot against bpftool's dump of
    # the same pin, alternately.
    for ((i = 0; i < RUNS; i++)); do
        start=${EPOCHREALTIME/./}; "$STATSWATCH" -file "$PINS/stats_map" >/dev/null; end=${EPOCHREALTIME/./}
        echo "read_statswatch $((end - start))"
        start=${EPOCHREALTIME/./}; "$STATIC_STATSWATCH" -file "$PINS/stats_map" >/dev/null; end=${EPOCHREALTIME/./}
        echo "read_statswatch_static $((end - start))"
        start=${EPOCHREALTIME/./}; bpftool map dump pinned "$PINS/stats_map" >/dev/null; end=${EPOCHREALTIME/./}
        echo "read_bpftool $((end - start))"
    done
    xdploader_undo
    # A wide map: 4,096 entries of the stats record (bpftool creates it), watched
    # at 1 s, and scraped by Prometheus's client as often as it can.
    bpftool map create "$PINS/wide" type percpu_array key 4 value 16 entries 4096 name wide
    echo "wide_cpu_pct $(watch_cpu_pct "$PINS/wide")"
    ip link set lo up  # the benchmark's own namespace: its loopback starts down
    "$STATSWATCH" --prometheus 127.0.0.1:9499 -file "$PINS/wide" >/dev/null 2>&1 &
    local exporter=$!
    python3 -c '
import sys, time, urllib.request
url = "http://127.0.0.1:9499/metrics"
for _ in range(100):
    try:
        urllib.request.urlopen(url).read(); break
    except OSError:
        time.sleep(0.05)
for _ in range(int(sys.argv[1])):
    start = time.monotonic()
    body = urllib.request.urlopen(url).read()
    print("scrape_us", int((time.monotonic() - start) * 1e6))
print("scrape_bytes", len(body))' "$RUNS"
    kill "$exporter"; wait "$exporter" 2>/dev/null || true
    rm -f "$PINS/wide"
}

if [ "${1:-}" = --inside ]; then
    measure
    exit 0
fi

bash scripts/setup.sh
command -v /usr/bin/time >/dev/null || { apt-get install -y -qq time >/dev/null; }
command -v python3 >/dev/null || { apt-get install -y -qq python3-minimal >/dev/null; }
cargo build --release --workspace --bins -q
# As the .deb ships it: static-pie (scripts/build-static.sh says why).
STATIC_STATSWATCH=$PWD/$(bash scripts/build-static.sh)/statswatch
make -s -C kern

NS=xbench$$; IF=xb$$
PINS=$(mktemp -d /tmp/xdpbench-XXXXXX)
cleanup() {
    umount -l "$PINS" 2>/dev/null || true; rmdir "$PINS" 2>/dev/null || true
    ip netns del "$NS" 2>/dev/null || true
}
trap cleanup EXIT
mount -t bpf bpf "$PINS"
ip netns add "$NS"
ip -n "$NS" link add "$IF" type veth peer name "${IF}p"
ip -n "$NS" link set "$IF" up; ip -n "$NS" link set "${IF}p" up
IFS32=$IF
for ((i = 1; i < 32; i++)); do
    ip -n "$NS" link add "$IF$i" type veth peer name "$IF${i}p"
    ip -n "$NS" link set "$IF$i" up; ip -n "$NS" link set "$IF${i}p" up
    IFS32=$IFS32,$IF$i
done
IFINDEX=$(ip netns exec "$NS" cat "/sys/class/net/$IF/ifindex")
CHAIN3=$PWD/kern/bench_chain.elf CHAIN32=$PWD/kern/bench_chain32.elf
export RUNS XDPLOADER STATSWATCH STATIC_STATSWATCH WATCH_SECS ELF FLOOR_ELF CHAIN3 CHAIN32 IF IFS32 PINS IFINDEX
ip netns exec "$NS" bash "$0" --inside > "$PINS.samples" 2>"$PINS.err" || { cat "$PINS.err" >&2; rm -f "$PINS.samples" "$PINS.err"; exit 1; }

median() { awk -v k="$1" '$1 == k {print $2}' "$PINS.samples" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
declare -A med
for tool in xdploader bpftool floor spawn many reload chain3 chain32; do med[$tool]=$(median "$tool"); done
# Per run: (32 interfaces - one) / 31, then the median: the two jobs of one
# run see the same machine, which a difference of medians does not. The
# same for 32 programs against 3.
per_run_median() { # A B DIVISOR: median over runs of (B - A) / DIVISOR, in ms
    awk -v a="$1" -v b="$2" -v d="$3" '$1 == a { x = $2 } $1 == b { print (($2 - x) / d) / 1000 }' "$PINS.samples" |
        sort -g | awk '{a[NR]=$1} END {printf "%.2f", a[int((NR+1)/2)]}'
}
per_extra_if=$(per_run_median xdploader many 31)
per_extra_prog=$(per_run_median chain3 chain32 29)
rss_xdploader=$(median rss_xdploader); rss_bpftool=$(median rss_bpftool)
statswatch_cpu=$(median statswatch_cpu_pct)
wide_cpu=$(median wide_cpu_pct)
read_statswatch=$(median read_statswatch); read_bpftool=$(median read_bpftool)
read_statswatch_static=$(median read_statswatch_static)
scrape_ms=$(median scrape_us | awk '{printf "%.2f", $1 / 1000}')
scrape_kib=$(median scrape_bytes | awk '{printf "%.0f", $1 / 1024}')
rm -f "$PINS.samples" "$PINS.err"
net=${med[spawn]}
# bpftool's job is five processes: it pays the spawn five times, as it would in a script.
ms() { awk -v us="$1" -v net="$net" 'BEGIN { printf "%.1f", (us - net) / 1000 }'; }
ratio() { awk -v a="$1" -v b="$2" -v net="$net" 'BEGIN { printf "%.2f", (a - net) / (b - net) }'; }

# What hiding the kernel's BTF saves: EbpfLoader::new() with and without it.
cargo build -q --release -p xdp-core --example kernel_btf_cost
btf_cost=target/release/examples/kernel_btf_cost
btf_parsed=$("$btf_cost")
# shellcheck disable=SC2016 # $0 is expanded by the inner sh
btf_hidden=$(unshare -m sh -c 'mount --bind /dev/null /sys/kernel/btf/vmlinux && "$0"' "$btf_cost")

# The programs' own cost per packet: BPF_PROG_TEST_RUN against an empty
# XDP_PASS program in the same batches (xdploader bench --json).
perpacket() { # [NETNS] OBJECT BENCH-ARGS...: markdown rows
    local in=()
    [ -f "$1" ] || { in=(ip netns exec "$1"); shift; }
    local object=$1; shift
    "${in[@]}" target/release/xdploader bench -file "$object" --batches "$BATCHES" --repeat "$REPEAT" --json "$@" |
        python3 -c '
import json, sys
r = json.load(sys.stdin)
for x in r["results"]:
    note = " (%d runs per batch: it rewrites the frame)" % x["repeat"] if x.get("note") else ""
    prog, floor = x["program_ns"], x["floor_ns"]
    cells = [sys.argv[1], x["frame"], x["bytes"], x["verdict"] + note,
             "%.0f" % prog["p50"], "%.0f" % prog["p99"], "%.0f" % floor["p50"],
             "**%.0f**" % x["own_ns"], "%.1f" % x["mpps"]]
    print("| " + " | ".join(str(c) for c in cells) + " |")
' "$(basename "$object")"
}
# The router's FIB hit: frames arrive on rt0 of a namespace that routes
# their destinations out of rt1 to a neighbour it knows (the built-in
# frames go to 10.2.2.1 and fd00::1).
PP=xpp$$
trap 'cleanup; ip netns del "$PP" 2>/dev/null || true' EXIT
ip netns add "$PP"
for l in rt0 rt1; do ip -n "$PP" link add "$l" type veth peer name "${l}p"; ip -n "$PP" link set "$l" up; ip -n "$PP" link set "${l}p" up; done
ip -n "$PP" addr add 10.2.2.3/24 dev rt0; ip -n "$PP" addr add 10.9.9.1/24 dev rt1
ip -n "$PP" route add 10.2.2.1/32 via 10.9.9.2 dev rt1
ip -n "$PP" neigh add 10.9.9.2 lladdr 52:54:00:00:09:02 dev rt1 nud permanent
ip -n "$PP" -6 addr add fd00::3/64 dev rt0 nodad; ip -n "$PP" -6 addr add fd09::1/64 dev rt1 nodad
ip -n "$PP" -6 route add fd00::1/128 via fd09::2 dev rt1
ip -n "$PP" -6 neigh add fd09::2 lladdr 52:54:00:00:09:02 dev rt1 nud permanent
ip netns exec "$PP" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
perpacket_rows=$(
    perpacket kern/xdp.elf --sizes 64,1500,9000
    perpacket kern/bench_chain.elf --frames ipv4-udp --sizes 64
    perpacket kern/echo.elf --frames ipv4-icmp,ipv6-udp --sizes 64,1500
    perpacket "$PP" kern/redirect.elf -i rt0,rt1 --frames ipv4-udp,ipv6-udp --sizes 64,1500
    perpacket "$PP" kern/bench_fib.elf -i rt0 --frames ipv4-udp,ipv6-udp --sizes 64
)
ip netns del "$PP"

# Live packet rates: xdploader trafficgen (live-frames test runs, one
# sender thread) into veth pairs between namespaces, the programs in native
# mode; received packets per second from the counting program at the far
# end. Every receiver of a round runs once, in turn, round after round.
#   pair:   GEN lg0 <-> lr0 RX               (pass, drop, the skeleton; echo, tx)
#   router: GEN2 lh0 <-> lt0 RT lt1 <-> ls0 SINK   (redirect, redirect-map, ip_forward)
GEN=xlg$$ RX=xlr$$ GEN2=xlh$$ RT=xlt$$ SINK=xls$$
LIVE_PINS=$(mktemp -d /tmp/xdplive-XXXXXX)
live_cleanup() {
    umount -l "$LIVE_PINS" 2>/dev/null || true; rm -rf "$LIVE_PINS" 2>/dev/null || true
    for ns in "$GEN" "$RX" "$GEN2" "$RT" "$SINK"; do ip netns del "$ns" 2>/dev/null || true; done
}
trap 'cleanup; live_cleanup' EXIT
mount -t bpf bpf "$LIVE_PINS"
for ns in "$GEN" "$RX" "$GEN2" "$RT" "$SINK"; do ip netns add "$ns"; done
ip -n "$GEN" link add lg0 type veth peer name lr0 netns "$RX"
ip -n "$GEN" link set lg0 up; ip -n "$RX" link set lr0 up
ip -n "$RX" addr add 10.2.2.1/24 dev lr0; ip -n "$GEN" addr add 10.2.2.2/24 dev lg0
ip -n "$GEN2" link add lh0 type veth peer name lt0 netns "$RT"
ip -n "$RT" link add lt1 type veth peer name ls0 netns "$SINK"
ip -n "$GEN2" link set lh0 up; ip -n "$RT" link set lt0 up; ip -n "$RT" link set lt1 up; ip -n "$SINK" link set ls0 up
ip -n "$GEN2" addr add 10.3.1.2/24 dev lh0; ip -n "$RT" addr add 10.3.1.1/24 dev lt0
ip -n "$RT" addr add 10.3.2.1/24 dev lt1; ip -n "$SINK" addr add 10.3.2.2/24 dev ls0
mac_of() { ip -n "$1" -br link show "$2" | awk '{print $3}'; }
ip -n "$RT" neigh replace 10.3.2.2 lladdr "$(mac_of "$SINK" ls0)" dev lt1 nud permanent
ip netns exec "$RT" sysctl -qw net.ipv4.ip_forward=1
# With no XDP program on lt0 (the kernel forwarding), a veth takes the
# sender's XDP_TX frames only with GRO on.
ip netns exec "$RT" ethtool -K lt0 gro on >/dev/null
rx_mac=$(mac_of "$RX" lr0); rt_mac=$(mac_of "$RT" lt0)
lt1_ifindex=$(ip netns exec "$RT" cat /sys/class/net/lt1/ifindex)
load_in() { # NS PIN-DIR OBJECT IF[,IF]
    ip netns exec "$1" target/release/xdploader -file "$3" -i "$4" --pin-dir "$LIVE_PINS/$2" \
        --mode native --no-peer-fix >/dev/null
}
unload_in() { ip netns exec "$1" target/release/xdploader unload -i "$3" --pin-dir "$LIVE_PINS/$2" >/dev/null; }
counted() { # PIN-DIR [ACTION]: frames its stats_map counted (all verdicts, or one)
    target/release/statswatch --json -file "$LIVE_PINS/$1/stats_map" |
        python3 -c 'import json, sys
a = sys.argv[1] if len(sys.argv) > 1 else ""
print(sum(x["packets"] for x in json.load(sys.stdin)["actions"] if a in ("", x["action"])))' "${2:-}"
}
live_samples=$(mktemp /tmp/xdplive-samples-XXXXXX)
sample() { # NAME BEFORE AFTER SENT-JSON [BEFORE2 AFTER2]: one line of Mpps
    python3 -c 'import json, sys
s = json.loads(sys.argv[4]); t = s["seconds"]
extra = [(int(sys.argv[6]) - int(sys.argv[5])) / t / 1e6] if len(sys.argv) > 6 else []
print(sys.argv[1], (int(sys.argv[3]) - int(sys.argv[2])) / t / 1e6, s["mpps"], *extra)' "$@" >> "$live_samples"
}
send() { # NS IF DST-MAC [trafficgen args]: trafficgen's JSON
    local ns=$1 ifname=$2 mac=$3; shift 3
    ip netns exec "$ns" target/release/xdploader trafficgen -i "$ifname" --duration "$LIVE_SECS" \
        --dst-mac "$mac" --json "$@"
}
load_in "$SINK" sink kern/bench_drop.elf ls0
RECEIVERS=(bench_pass xdp bench_drop xdp_drop)
for ((round = 0; round < LIVE_ROUNDS; round++)); do
    for rx in "${RECEIVERS[@]}"; do
        load_in "$RX" rx "kern/$rx.elf" lr0
        before=$(counted rx); sent=$(send "$GEN" lg0 "$rx_mac"); after=$(counted rx)
        sample "$rx" "$before" "$after" "$sent"
        unload_in "$RX" rx lr0
    done
    # XDP_TX responders: ICMP echo requests in, replies counted on their
    # way back by a counting program on the sender's own veth.
    load_in "$GEN" gen kern/bench_drop.elf lg0
    for rx in echo bench_tx; do
        load_in "$RX" rx "kern/$rx.elf" lr0
        before=$(counted rx XDP_TX); back_before=$(counted gen)
        sent=$(send "$GEN" lg0 "$rx_mac" --icmp)
        after=$(counted rx XDP_TX); back_after=$(counted gen)
        sample "$rx" "$before" "$after" "$sent" "$back_before" "$back_after"
        unload_in "$RX" rx lr0
    done
    unload_in "$GEN" gen lg0
    # The router between two namespaces, the redirect-map reference on the
    # same path, and the kernel's own forwarding with no XDP on the router.
    for rt in redirect bench_redirect forward; do
        if [ "$rt" != forward ]; then
            load_in "$RT" rt "kern/$rt.elf" lt0,lt1
            if [ "$rt" = bench_redirect ]; then
                # shellcheck disable=SC2046
                bpftool map update pinned "$LIVE_PINS/rt/bench_egress" key 0 0 0 0 value $(le32 "$lt1_ifindex")
            fi
        fi
        before=$(counted sink)
        sent=$(send "$GEN2" lh0 "$rt_mac" --src 10.3.1.2 --dst 10.3.2.2)
        after=$(counted sink)
        sample "$rt" "$before" "$after" "$sent"
        [ "$rt" = forward ] || unload_in "$RT" rt lt0,lt1
    done
done
unload_in "$SINK" sink ls0
live_median() { awk -v k="$1" -v c="$2" '$1 == k {print $c}' "$live_samples" | sort -g | awk '{a[NR]=$1} END {printf "%.2f", a[int((NR+1)/2)]}'; }
declare -A rx_mpps sent_mpps back_mpps
for rx in "${RECEIVERS[@]}" echo bench_tx redirect bench_redirect forward; do
    rx_mpps[$rx]=$(live_median "$rx" 2); sent_mpps[$rx]=$(live_median "$rx" 3)
done
for rx in echo bench_tx; do back_mpps[$rx]=$(live_median "$rx" 4); done
rm -f "$live_samples"
live_ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }

mkdir -p "$(dirname "$RESULTS")"
# scripts/bench-exporter.sh writes a section of its own: kept as it is.
exporter_section=$(sed -n '/^<!-- bench-exporter: begin -->$/,/^<!-- bench-exporter: end -->$/p' bench/results.md 2>/dev/null || true)
# And scripts/bench-capture.sh.
capture_section=$(sed -n '/^<!-- bench-capture: begin -->$/,/^<!-- bench-capture: end -->$/p' bench/results.md 2>/dev/null || true)
cat > "$RESULTS" <<MD
# Loader benchmark

\`sudo scripts/bench.sh $RUNS\` on $(date -u +%Y-%m-%d), kernel $(uname -r), $(nproc) CPUs.
The same job (load \`kern/xdp.elf\`, fill the two jump-table slots and the devmap, pin, attach
natively to a veth) run alternately by each tool, $RUNS times. Medians, wall clock per
process. The cost of starting one process from bash (${net} µs) is subtracted from each.

| job | median ms | vs xdploader | peak RSS KiB |
|---|---|---|---|
| xdploader (whole job, link pinned) | $(ms "${med[xdploader]}") | 1.00 | $rss_xdploader |
| bpftool (loadall + 3 map updates + net attach: 5 processes) | $(ms "${med[bpftool]}") | $(ratio "${med[bpftool]}" "${med[xdploader]}") | $rss_bpftool (loadall alone) |
| floor: bpftool net attach of a loaded program | $(ms "${med[floor]}") | $(ratio "${med[floor]}" "${med[xdploader]}") | |

xdploader / floor: **$(ratio "${med[xdploader]}" "${med[floor]}")×** the kernel's attach alone.

How it grows (medians of the runs' own differences):

- the same job on 32 interfaces in one call: $(ms "${med[many]}") ms, so **${per_extra_if} ms per extra
  interface** (the kernel's attach alone, from a process: $(ms "${med[floor]}") ms);
- \`kern/bench_chain32.c\`, 32 programs chained by tail calls (31 slots filled), against
  \`kern/bench_chain.c\`, 3 programs: $(ms "${med[chain32]}") ms against $(ms "${med[chain3]}") ms, so
  **${per_extra_prog} ms per extra program** (loaded, verified, put in its slot, pinned);
- a reload, replacing the program on the pinned link of a loaded one: $(ms "${med[reload]}") ms,
  **$(ratio "${med[reload]}" "${med[xdploader]}")×** a fresh load. Both are bound by the kernel: BPF_LINK_CREATE
  and BPF_LINK_UPDATE each wait for an RCU grace period while the XDP dispatcher is
  re-pointed (strace -T here: 7.5 ms and 9.2 ms of a 13 ms job).

## statswatch while watching

\`statswatch --interval 1 --count $WATCH_SECS\` on the loaded stats map: **${statswatch_cpu}%** of one
core (CPU time from getrusage over wall time, start-up included, the cost of
Python's fork subtracted; target ≤ 0.2%).

One read, as a script would: \`statswatch -file\` as the .deb ships it (static-pie)
$(ms "$read_statswatch_static") ms against \`bpftool map dump pinned\` of the same map
$(ms "$read_bpftool") ms: **$(ratio "$read_statswatch_static" "$read_bpftool")×** (target ≤ 1.0×); the
dynamically linked build of \`cargo build --release\`: $(ms "$read_statswatch") ms,
**$(ratio "$read_statswatch" "$read_bpftool")×**. Medians of $RUNS alternating runs, the spawn subtracted.
Most of the difference is start-up in the dynamic loader (libc and libgcc_s mapped and
bound, libgcc_s's CPU probe): \`perf record\` of 300 one-shot reads put 24% of the
dynamic build's samples in ld.so and 4% in libgcc_s.

A 4,096-entry map (\`bpftool map create … type percpu_array … entries 4096\`), watched
at 1 s: **${wide_cpu}%** of one core (target ≤ 0.5%); scraped over HTTP from
\`statswatch --prometheus\`: **${scrape_ms} ms** per scrape of ${scrape_kib} KiB (median of
$RUNS; target ≤ 5 ms).

## What hiding the kernel's BTF saves

\`EbpfLoader::new()\` parses /sys/kernel/btf/vmlinux every time (\`core/examples/kernel_btf_cost.rs\`):
$btf_parsed as is; $btf_hidden with /dev/null over that file, as the binaries
arrange for objects without CO-RE (\`xdp_core::bpffs::isolate_mounts\`).

## The programs' own cost per packet

\`xdploader bench --batches $BATCHES --repeat $REPEAT\`: BPF_PROG_TEST_RUN of the entry (jump
tables filled), batch by batch alternating with an empty XDP_PASS program (the floor).
ns per packet from HdrHistograms of the batches; own = p50 − floor p50.

| object | frame | bytes | verdict | p50 | p99 | floor p50 | own | Mpps at p50 |
|---|---|---|---|---|---|---|---|---|
$perpacket_rows

\`bench_chain.elf\` is the skeleton's chain with nothing in it (an entry, two tail calls,
one count): the skeleton's own cost minus its own is what the skeleton's parsing and checks
cost. \`redirect.elf\` runs in a namespace that routes the frames' destinations out of
another veth to a known neighbour (\`-i rt0,rt1\`: the frames arrive on rt0), so every run is
a FIB hit that rewrites the frame and redirects it. \`bench_fib.elf\` is the kernel's FIB
lookup alone, as the router asks it (XDP_DROP = a hit): the router's own cost minus its
own is what the router's code costs.

## Live packet rates on veth

\`xdploader trafficgen\` (live-frames test runs of an XDP_TX program, one sender thread,
64-byte frames to the receiver's MAC) into veth pairs between namespaces; every program
in native mode. Received Mpps from the counting program at the far end, median of
$LIVE_ROUNDS rounds of ${LIVE_SECS} s, all receivers in turn within each round.

| receiver | received Mpps | sent Mpps | ratio |
|---|---|---|---|
| \`kern/bench_pass.c\` (count, XDP_PASS: as xdp-bench pass) | ${rx_mpps[bench_pass]} | ${sent_mpps[bench_pass]} | 1.00 |
| \`kern/xdp.elf\`, the skeleton (XDP_PASS) | ${rx_mpps[xdp]} | ${sent_mpps[xdp]} | **$(live_ratio "${rx_mpps[xdp]}" "${rx_mpps[bench_pass]}")** of pass |
| \`kern/bench_drop.c\` (count, XDP_DROP: as xdp-bench drop) | ${rx_mpps[bench_drop]} | ${sent_mpps[bench_drop]} | 1.00 |
| \`kern/xdp_drop.elf\`, the skeleton ending in XDP_DROP | ${rx_mpps[xdp_drop]} | ${sent_mpps[xdp_drop]} | **$(live_ratio "${rx_mpps[xdp_drop]}" "${rx_mpps[bench_drop]}")** of drop |

XDP_TX responders, sent ICMP echo requests (\`trafficgen --icmp\`): answered = the
responder's XDP_TX count; back = replies counted on the sender's own veth.

| responder | answered Mpps | back Mpps | sent Mpps | ratio |
|---|---|---|---|---|
| \`kern/bench_tx.c\` (count, swap MACs, XDP_TX: as xdp-bench tx) | ${rx_mpps[bench_tx]} | ${back_mpps[bench_tx]} | ${sent_mpps[bench_tx]} | 1.00 |
| \`kern/echo.elf\` (the reply built in place) | ${rx_mpps[echo]} | ${back_mpps[echo]} | ${sent_mpps[echo]} | **$(live_ratio "${rx_mpps[echo]}" "${rx_mpps[bench_tx]}")** of tx |

Forwarding between two namespaces through a third (lh0 → lt0 *router* lt1 → ls0), UDP to
an address behind the router; received = counted by an XDP_DROP counter on ls0.

| router | received Mpps | sent Mpps | ratio |
|---|---|---|---|
| \`kern/bench_redirect.c\` (count, redirect to lt1 through the devmap: as xdp-bench redirect-map) | ${rx_mpps[bench_redirect]} | ${sent_mpps[bench_redirect]} | 1.00 |
| \`kern/redirect.elf\` (FIB lookup, MACs and TTL rewritten, redirect) | ${rx_mpps[redirect]} | ${sent_mpps[redirect]} | **$(live_ratio "${rx_mpps[redirect]}" "${rx_mpps[bench_redirect]}")** of redirect-map |
| the kernel's forwarding (ip_forward, no XDP on the router; GRO on lt0) | ${rx_mpps[forward]} | ${sent_mpps[forward]} | redirect.elf: **$(live_ratio "${rx_mpps[redirect]}" "${rx_mpps[forward]}")×** this |
MD
[ -z "$exporter_section" ] || printf '\n%s\n' "$exporter_section" >> "$RESULTS"
[ -z "$capture_section" ] || printf '\n%s\n' "$capture_section" >> "$RESULTS"
cat "$RESULTS"
if [ "$RESULTS" != bench/results.md ]; then
    grep -q '^| xdp.elf | ipv4-icmp | 64 | XDP_PASS |' "$RESULTS" ||
        { echo "bench.sh: the smoke run produced no per-packet rows" >&2; exit 1; }
    rm -f "$RESULTS"
    bash scripts/bench-exporter.sh --smoke >/dev/null
    bash scripts/bench-capture.sh --smoke >/dev/null
    echo "bench.sh: smoke run ok (results discarded)"
fi
