#!/usr/bin/env bash
# bench-capture.sh: what `xdploader capture` costs the data path, and how much
# of a flood it keeps. Two parts:
#  - the recorders' cost per packet: `xdploader bench --capture`, the chain
#    with recorders against the same chain without them, in the same batches
#    (kern/xdp.elf: 2 stages; kern/tests/capture_chain.elf: 3), 64-byte UDP;
#  - a 64-byte flood from trafficgen into a veth whose far end runs
#    kern/xdp_drop.elf (the skeleton ending in XDP_DROP): frames received
#    per second without a capture and with one writing pcapng (--snaplen 64),
#    and the share of frames the capture kept whole.
# Writes its section into bench/results.md between the bench-capture markers
# (bench.sh keeps it). Root; ~1 minute.
# Usage: sudo scripts/bench-capture.sh [ROUNDS]   (default 3)
#        sudo scripts/bench-capture.sh --smoke    tiny, results thrown away
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="${HOME:-/root}/.cargo/bin:$PATH"
ROUNDS=${1:-3} BATCHES=300 SECS=3 RESULTS=bench/results.md
if [ "${1:-}" = --smoke ]; then
    ROUNDS=1 BATCHES=5 SECS=0.5 RESULTS=
fi
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || { echo "bench-capture: ROUNDS must be a whole number, not '$ROUNDS'" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "bench-capture: run as root (namespaces, XDP)" >&2; exit 1; }
make -s -C kern >/dev/null
cargo build --release -q -p xdploader
X=$PWD/target/release/xdploader

GEN=xcapg$$ RX=xcapr$$
PINS=$(mktemp -d /tmp/xdpcap-bench-XXXXXX)
WORK=$(mktemp -d /tmp/xdpcap-bench-work-XXXXXX)
cleanup() {
    ip netns del "$GEN" 2>/dev/null || true
    ip netns del "$RX" 2>/dev/null || true
    umount "$PINS" 2>/dev/null || true
    rm -rf "$PINS" "$WORK"
}
trap cleanup EXIT
mount -t bpf bpf "$PINS"

# 1. The recorders' cost per packet.
chain_args=(--prog cap_entry --tail stages:0=cap_parse --tail stages:1=cap_rewrite --tail stages:2=cap_judge)
cost_rows=""
for round in $(seq "$ROUNDS"); do
    for object in xdp.elf tests/capture_chain.elf; do
        args=()
        [ "$object" = xdp.elf ] || args=("${chain_args[@]}")
        "$X" bench -file "kern/$object" "${args[@]}" --capture --frames ipv4-udp --sizes 64 \
            --batches "$BATCHES" --json |
            python3 -c '
import json, sys
r = json.load(sys.stdin); x = r["results"][0]; c = r["capture"]
own = x["program_ns"]["p50"] - x["floor_ns"]["p50"]
stages, per = c["stages"], c["records_per_frame"]
chain, rec = x["floor_ns"]["p50"], x["program_ns"]["p50"]
print(f"| {sys.argv[1]} | {sys.argv[2]} | {stages} | {chain:.1f} | {rec:.1f} | {own:.1f} | {own / per:.1f} |")
' "$object" "$round"
    done
done > "$WORK/cost"
cost_rows=$(cat "$WORK/cost")

# 2. A flood, with and without a capture.
ip netns add "$GEN"
ip netns add "$RX"
ip -n "$GEN" link add cg0 type veth peer name cr0 netns "$RX"
ip -n "$GEN" link set cg0 up
ip -n "$RX" link set cr0 up
ip netns exec "$RX" "$X" -file kern/xdp_drop.elf -i cr0 --pin-dir "$PINS" >/dev/null
mac=$(ip -n "$RX" -br link show cr0 | awk '{print $3}')
received() { "$PWD/target/release/statswatch" -file "$PINS/stats_map" --json |
    python3 -c 'import json,sys; print(sum(r["packets"] for r in json.load(sys.stdin)["actions"]))'; }
