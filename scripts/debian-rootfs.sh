#!/usr/bin/env bash
# debian-rootfs.sh DIR [RELEASE]: a fresh Debian root filesystem in DIR
# (RELEASE bookworm, Debian 12, by default; or trixie, Debian 13), made the
# way a debian/bookworm64 (debian/trixie64) Vagrant box is: the release's
# kernel (6.1; 6.12) and initramfs,
# systemd, sshd, sudo, rsync, DHCP on the first NIC, and a `vagrant` user
# with Vagrant's insecure public key and password-less sudo. Nothing of the
# project is in it: scripts/provision-test.sh and scripts/vagrant-e2e.sh
# provision it the way `vagrant up` would.
# XDP_VM_MIRROR overrides the Debian mirror (default deb.debian.org).
set -euo pipefail

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
    echo "usage: $0 DIR [bookworm|trixie]" >&2
    exit 2
fi
DIR=$1
RELEASE=${2:-bookworm}
case $RELEASE in
    bookworm | trixie) ;;
    *) echo "debian-rootfs.sh: release $RELEASE: bookworm or trixie" >&2; exit 2 ;;
esac
MIRROR=${XDP_VM_MIRROR:-http://deb.debian.org}
# The public half of the key pair every Vagrant release ships: boxes carry it
# so the first `vagrant up` can log in (vagrant then puts a fresh key in).
VAGRANT_INSECURE_PUB=$(cat /usr/share/rubygems-integration/all/gems/vagrant-*/keys/vagrant.pub 2>/dev/null || true)
if [ -z "$VAGRANT_INSECURE_PUB" ]; then
    echo "debian-rootfs.sh: Vagrant's insecure public key not found: install vagrant (scripts/setup.sh --test)" >&2
    exit 1
fi

# ifupdown + isc-dhcp-client bring eth0 up by DHCP, as in Debian's own boxes;
# net.ifnames=0 on the kernel command line keeps the name eth0.
PACKAGES=linux-image-amd64,initramfs-tools,systemd-sysv,udev,openssh-server,sudo,rsync,ifupdown,isc-dhcp-client,iproute2,procps,ca-certificates,curl,less,kmod,e2fsprogs

mkdir -p "$DIR"
# The hooks are run by mmdebstrap with the new root as $1: single quotes on purpose.
# shellcheck disable=SC2016
mmdebstrap --quiet --variant=minbase --include="$PACKAGES" \
    --customize-hook='chroot "$1" useradd --create-home --shell /bin/bash --groups sudo vagrant' \
    --customize-hook='echo "vagrant ALL=(ALL) NOPASSWD: ALL" > "$1/etc/sudoers.d/vagrant"; chmod 0440 "$1/etc/sudoers.d/vagrant"' \
    --customize-hook="mkdir -p \"\$1/home/vagrant/.ssh\"; echo '$VAGRANT_INSECURE_PUB' > \"\$1/home/vagrant/.ssh/authorized_keys\"" \
    --customize-hook='chroot "$1" chown -R vagrant:vagrant /home/vagrant/.ssh; chmod 0700 "$1/home/vagrant/.ssh"; chmod 0600 "$1/home/vagrant/.ssh/authorized_keys"' \
    --customize-hook='printf "auto lo\niface lo inet loopback\nauto eth0\niface eth0 inet dhcp\n" > "$1/etc/network/interfaces"' \
    --customize-hook='echo "/dev/vda / ext4 defaults 0 1" > "$1/etc/fstab"; echo xdp-vm > "$1/etc/hostname"' \
    "$RELEASE" "$DIR" \
    "deb $MIRROR/debian $RELEASE main" \
    "deb $MIRROR/debian $RELEASE-updates main" \
    "deb $MIRROR/debian-security $RELEASE-security main"

# The CAs added to the host's trust by hand (a TLS-inspecting proxy's, say:
# in its bundle, in no file of the ca-certificates package): the guest
# downloads (rustup, crates) through the same network.
host_bundle=/etc/ssl/certs/ca-certificates.crt
awk -v bundle="$host_bundle" -v dir="$DIR/usr/local/share/ca-certificates" '
    { sub(/\r$/, "") }
    /-BEGIN CERTIFICATE-/ { cert = "" }
    { cert = cert $0 "\n" }
    /-END CERTIFICATE-/ {
        if (FILENAME != bundle) packaged[cert] = 1
        else if (!(cert in packaged)) { f = sprintf("%s/host-%02d.crt", dir, ++n); printf "%s", cert > f; close(f) }
    }' /usr/share/ca-certificates/*/*.crt "$host_bundle"
chroot "$DIR" update-ca-certificates >/dev/null
