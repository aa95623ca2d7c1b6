#!/usr/bin/env bash
# Undoes start.sh: detach and unpin, delete the namespace (and with it the
# veth pair), put the host sysctls back. Running it again is fine.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/testbed.env
. scripts/testbed.env

if [ -d "$PIN_DIR/xdploader/$HOST_IF" ]; then
    loader=target/release/xdploader
    [ -x "$loader" ] || loader=target/debug/xdploader
    "$loader" unload -i "$HOST_IF" --pin-dir "$PIN_DIR"
fi
if ip netns list | grep -qw "^$NS"; then
    ip netns del "$NS"
fi
# The host end goes with its peer; this covers a peer moved elsewhere. The
# kernel tears a deleted namespace down in the background, so the pair may
# vanish between the look and the delete: gone either way is done.
if ip link show "$HOST_IF" >/dev/null 2>&1; then
    ip link del "$HOST_IF" 2>/dev/null || ! ip link show "$HOST_IF" >/dev/null 2>&1
fi
if [ -f "$SAVED" ]; then
    while IFS='=' read -r key value; do
        sysctl -qw "$(echo "$key" | xargs)=$(echo "$value" | xargs)" || true
    done < "$SAVED"
    rm -f "$SAVED"
fi
echo "testbed stopped"
