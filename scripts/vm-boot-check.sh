#!/usr/bin/env bash
# vm-boot-check.sh: the VM as `vagrant up` (or a reboot) leaves it, with
# nothing typed: xdp-testbed.service made the testbed, xdploader.service
# applied /etc/xdploader/config.toml (the skeleton on veth1, its maps at
# /sys/fs/bpf), pings into veth1 are counted, statswatch reads them, the
# exporter serves them to Prometheus, the banner is there. Changes nothing.
# scripts/provision-test.sh runs it from a unit after each boot of its guest;
# scripts/vagrant-e2e.sh through `vagrant ssh`. The last line is
# "vm-boot-check: ok: boot N ..." or the script exits non-zero naming what failed.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/testbed.env
. scripts/testbed.env
PINGS=3

fail() { echo "vm-boot-check: FAILED: $*"; exit 1; }
passed() { statswatch -file "$PIN_DIR/stats_map" | awk '$1 == "XDP_PASS" { print $2 }'; }

for unit in xdp-testbed.service xdploader.service; do
    state=$(systemctl is-active "$unit" || true)
    if [ "$state" != active ]; then
        journalctl -u "$unit" -b --no-pager -o cat | tail -25
        fail "$unit is $state (its journal above)"
    fi
done
ip -d link show "$HOST_IF" | grep -q 'prog/xdp' || fail "$HOST_IF carries no XDP program"
status=$(xdploader status -i "$HOST_IF")
echo "$status"
grep -q "ours: .*/kern/xdp.elf" <<<"$status" || fail "xdploader status does not show kern/xdp.elf as ours"
grep -q "applied from /etc/xdploader/config.toml" <<<"$status" || fail "the load on $HOST_IF is not the config's (xdploader apply)"
xdploader apply | grep -q "nothing to change" || fail "a second xdploader apply wanted to change something"
before=$(passed)
ip netns exec "$NS" ping -c "$PINGS" -i 0.2 -W 2 "${HOST_ADDR%/*}" >/dev/null || fail "ping from netns $NS"
after=$(passed)
[ $((after - before)) -ge "$PINGS" ] || fail "XDP_PASS went from $before to $after for $PINGS pings"
# The exporter (restarted until the map exists) serves the same counter.
exported=
for _ in $(seq 20); do
    exported=$(curl -sf http://127.0.0.1:9435/metrics |
        sed -nE 's/^xdp_packets_total\{.*action="XDP_PASS"\} ([0-9]+)$/\1/p' || true)
    [ -n "$exported" ] && [ "$exported" -ge "$after" ] && break
    sleep 1
done
{ [ -n "$exported" ] && [ "$exported" -ge "$after" ]; } ||
    fail "statswatch-exporter on 127.0.0.1:9435 says XDP_PASS '${exported:-nothing}', the map $after"
exporter_pid=$(systemctl show -p MainPID --value statswatch-exporter.service)
exporter_uid=$(ps -o uid= -p "$exporter_pid" | tr -d ' ')
{ [ -n "$exporter_uid" ] && [ "$exporter_uid" != 0 ]; } ||
    fail "statswatch-exporter (pid $exporter_pid) runs as uid '${exporter_uid}', not a user of its own"
[ -s /etc/motd.d/xdp-skeleton ] || fail "no banner in /etc/motd.d"
boots=$(( $(cat /var/lib/xdp-vm-boots 2>/dev/null || echo 0) + 1 ))
echo "$boots" > /var/lib/xdp-vm-boots
echo "vm-boot-check: ok: boot $boots, kernel $(uname -r), $((after - before)) pings counted on $HOST_IF, exporter says $exported"
