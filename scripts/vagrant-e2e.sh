#!/usr/bin/env bash
# vagrant-e2e.sh: `vagrant up && vagrant ssh` for real, with the libvirt
# provider, on this machine, offline from Vagrant Cloud (tier 3 of issue 6;
# opt-in, ~30 minutes under emulation). Root and network needed.
#  1. A local box like debian/bookworm64 (scripts/debian-rootfs.sh, ext4 in
#     qcow2; Debian's kernel booted directly, as the box has no boot loader).
#  2. libvirtd and virtlogd started by hand when not running (no systemd here).
#  3. `vagrant up --provider=libvirt` with the project's Vagrantfile: the box
#     boots, the project is rsynced, provision/provision.sh runs in the VM.
#  4. `vagrant ssh -c` runs scripts/vm-check.sh there: testbed, ping, doctor,
#     statswatch, stop.
#  5. `vagrant destroy -f`, the box removed, what was started stopped, and
#     net.ipv4.ip_forward (libvirt's NAT turns it on) put back.
# XDP_VM_LIBVIRT_DRIVER=kvm uses KVM where it works (default qemu: emulation).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
BOX=xdp-skeleton/bookworm64-e2e   # not debian/bookworm64: a user's real box stays
DISK_GIB=20

step() { printf '\nvagrant-e2e: %s (%s)\n' "$1" "$(date +%T)"; }
fail() { echo "vagrant-e2e: FAILED: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || fail "run as root (libvirtd, the box's file system)"
bash scripts/setup.sh --test
install_missing vagrant-e2e vagrant-libvirt libvirt-daemon libvirt-daemon-driver-qemu \
    libvirt-clients dnsmasq-base iptables qemu-utils openssh-client

WORK=$(mktemp -d "${TMPDIR:-/var/tmp}/xdp-vagrant-e2e.XXXXXX")
chmod 0755 "$WORK"   # libvirt's qemu opens the kernel and initrd in it
export VAGRANT_HOME=$WORK/vagrant.d             # the box lands here, not in ~/.vagrant.d
export VAGRANT_DOTFILE_PATH=$WORK/dot-vagrant   # nor .vagrant/ in the project
export XDP_VM_BOX=$BOX XDP_VM_LIBVIRT_DRIVER=${XDP_VM_LIBVIRT_DRIVER:-qemu}
export XDP_VM_BOOT_TIMEOUT=${XDP_VM_BOOT_TIMEOUT:-900}
ip_forward=$(sysctl -n net.ipv4.ip_forward)
started=()
# libvirt's first NAT network adds base chains (LIBVIRT_INP, ..._PRT) to
# iptables and ip6tables and never removes them: they go at the end if they
# were not there before.
libvirt_chains() { { iptables-save; ip6tables-save; } 2>/dev/null | grep -c '^:LIBVIRT_' || true; }
drop_libvirt_chains() {
    local ipt table rule chain
    for ipt in iptables ip6tables; do
        for table in filter nat mangle; do
            "$ipt" -t "$table" -S 2>/dev/null | grep -E '^-A [A-Z]+ -j LIBVIRT_' | while read -r _ rule; do
                # shellcheck disable=SC2086 # the rule's words, as iptables -S printed them
                "$ipt" -t "$table" -D $rule
            done
            for chain in $("$ipt" -t "$table" -S 2>/dev/null | awk '$1 == "-N" && $2 ~ /^LIBVIRT_/ {print $2}'); do
                "$ipt" -t "$table" -F "$chain"
                "$ipt" -t "$table" -X "$chain"
            done
        done
    done
}
chains_before=$(libvirt_chains)
made_paths=()
pool_made=
user_made=
cleanup() {
    set +e
    step "cleaning up"
    [ -d "$VAGRANT_DOTFILE_PATH" ] && vagrant destroy -f
    vagrant box list 2>/dev/null | grep -q "^$BOX " && vagrant box remove -f "$BOX" --provider libvirt
    if command -v virsh >/dev/null && pgrep -x libvirtd >/dev/null; then
        # What vagrant-libvirt made, if vagrant destroy left it: the domain (by
        # the id vagrant recorded), the box's volume, the management network.
        id_file=$VAGRANT_DOTFILE_PATH/machines/default/libvirt/id
        if [ -s "$id_file" ] && virsh dominfo "$(cat "$id_file")" >/dev/null 2>&1; then
            virsh destroy "$(cat "$id_file")"
            virsh undefine "$(cat "$id_file")" --remove-all-storage
        fi
        for vol in $(virsh vol-list default 2>/dev/null | awk '/bookworm64-e2e/ {print $1}'); do virsh vol-delete "$vol" --pool default; done
        virsh net-info vagrant-libvirt >/dev/null 2>&1 && { virsh net-destroy vagrant-libvirt; virsh net-undefine vagrant-libvirt; }
        [ -z "$pool_made" ] || { virsh pool-destroy default; virsh pool-undefine default; }
    fi
    for daemon in "${started[@]}"; do
        pkill -x "$daemon"
        for _ in $(seq 50); do pgrep -x "$daemon" >/dev/null || break; sleep 0.1; done
    done
    for path in "${made_paths[@]}"; do rm -rf "$path"; done
    [ -z "$user_made" ] || userdel libvirt-qemu
    [ "$chains_before" -gt 0 ] || drop_libvirt_chains
    sysctl -qw "net.ipv4.ip_forward=$ip_forward"
    rm -rf "$WORK"
}
trap cleanup EXIT

step "the box: Debian 12 root file system"
bash scripts/debian-rootfs.sh "$WORK/rootfs"
# Debian keeps /vmlinuz and /initrd.img pointing at the newest kernel.
cp -L "$WORK/rootfs/vmlinuz" "$WORK/rootfs/initrd.img" "$WORK/"
mkdir "$WORK/box"
mkfs.ext4 -q -F -L xdp-vm -d "$WORK/rootfs" "$WORK/disk.raw" "${DISK_GIB}G"
rm -rf "$WORK/rootfs"
qemu-img convert -O qcow2 "$WORK/disk.raw" "$WORK/box/box.img"
rm "$WORK/disk.raw"
printf '{"provider": "libvirt", "format": "qcow2", "virtual_size": %d}\n' "$DISK_GIB" > "$WORK/box/metadata.json"
tar -C "$WORK/box" -cf "$WORK/box.tar" metadata.json box.img
rm -rf "$WORK/box"
vagrant box add --name "$BOX" "$WORK/box.tar"
rm "$WORK/box.tar"

step "libvirt"
# What libvirtd and virtlogd write that was not there before goes at the end;
# the two log and image directories are what libvirt-daemon-system would make.
for path in /etc/libvirt/qemu /etc/libvirt/storage /etc/libvirt/nwfilter /etc/libvirt/secrets \
            /var/lib/libvirt /var/log/libvirt /var/cache/libvirt /run/libvirt; do
    [ -e "$path" ] || made_paths+=("$path")
done
mkdir -p /var/log/libvirt/qemu /var/lib/libvirt/images
# The user libvirt's qemu driver runs guests as; libvirtd does not start
# without it. libvirt-daemon-system would add it, but pulls in systemd.
if ! id libvirt-qemu >/dev/null 2>&1; then
    useradd --system --no-create-home --home-dir /var/lib/libvirt --shell /usr/sbin/nologin --user-group libvirt-qemu
    user_made=1
fi
for daemon in virtlogd libvirtd; do
    if ! pgrep -x "$daemon" >/dev/null; then
        "$daemon" -d
        started=("$daemon" "${started[@]}")   # stopped in reverse order
    fi
done
for _ in $(seq 50); do virsh version >/dev/null 2>&1 && break; sleep 0.2; done
virsh version >/dev/null || fail "libvirtd did not start (run 'libvirtd --verbose' to see why)"
# vagrant-libvirt puts volumes in the pool named "default".
if ! virsh pool-info default >/dev/null 2>&1; then
    virsh pool-define-as default dir --target /var/lib/libvirt/images >/dev/null
    virsh pool-build default >/dev/null
    virsh pool-start default >/dev/null
    pool_made=1
fi

export XDP_VM_KERNEL=$WORK/vmlinuz XDP_VM_INITRD=$WORK/initrd.img
step "vagrant up --provider=libvirt"
start=$SECONDS
vagrant up --provider=libvirt
echo "vagrant up: $((SECONDS - start)) s"

step "vagrant ssh: the testbed is up with nothing typed (scripts/vm-boot-check.sh)"
vagrant ssh -c 'sudo bash ~/xdp-skeleton-rs/scripts/vm-boot-check.sh' | tee "$WORK/boot1.log"
grep -q '^vm-boot-check: ok: ' "$WORK/boot1.log" || fail "the testbed was not up after vagrant up"

step "vagrant ssh: scripts/vm-check.sh in the VM"
vagrant ssh -c 'cd ~/xdp-skeleton-rs && sudo scripts/vm-check.sh' | tee "$WORK/vm-check.log"
grep -q '^vm-check: ok: ' "$WORK/vm-check.log" || fail "vm-check did not pass in the VM"

step "vagrant provision again (idempotent)"
vagrant provision
vagrant ssh -c 'grep -c "^bpffs" /etc/fstab' | tr -d '\r' | grep -qx 1 || fail "a second provision added another bpffs line"
# vm-check ended with stop.sh: provisioning again must bring the testbed back.
vagrant ssh -c 'sudo bash ~/xdp-skeleton-rs/scripts/vm-boot-check.sh' | tee "$WORK/provision2.log"
grep -q '^vm-boot-check: ok: ' "$WORK/provision2.log" || fail "the testbed was not back after vagrant provision"

step "vagrant reload: the testbed comes back after a reboot"
vagrant reload
vagrant ssh -c 'sudo bash ~/xdp-skeleton-rs/scripts/vm-boot-check.sh' | tee "$WORK/boot2.log"
grep -q '^vm-boot-check: ok: ' "$WORK/boot2.log" || fail "the testbed was not up after vagrant reload"

step "vagrant destroy"
domain=$(cat "$VAGRANT_DOTFILE_PATH/machines/default/libvirt/id")
vagrant destroy -f
! virsh dominfo "$domain" >/dev/null 2>&1 || fail "domain $domain is left after vagrant destroy"
echo
echo "vagrant-e2e: ok"