flood_rows=""
for round in $(seq "$ROUNDS"); do
    for with in no yes; do
        before=$(received)
        cap_pid=
        if [ "$with" = yes ]; then
            ip netns exec "$RX" "$X" capture -i cr0 --pin-dir "$PINS" --snaplen 64 \
                -w "$WORK/capture.pcapng" --json > "$WORK/capture.json" 2>/dev/null &
            cap_pid=$!
            # Until the entry recorder runs on the link.
            for _ in $(seq 100); do
                ip netns exec "$RX" "$X" status -i cr0 --pin-dir "$PINS" --json 2>/dev/null |
                    grep -q '"prog_name":"xdpcap_entry' && break
                sleep 0.1
            done
        fi
        sent=$(ip netns exec "$GEN" "$X" trafficgen -i cg0 --dst-mac "$mac" --duration "$SECS" --json)
        after=$(received)
        kept=-
        if [ -n "$cap_pid" ]; then
            kill -INT "$cap_pid"
            wait "$cap_pid" || true
            kept=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).read().splitlines()[-1])["summary"]["frames"])' "$WORK/capture.json")
        fi
        python3 -c '
import json, sys
sent = json.loads(sys.argv[1]); got = int(sys.argv[3]) - int(sys.argv[2]); kept = sys.argv[4]
share = "-" if kept == "-" else f"{100 * int(kept) / max(got, 1):.0f}%"
mpps, secs = sent["mpps"], sent["seconds"]
print(f"| {sys.argv[5]} | {sys.argv[6]} | {mpps:.2f} | {got / secs / 1e6:.2f} | {kept} | {share} |")
' "$sent" "$before" "$after" "$kept" "$with" "$round"
    done
done > "$WORK/flood"
flood_rows=$(cat "$WORK/flood")

echo "$cost_rows"
echo "$flood_rows"
if [ -z "$cost_rows" ] || [ -z "$flood_rows" ]; then echo "bench-capture: no rows" >&2; exit 1; fi
if [ -z "$RESULTS" ]; then
    echo "bench-capture: smoke run ok (results discarded)"
    exit 0
fi
python3 - "$RESULTS" "$cost_rows" "$flood_rows" "$(date -u +%Y-%m-%d)" "$(uname -r)" "$(nproc)" <<'PY'
import sys
path, cost, flood, day, kernel, cpus = sys.argv[1:]
begin, end = "<!-- bench-capture: begin -->\n", "<!-- bench-capture: end -->"
text = open(path).read()
section = (begin +
    "## What a capture costs\n\n"
    f"`scripts/bench-capture.sh` ({day}, kernel {kernel}, {cpus} CPUs). The recorders' cost: "
    "`xdploader bench --capture`, the chain with recorders (64-byte snap, the ring drained) against "
    "the same chain without them, alternating batch by batch, 64-byte UDP; a frame makes one record "
    "per stage it passes, plus the entry's input and the verdict.\n\n"
    "| object | round | stages | chain ns p50 | with recorders ns p50 | recorders add ns | ns per record |\n"
    "|---|---|---|---|---|---|---|\n" + cost + "\n\n"
    "A 64-byte flood (trafficgen, one sender) into a veth whose far end runs kern/xdp_drop.elf "
    "(entry and 2 stages, XDP_DROP): frames the chain counted per second, without and with "
    "`xdploader capture --snaplen 64 -w FILE`, and the frames the capture kept whole (entry, "
    "stages and verdict all in the ring; the rest counted as lost, never silently).\n\n"
    "| capture | round | sent Mpps | received Mpps | frames kept | kept share |\n"
    "|---|---|---|---|---|---|\n" + flood + "\n" + end)
if begin in text and end in text:
    head, rest = text.split(begin, 1)
    text = head + section + rest.split(end, 1)[1]
else:
    text = text.rstrip("\n") + "\n\n" + section + "\n"
open(path, "w").write(text)
PY
echo "bench-capture: $RESULTS updated"
