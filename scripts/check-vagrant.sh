#!/usr/bin/env bash
# Checks the Vagrantfile without a VM: `vagrant validate` (Debian's vagrant
# works offline) for everything it can check, and, since it cannot check the
# blocks of providers that are not installed, the option names used in the
# virtualbox and libvirt blocks against each provider's documented options.
set -euo pipefail
cd "$(dirname "$0")/.."

vagrant validate --ignore-provider >/dev/null

# From the VirtualBox provider's configuration docs and vagrant-libvirt's README.
VIRTUALBOX=(check_guest_additions cpus customize default_nic_type functional_vboxsf
            gui linked_clone memory name update_check)
LIBVIRT=(cpus memory driver kernel initrd cmd_line machine_type nested cpu_mode
         storage_pool_name disk_bus nic_model_type video_type graphics_type uri
         host username connect_via_ssh management_network_name qemu_use_session)

check() { # variable-prefix allowed-names...
    local prefix=$1 bad=0 used
    shift
    while IFS= read -r used; do
        if ! printf '%s\n' "$@" | grep -qx "$used"; then
            echo "check-vagrant: Vagrantfile: '${prefix}.${used}' is not a documented option" >&2
            bad=1
        fi
    done < <(grep -oE "\b${prefix}\.[a-z_]+" Vagrantfile | cut -d. -f2 | sort -u)
    grep -qE "\b${prefix}\." Vagrantfile || { echo "check-vagrant: no ${prefix}. block" >&2; bad=1; }
    return $bad
}
check vb "${VIRTUALBOX[@]}"
check lv "${LIBVIRT[@]}"
echo "check-vagrant: Vagrantfile valid; virtualbox and libvirt option names known"
