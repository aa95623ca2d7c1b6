#!/usr/bin/env bash
# vm-boot-check.sh: the VM as `vagrant up` (or a reboot) leaves it, with
# nothing typed: xdp-testbed.service made the testbed, the skeleton is
# attached to veth1 with its maps at /sys/fs/bpf, pings into veth1 are
# counted, statswatch reads them, the banner is there. Changes nothing.
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

state=$(systemctl is-active xdp-testbed.service || true)
if [ "$state" != active ]; then
    journalctl -u xdp-testbed.service -b --no-pager -o cat | tail -25
    fail "xdp-testbed.service is $state (its journal above)"
fi
ip -d link show "$HOST_IF" | grep -q 'prog/xdp' || fail "$HOST_IF carries no XDP program"
status=$(xdploader status -i "$HOST_IF")
echo "$status"
grep -q "ours: .*/kern/xdp.elf" <<<"$status" || fail "xdploader status does not show kern/xdp.elf as ours"
before=$(passed)
ip netns exec "$NS" ping -c "$PINGS" -i 0.2 -W 2 "${HOST_ADDR%/*}" >/dev/null || fail "ping from netns $NS"
after=$(passed)
[ $((after - before)) -ge "$PINGS" ] || fail "XDP_PASS went from $before to $after for $PINGS pings"
[ -s /etc/motd.d/xdp-skeleton ] || fail "no banner in /etc/motd.d"
boots=$(( $(cat /var/lib/xdp-vm-boots 2>/dev/null || echo 0) + 1 ))
echo "$boots" > /var/lib/xdp-vm-boots
echo "vm-boot-check: ok: boot $boots, kernel $(uname -r), $((after - before)) pings counted on $HOST_IF"
