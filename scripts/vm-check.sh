#!/usr/bin/env bash
# vm-check.sh: what a user does first in the VM, checked. Runs as root in the
# provisioned machine: the testbed (scripts/start.sh), a ping through the XDP
# program, `xdploader doctor`, the installed statswatch showing the packets,
# then scripts/stop.sh, and nothing left behind. The last line is
# "vm-check: ok ..." or the script exits non-zero naming what failed.
# scripts/provision-test.sh runs it in a qemu guest, scripts/vagrant-e2e.sh
# through `vagrant ssh`.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/testbed.env
. scripts/testbed.env
PINGS=5

fail() { echo "vm-check: FAILED: $*" >&2; exit 1; }
trap 'bash scripts/stop.sh >/dev/null 2>&1 || true' EXIT

for tool in xdploader statswatch; do
    command -v "$tool" >/dev/null || fail "$tool is not on the PATH (provision installs it in /usr/local/bin)"
done
grep -qs '^bpffs /sys/fs/bpf ' /etc/fstab || fail "no bpffs line in /etc/fstab"
[ -f /etc/sysctl.d/90-xdp-skeleton.conf ] || fail "no /etc/sysctl.d/90-xdp-skeleton.conf"

bash scripts/start.sh
ip netns exec "$NS" ping -c "$PINGS" -i 0.2 -W 2 "${HOST_ADDR%/*}" || fail "ping from netns $NS to ${HOST_ADDR%/*}"
xdploader doctor -i "$HOST_IF" || fail "xdploader doctor -i $HOST_IF reports problems"

stats=$(statswatch -file "$PIN_DIR/stats_map")
echo "$stats"
passed=$(awk '$1 == "XDP_PASS" { print $2 }' <<<"$stats")
[ "${passed:-0}" -ge "$PINGS" ] || fail "statswatch counts ${passed:-no} XDP_PASS packets, expected at least $PINGS"

bash scripts/stop.sh
trap - EXIT
[ ! -e "$PIN_DIR/stats_map" ] || fail "$PIN_DIR/stats_map is still pinned after stop.sh"
! ip netns list | grep -qw "^$NS" || fail "netns $NS is still there after stop.sh"
echo "vm-check: ok: kernel $(uname -r), $passed packets passed through $HOST_IF's XDP program"
