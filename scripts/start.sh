#!/usr/bin/env bash
# The testbed: namespace $NS with veth $NS_IF, joined to $HOST_IF on the host,
# MTU 9000, tuned socket buffers, then the XDP program loaded on $HOST_IF.
# Running it again is fine: what exists is kept, the program is replaced.
# start.sh --no-load: the network only; xdploader.service loads the program
# (`xdploader apply` of /etc/xdploader/config.toml: the VM's boot does this).
set -euo pipefail
LOAD=1
[ "${1:-}" = --no-load ] && LOAD=0
cd "$(dirname "$0")/.."
# shellcheck source=scripts/testbed.env
. scripts/testbed.env
# A systemd unit (provision/xdp-testbed.service) gives no $HOME.
export PATH="${HOME:-/root}/.cargo/bin:$PATH"

# Cargo is needed only to build: in the VM the binaries are built already
# and root, who runs this, has no toolchain of its own.
if [ ! -x target/release/xdploader ] || [ ! -x target/release/statswatch ] ||
   [ -n "$(find core loader statswatch clikit kern Cargo.toml Cargo.lock ! -name '*.elf' \
            -newer target/release/xdploader -print -quit)" ]; then
    bash scripts/setup.sh
    cargo build --release --workspace --bins
else
    bash scripts/setup.sh --run
fi
make -s -C kern

# Host sysctls we change: saved once, so stop.sh can put them back.
# scripts/sysctl.conf as key=value lines, the one reader of that file.
tuning() { grep -E '^[a-z]' scripts/sysctl.conf | sed -E 's/[[:space:]]*=[[:space:]]*/=/'; }
host_keys=(net.ipv4.conf.all.rp_filter net.ipv4.conf.default.rp_filter)
while IFS= read -r entry; do host_keys+=("${entry%%=*}"); done < <(tuning)
if [ ! -f "$SAVED" ]; then
    mkdir -p "$(dirname "$SAVED")"
    for key in "${host_keys[@]}"; do
        printf '%s = %s\n' "$key" "$(sysctl -n "$key" | tr '\t' ' ')"
    done > "$SAVED"
fi

# rp_filter drops traffic that returns by another path than it came, which is
# what redirecting between interfaces produces.
sysctl -qw net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0

apply_sysctls() { # [netns]: some keys are global, not per namespace: skip those there
    local run=()
    [ $# -gt 0 ] && run=(ip netns exec "$1")
    tuning | while IFS= read -r entry; do
        "${run[@]}" sysctl -qw "$entry" 2>/dev/null || [ $# -gt 0 ] ||
            echo "start.sh: could not set ${entry%%=*}" >&2
    done
}

ip netns list | grep -qw "^$NS" || ip netns add "$NS"
if ! ip link show "$HOST_IF" >/dev/null 2>&1; then
    ip link add "$HOST_IF" type veth peer name "$NS_IF" netns "$NS"
fi
ip link set "$HOST_IF" address "$HOST_MAC" mtu "$MTU" up
ip -n "$NS" link set "$NS_IF" address "$NS_MAC" mtu "$MTU" up
ip -n "$NS" link set lo up
ip addr replace "$HOST_ADDR" dev "$HOST_IF"
ip -n "$NS" addr replace "$NS_ADDR" dev "$NS_IF"
ip netns exec "$NS" sysctl -qw net.ipv4.conf.all.rp_filter=0 "net.ipv4.conf.$NS_IF.rp_filter=0"
sysctl -qw "net.ipv4.conf.$HOST_IF.rp_filter=0"
apply_sysctls
apply_sysctls "$NS"

# TSO off: XDP sees wire-sized frames, not 64 KiB super-packets. Transmit
# checksum offload off: a frame XDP redirects leaves without the checksum the
# stack left for the (virtual) NIC to finish, and the receiver drops it.
ethtool -K "$HOST_IF" tso off tx off >/dev/null
ip netns exec "$NS" ethtool -K "$NS_IF" tso off tx off >/dev/null

# Locked-memory limits only matter on kernels before 5.11 (memcg accounting since).
ulimit -l unlimited 2>/dev/null || true

# In native mode the loader also attaches a pass program to $NS_IF, the peer:
# without one, frames the program sends with XDP_TX or XDP_REDIRECT through
# $HOST_IF are dropped (ENXIO). stop.sh's unload removes it again.
if [ "$LOAD" = 0 ]; then
    echo "Testbed network ready: $HOST_IF <-> $NS_IF (netns $NS); the program is xdploader.service's to load"
    exit 0
fi
target/release/xdploader -file "$XDP_ELF" -i "$HOST_IF" --pin-dir "$PIN_DIR"

host_ip=${HOST_ADDR%/*}
# Commands that work as printed, from any directory: the binaries by the name
# the PATH gives them when it gives these very files, else by absolute path.
here=$PWD
tool() { if [ "$(command -v "$1" 2>/dev/null)" -ef "$here/target/release/$1" ]; then echo "$1"; else echo "$here/target/release/$1"; fi; }
cat <<MSG

Testbed ready: $HOST_IF (${HOST_ADDR}, host) <-> $NS_IF (${NS_ADDR}, netns $NS), MTU $MTU.
Next:
  ip netns exec $NS ping -c 5 $host_ip     # traffic into $HOST_IF's XDP program
  $(tool statswatch) -file $PIN_DIR/stats_map     # the verdict counters
  $here/scripts/stop.sh     # undo all of it
MSG
# The README writes plain `xdploader` and `statswatch`: say how to get there.
if [ "$(tool xdploader)" != xdploader ] || [ "$(tool statswatch)" != statswatch ]; then
    echo "  sudo install -m 0755 $here/target/release/{xdploader,statswatch} /usr/local/bin/     # the tools by name, as the README writes them"
fi
