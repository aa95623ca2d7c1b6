# Shared by scripts/setup.sh and provision/provision.sh (sourced, not run).
# shellcheck shell=bash

# The Rust version the workspace needs (aya 0.14); Debian's own cargo is older.
MSRV=1.87

# install_missing WHO PACKAGE...: apt-get installs the packages not installed yet.
install_missing() {
    local who=$1 pkg missing=()
    shift
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "$who: installing ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
}

# at_least_msrv VERSION: whether a cargo VERSION is recent enough.
at_least_msrv() {
    [ -n "$1" ] && [ "$(printf '%s\n%s\n' "$MSRV" "$1" | sort -V | head -1)" = "$MSRV" ]
}
