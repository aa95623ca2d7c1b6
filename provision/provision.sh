#!/usr/bin/env bash
# Provisions a Debian 12 or 13 machine for xdp-skeleton-rs (the Vagrantfile runs it
# as root with the project directory as $1; it works on bare metal too):
# packages, a Rust toolchain only if no cargo >= MSRV is there, a release
# build of the workspace and kern/, the binaries on the PATH, the tuning
# written persistently, bpffs mounted at boot. Running it again is fine.
set -euo pipefail
PROJECT=${1:-$(cd "$(dirname "$0")/.." && pwd)}
# shellcheck source=scripts/lib.sh
. "$PROJECT/scripts/lib.sh"
BUILD_USER=${BUILD_USER:-$(stat -c %U "$PROJECT")}

if [ "$(id -u)" -ne 0 ]; then
    echo "provision.sh: run as root (it installs packages and writes /etc)" >&2
    exit 1
fi

# The toolchain for kern/ (clang -target bpf with libbpf's headers; the
# Makefile adds /usr/include/<multiarch> for asm/types.h), the testbed's
# tools, and what a user reaches for when watching XDP traffic.
PACKAGES=(clang llvm libbpf-dev bpftool gcc libc6-dev make pkg-config
          iproute2 ethtool tcpdump iputils-ping netcat-openbsd iperf3 xdp-tools
          procps util-linux curl ca-certificates rsync)
install_missing provision "${PACKAGES[@]}"

# Rust: Debian 12's cargo (1.65) is older than the MSRV; rustup only when no
# recent enough cargo is found, for the user who builds.
as_builder() { if [ "$BUILD_USER" = root ]; then bash -lc "$1"; else su - "$BUILD_USER" -c "$1"; fi; }
# Single quotes on purpose: $HOME and $PATH are the build user's.
# shellcheck disable=SC2016
cargo_version() { as_builder 'PATH="$HOME/.cargo/bin:$PATH" cargo --version 2>/dev/null' | awk '{print $2}'; }
have=$(cargo_version || true)
if ! at_least_msrv "$have"; then
    echo "provision: installing Rust with rustup (found '${have:-no cargo}', need >= $MSRV)"
    # The script https://sh.rustup.rs serves, from where rustup itself lives:
    # networks that let rustup's downloads through do not always resolve
    # sh.rustup.rs. Saved first, so a failed download is not an empty script.
    # shellcheck disable=SC2016
    as_builder 'f=$(mktemp) && curl -sSf -o "$f" https://static.rust-lang.org/rustup/rustup-init.sh &&
                sh "$f" -y --profile minimal >/dev/null; rc=$?; rm -f "$f"; exit $rc' || true
    have=$(cargo_version || true)
    if ! at_least_msrv "$have"; then
        echo "provision: rustup did not give $BUILD_USER a cargo >= $MSRV (see above); install it and run again" >&2
        exit 1
    fi
fi

echo "provision: building (release) in $PROJECT"
as_builder "cd '$PROJECT' && make -s -C kern && PATH=\"\$HOME/.cargo/bin:\$PATH\" cargo build --release --workspace --bins -q"
install -m 0755 "$PROJECT/target/release/xdploader" "$PROJECT/target/release/statswatch" /usr/local/bin/

# The tuning, for every boot: the socket buffers of scripts/sysctl.conf.
install -m 0644 "$PROJECT/scripts/sysctl.conf" /etc/sysctl.d/90-xdp-skeleton.conf
sysctl -q -p /etc/sysctl.d/90-xdp-skeleton.conf || echo "provision: some sysctls could not be applied now (they will be at boot)" >&2

# bpffs at boot (pins outlive the loader only on bpffs), and now.
if ! grep -qs '^bpffs /sys/fs/bpf ' /etc/fstab; then
    echo 'bpffs /sys/fs/bpf bpf defaults 0 0' >> /etc/fstab
fi
mountpoint -q /sys/fs/bpf || mount -t bpf bpffs /sys/fs/bpf || echo "provision: could not mount bpffs now (it will be at boot)" >&2

# The testbed at every boot (XDP_VM_TESTBED=0: without it): its network
# (xdp-testbed.service), the program (xdploader.service applying
# /etc/xdploader/config.toml) and the exporter, and a banner with the next
# commands. Enabled offline when systemd is not running (a
# chroot: scripts/provision-test.sh), started at once when it is.
unit=/etc/systemd/system/xdp-testbed.service
systemd_up() { [ -d /run/systemd/system ]; }
if [ "${XDP_VM_TESTBED:-1}" = 0 ]; then
    if [ -f "$unit" ]; then
        if systemd_up; then
            systemctl disable --now xdp-testbed.service || true
        else
            systemctl disable xdp-testbed.service 2>/dev/null || true
        fi
        rm -f "$unit" /etc/systemd/system/multi-user.target.wants/xdp-testbed.service /etc/motd.d/xdp-skeleton
    fi
    for fleet in xdploader.service statswatch-exporter.service; do
        [ -f "/etc/systemd/system/$fleet" ] || continue
        if systemd_up; then systemctl disable --now "$fleet" || true; fi
        rm -f "/etc/systemd/system/$fleet" "/etc/systemd/system/multi-user.target.wants/$fleet"
    done
    echo "provision: XDP_VM_TESTBED=0: no testbed at boot"
else
    sed "s|@PROJECT@|$PROJECT|g" "$PROJECT/provision/xdp-testbed.service" > "$unit.new"
    if cmp -s "$unit.new" "$unit"; then rm -f "$unit.new"; else mv "$unit.new" "$unit"; fi
    mkdir -p /etc/motd.d
    install -m 0644 "$PROJECT/provision/motd" /etc/motd.d/xdp-skeleton
    if systemd_up; then
        systemctl daemon-reload
        systemctl enable xdp-testbed.service
        # Converge from any state: started if it was not; if it was, its
        # reload (start.sh, which keeps what exists) makes again what a
        # user's stop.sh or `ip netns del` removed behind systemd's back.
        systemctl reload-or-restart xdp-testbed.service
    else
        systemctl enable xdp-testbed.service 2>/dev/null || {
            mkdir -p /etc/systemd/system/multi-user.target.wants
            ln -sf "$unit" /etc/systemd/system/multi-user.target.wants/xdp-testbed.service
        }
    fi
    # What loads the program at boot (xdploader apply of the testbed's entry)
    # and the Prometheus exporter: the units a fleet machine gets too.
    bash "$PROJECT/provision/install-units.sh" "$PROJECT"
fi

cat <<MSG
provision: ready. xdploader and statswatch are in /usr/local/bin.
  cd $PROJECT && sudo scripts/start.sh     # netns testbed, kern/xdp.elf on veth1
  sudo statswatch -w -file /sys/fs/bpf/stats_map
MSG
