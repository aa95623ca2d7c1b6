#!/usr/bin/env bash
# Installs the fleet units on this machine (provision.sh runs it; on bare
# metal: `sudo provision/install-units.sh` after `cargo build --release`):
# xdploader and statswatch in /usr/local/bin, /etc/xdploader/config.toml from
# examples/xdploader.toml (an existing one is kept), xdploader.service
# (apply at boot) and statswatch-exporter.service, enabled. Running it again
# is fine. When systemd runs, the units start now; in a chroot they are
# only enabled.
set -euo pipefail
PROJECT=${1:-$(cd "$(dirname "$0")/.." && pwd)}

if [ "$(id -u)" -ne 0 ]; then
    echo "install-units.sh: run as root (it writes /etc and /usr/local/bin)" >&2
    exit 1
fi
for bin in xdploader statswatch; do
    if [ ! -x "$PROJECT/target/release/$bin" ]; then
        echo "install-units.sh: $PROJECT/target/release/$bin is not built: run cargo build --release --workspace --bins" >&2
        exit 1
    fi
done
install -m 0755 "$PROJECT/target/release/xdploader" "$PROJECT/target/release/statswatch" /usr/local/bin/

# The example's relative object path is made absolute: /etc is not next to kern/.
mkdir -p /etc/xdploader
if [ ! -f /etc/xdploader/config.toml ]; then
    sed "s|^file = \"\.\./|file = \"$PROJECT/|" "$PROJECT/examples/xdploader.toml" > /etc/xdploader/config.toml
    echo "install-units.sh: wrote /etc/xdploader/config.toml (kern/xdp.elf on veth1)"
fi

units=(xdploader.service statswatch-exporter.service)
for unit in "${units[@]}"; do
    install -m 0644 "$PROJECT/provision/$unit" "/etc/systemd/system/$unit"
done
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload
    systemctl enable "${units[@]}"
    systemctl restart "${units[@]}"
else
    mkdir -p /etc/systemd/system/multi-user.target.wants
    for unit in "${units[@]}"; do
        ln -sf "/etc/systemd/system/$unit" "/etc/systemd/system/multi-user.target.wants/$unit"
    done
fi
echo "install-units.sh: xdploader.service and statswatch-exporter.service enabled"
