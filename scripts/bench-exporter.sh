#!/usr/bin/env bash
# bench-exporter.sh: `statswatch --prometheus` under the connections a
# network holds open, side by side with Debian's prometheus-node-exporter in
# the same run and the same namespace: scrape latency with 0, 4 and 1,000
# idle connections (plus 8 slow ones sending a header byte a second), then
# 16 clients × 100 scrapes at once. Writes its table into bench/results.md
# between the bench-exporter markers. Root; ~2 minutes.
# Usage: sudo scripts/bench-exporter.sh          (20 scrapes per row)
#        sudo scripts/bench-exporter.sh --smoke  tiny, results thrown away
# node_exporter runs one cheap collector (time): the servers are compared,
# not what they collect.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="${HOME:-/root}/.cargo/bin:$PATH"
SCRAPES=20 HELD_MAX=1000 CLIENTS=16 PER_CLIENT=100 RESULTS=bench/results.md
if [ "${1:-}" = --smoke ]; then
    SCRAPES=3 HELD_MAX=50 CLIENTS=2 PER_CLIENT=5 RESULTS=
fi
[ "$(id -u)" -eq 0 ] || { echo "bench-exporter: run as root (a network namespace, bpffs)" >&2; exit 1; }
NODE_EXPORTER=/usr/bin/prometheus-node-exporter
[ -x "$NODE_EXPORTER" ] || { echo "bench-exporter: $NODE_EXPORTER missing: scripts/setup.sh --test installs it" >&2; exit 1; }
cargo build --release -q -p statswatch
STATSWATCH=$PWD/target/release/statswatch

NS=xexp$$
PINS=$(mktemp -d /tmp/xdpexp-XXXXXX)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    umount -l "$PINS" 2>/dev/null || true
    rmdir "$PINS" 2>/dev/null || true
    ip netns del "$NS" 2>/dev/null || true
}
trap cleanup EXIT
mount -t bpf bpf "$PINS"
bpftool map create "$PINS/stats_map" type percpu_array key 4 value 16 entries 5 name stats_map
ip netns add "$NS"
ip -n "$NS" link set lo up
ip netns exec "$NS" "$STATSWATCH" --prometheus 127.0.0.1:9435 -file "$PINS/stats_map" >/dev/null 2>&1 &
pids+=($!)
ip netns exec "$NS" "$NODE_EXPORTER" --web.listen-address=127.0.0.1:9100 \
    --collector.disable-defaults --collector.time >/dev/null 2>&1 &
pids+=($!)

rows=$(ip netns exec "$NS" python3 - "$SCRAPES" "$HELD_MAX" "$CLIENTS" "$PER_CLIENT" <<'PY'
import resource, socket, statistics, sys, threading, time
scrapes, held_max, clients, per_client = map(int, sys.argv[1:])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
servers = [("statswatch --prometheus", 9435), ("prometheus-node-exporter", 9100)]

def scrape(port, timeout=10.0):
    start = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    if not data.startswith(b"HTTP/1.") or b" 200 " not in data.split(b"\r\n", 1)[0]:
        raise OSError("not a 200: %r" % data[:40])
    return time.monotonic() - start

for _, port in servers:
    for _ in range(200):
        try:
            scrape(port); break
        except OSError:
            time.sleep(0.05)

for name, port in servers:
    for held in (0, 4, held_max):
        idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(held)]
        slow = [socket.create_connection(("127.0.0.1", port)) for _ in range(8 if held else 0)]
        header = b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n"
        times, errors = [], 0
        for i in range(scrapes):
            for s in slow:
                try:
                    s.send(header[i % len(header):i % len(header) + 1])
                except OSError:
                    pass
            try:
                times.append(scrape(port))
            except OSError:
                errors += 1
            time.sleep(0.1)
        for s in idle + slow:
            s.close()
        held_text = f"{held} idle" + (" + 8 slow" if held else "")
        p50 = statistics.median(times) * 1e3 if times else float("nan")
        worst = max(times) * 1e3 if times else float("nan")
        print(f"| {name} | {held_text} | {p50:.2f} | {worst:.2f} | {errors} of {scrapes} |")
    failed = [0]
    def client():
        for _ in range(per_client):
            try:
                scrape(port)
            except OSError:
                failed[0] += 1
    start = time.monotonic()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads: t.start()
    for t in threads: t.join()
    took = time.monotonic() - start
    total = clients * per_client
    print(f"| {name} | {clients} clients × {per_client} scrapes at once | {took / per_client * 1e3:.2f} per round | {took:.2f} s in all | {failed[0]} of {total} |")
PY
)
echo "$rows"
[ -n "$rows" ] || { echo "bench-exporter: no rows" >&2; exit 1; }
if [ -z "$RESULTS" ]; then
    echo "bench-exporter: smoke run ok (results discarded)"
    exit 0
fi
python3 - "$RESULTS" "$rows" "$(date -u +%Y-%m-%d)" "$(uname -r)" "$("$NODE_EXPORTER" --version 2>&1 | head -1)" <<'PY'
import sys
path, rows, day, kernel, node = sys.argv[1:]
begin, end = "<!-- bench-exporter: begin -->\n", "<!-- bench-exporter: end -->"
text = open(path).read()
section = (begin +
    f"## The exporter under held connections\n\n"
    f"`scripts/bench-exporter.sh` ({day}, kernel {kernel}): both servers in one network namespace, "
    f"one after the other in the same run; a scrape is a new connection's `GET /metrics`, every 100 ms "
    f"while the connections are held. {node}, with `--collector.disable-defaults --collector.time` "
    f"(the servers compared, not their collectors). tiny_http, statswatch's server before, stopped "
    f"answering at 4 idle connections (scrapes timed out after 3–5 s).\n\n"
    "| server | connections held | p50 ms | worst ms | failed |\n|---|---|---|---|---|\n" + rows + "\n" + end)
if begin in text and end in text:
    head, rest = text.split(begin, 1)
    text = head + section + rest.split(end, 1)[1]
else:
    text = text.rstrip("\n") + "\n\n" + section + "\n"
open(path, "w").write(text)
PY
echo "bench-exporter: $RESULTS updated"
