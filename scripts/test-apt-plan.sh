#!/usr/bin/env bash
# test-apt-plan.sh: the package resolution of a fresh machine image, replayed
# with real apt on this one (run by scripts/test.sh). A machine that has every
# package installed never shows an install problem, so this test gives apt a
# copy of this machine's dpkg status in which the qemu packages are as the
# image ships them (qemu-utils 10.0 from bookworm-backports, no qemu-system),
# and checks that:
#  - apt alone, on the test command's full package list, would remove that
#    qemu-utils (the trap is real, so the test can fail),
#  - lib.sh's apt_plan resolves the list with nothing removed, keeping
#    qemu-utils by pinning it to the release's version.
# Nothing is installed: every apt call is a simulation.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
fail() { echo "test-apt-plan: FAILED: $*" >&2; exit 1; }

# The test command's full list, read from setup.sh (one list, not a copy).
mapfile -t packages < <(bash scripts/setup.sh --print-packages --test)
[ ${#packages[@]} -gt 5 ] || fail "setup.sh --print-packages listed ${#packages[@]} packages"

status=$(mktemp)
trap 'rm -f "$status"' EXIT
# This machine's status without any qemu-system package or qemu-utils, plus
# the image's qemu-utils stanza.
awk -v RS= -v ORS='\n\n' '!/^Package: qemu-(system[^\n]*|utils)\n/' /var/lib/dpkg/status > "$status"
grep -v '^#' scripts/fixtures/qemu-utils-bpo12.status >> "$status"
export APT_STATUS=$status

APT_ARGS=(--no-install-recommends "${packages[@]}")
if apt_simulate; then
    fail "apt alone resolved the list: the fixture no longer reproduces the image"
fi
grep -q '^Remv qemu-utils ' <<<"$APT_SIM" || grep -q 'qemu-utils : Breaks' <<<"$APT_SIM" ||
    fail "apt alone failed, but not on qemu-utils: $(grep -E '^(E:|Remv)' <<<"$APT_SIM" | head -3)"
echo "test-apt-plan: apt alone: $(grep -E '^Remv qemu-utils|qemu-utils : Breaks' <<<"$APT_SIM" | head -1 | tr -s ' ')"

apt_plan "${packages[@]}" || fail "apt_plan did not resolve: $(grep -E '^(E:|Remv)' <<<"$APT_SIM" | head -3)"
[[ " ${APT_ARGS[*]} " == *" qemu-utils/"* ]] || fail "apt_plan did not pin qemu-utils: ${APT_ARGS[*]}"
grep -q '^Remv ' <<<"$APT_SIM" && fail "apt_plan's resolution removes: $(grep '^Remv ' <<<"$APT_SIM")"
grep -qE '^Inst qemu-system-x86 ' <<<"$APT_SIM" || fail "apt_plan's resolution does not install qemu-system-x86"
echo "test-apt-plan: apt_plan: $(grep -E '^Inst qemu-utils ' <<<"$APT_SIM" | tr -s ' '); nothing removed"

# And the machine's own state: the full list resolves as it is.
unset APT_STATUS
apt_plan "${packages[@]}" || fail "the full list does not resolve on this machine: $(grep -E '^(E:|Remv)' <<<"$APT_SIM" | head -3)"
echo "test-apt-plan: ok (${#packages[@]} packages)"
