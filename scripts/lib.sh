# Shared by scripts/setup.sh and provision/provision.sh (sourced, not run).
# shellcheck shell=bash

# The Rust version the workspace needs (aya 0.14); Debian's own cargo is older.
MSRV=1.87

# apt_plan PACKAGE...: sets APT_ARGS to what `apt-get install` must be given so
# that the whole list installs without removing anything the machine has.
# The usual trap: a package installed from a source this machine no longer
# lists (`[installed,local]`, e.g. the image's qemu-utils 10.0 from
# bookworm-backports) Breaks what the release ships (qemu-system-x86 7.2).
# apt then plans to remove it, or gives up ("generated breaks"). Such a package
# is pinned to the release's own version (`qemu-utils/bookworm`, a downgrade),
# which keeps it installed and consistent with the rest.
# It resolves the full list, installed or not, so a machine that already has
# everything still proves the resolution (APT_STATUS=FILE simulates against
# another dpkg status file: the test of this function uses it).
apt_plan() {
    local release p local_pkgs pins=()
    release=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
    APT_ARGS=(--no-install-recommends "$@")
    apt_simulate && return 0
    # Pin the local packages the failure names: removed (`Remv P`) or broken (` P : Breaks`).
    local_pkgs=$(apt_status_opt apt list --installed 2>/dev/null | grep -F ',local]' | cut -d/ -f1)
    while read -r p; do
        if [ -n "$release" ] && grep -qx "$p" <<<"$local_pkgs"; then pins+=("$p/$release"); fi
    done < <(sed -nE 's/^Remv ([^ ]+).*/\1/p; s/^ +([^ ]+) : .*/\1/p' <<<"$APT_SIM" | sort -u)
    [ ${#pins[@]} -gt 0 ] || return 1
    APT_ARGS=(--allow-downgrades "${APT_ARGS[@]}" "${pins[@]}")
    apt_simulate
}

# apt_simulate: whether `apt-get install -s APT_ARGS` resolves, removing nothing.
# The simulation's output is left in APT_SIM.
apt_simulate() {
    APT_SIM=$(LC_ALL=C apt_status_opt apt-get install -s "${APT_ARGS[@]}" 2>&1) &&
        ! grep -q '^Remv ' <<<"$APT_SIM"
}

# apt_status_opt CMD ARG...: CMD, reading the dpkg status from $APT_STATUS if set.
apt_status_opt() {
    local cmd=$1
    shift
    if [ -n "${APT_STATUS:-}" ]; then
        "$cmd" -o "Dir::State::status=$APT_STATUS" "$@"
    else
        "$cmd" "$@"
    fi
}

# install_missing WHO PACKAGE...: installs the packages not installed yet, in
# the resolution apt_plan checked for the whole list (the pins it adds come
# along, so the image's qemu-utils is downgraded, not removed).
install_missing() {
    local who=$1 pkg missing=()
    shift
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
    done
    export DEBIAN_FRONTEND=noninteractive
    # A fresh machine may have no package lists, or old ones: update before
    # installing, or when the resolution fails.
    if [ ${#missing[@]} -gt 0 ] || ! apt_plan "$@"; then
        apt-get update -qq
        if ! apt_plan "$@"; then
            echo "$who: apt cannot install $* without removing packages:" \
                 "$(grep -E '^(E:|Remv | +[^ ]+ : )' <<<"$APT_SIM" | tr -s ' ' | paste -sd';' -)" >&2
            return 1
        fi
    fi
    [ ${#missing[@]} -gt 0 ] || return 0
    echo "$who: installing ${missing[*]}"
    apt-get install -y -qq "${APT_ARGS[@]}" >/dev/null
}

# at_least_msrv VERSION: whether a cargo VERSION is recent enough.
at_least_msrv() {
    [ -n "$1" ] && [ "$(printf '%s\n%s\n' "$MSRV" "$1" | sort -V | head -1)" = "$MSRV" ]
}
