#!/usr/bin/env bash
# build-deb.sh [OUT_DIR]: the Debian package of the workspace, built with
# Debian's dpkg-deb:
#   /usr/bin/xdploader, /usr/bin/statswatch (release build, static-pie)
#   /usr/lib/xdp-skeleton-rs/*.elf        the example and helper objects of kern/
#   /usr/share/man/man1/                  man pages of both tools (clap_mangen)
#   bash, zsh and fish completions        (clap_complete)
#   /lib/systemd/system/                  xdploader.service, statswatch-exporter.service
#   /usr/share/doc/xdp-skeleton-rs/       README, docs/, copyright, examples/xdploader.toml
#   /usr/share/xdp-skeleton-rs/prometheus/ scrape config and rules
# The units are installed, not enabled; xdploader.service runs only once
# /etc/xdploader/config.toml exists (the example is in the doc directory).
# Prints the path of the .deb. scripts/provision-test.sh installs it into a
# fresh Debian 12 and removes it again.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-target/deb}
export PATH="${HOME:-/root}/.cargo/bin:$PATH"

for tool in dpkg-deb gzip readelf; do
    command -v "$tool" >/dev/null || { echo "build-deb.sh: $tool not found (apt-get install dpkg-dev)" >&2; exit 1; }
done
# Static-pie binaries: no shared library to depend on, and a one-shot
# statswatch starts as fast as bpftool (scripts/build-static.sh says why).
bins=$(bash scripts/build-static.sh)
make -s -C kern

name=xdp-skeleton-rs
version=$(sed -nE 's/^version = "([^"]+)"/\1/p' Cargo.toml | head -1)
commit=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
arch=$(dpkg --print-architecture)
stage=$(mktemp -d "${TMPDIR:-/tmp}/xdp-deb.XXXXXX")
trap 'rm -rf "$stage"' EXIT
root=$stage/root
lib=/usr/lib/$name
doc=/usr/share/doc/$name

install -D -m 0755 "$bins/xdploader" "$root/usr/bin/xdploader"
install -D -m 0755 "$bins/statswatch" "$root/usr/bin/statswatch"
install -d "$root$lib"
install -m 0644 kern/*.elf "$root$lib/"

assets=$stage/assets
"$bins/xdploader" --generate-assets "$assets"
"$bins/statswatch" --generate-assets "$assets"
install -d "$root/usr/share/man/man1"
for page in "$assets"/*.1; do
    gz="$root/usr/share/man/man1/${page##*/}.gz"
    gzip -9n -c "$page" > "$gz"
done
for tool in xdploader statswatch; do
    install -D -m 0644 "$assets/$tool.bash" "$root/usr/share/bash-completion/completions/$tool"
    install -D -m 0644 "$assets/_$tool" "$root/usr/share/zsh/vendor-completions/_$tool"
    install -D -m 0644 "$assets/$tool.fish" "$root/usr/share/fish/vendor_completions.d/$tool.fish"
done

# The units, with the package's paths.
for unit in xdploader.service statswatch-exporter.service; do
    install -d "$root/lib/systemd/system"
    sed 's|/usr/local/bin/|/usr/bin/|g; s|provision/install-units.sh|the xdp-skeleton-rs package|' \
        "provision/$unit" > "$root/lib/systemd/system/$unit"
done

install -d "$root$doc/examples" "$root/usr/share/$name/prometheus"
gzip -9n < README.md > "$root$doc/README.md.gz"
install -d "$root$doc/docs"
for page in docs/*.md; do
    gzip -9n < "$page" > "$root$doc/$page.gz"
done
sed "s|^file = \"\.\./kern/|file = \"$lib/|" examples/xdploader.toml > "$root$doc/examples/xdploader.toml"
install -m 0644 prometheus/*.yml "$root/usr/share/$name/prometheus/"
cat > "$root$doc/copyright" <<EOF
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: $name
Source: $(sed -nE 's/^repository = "([^"]+)"/\1/p' Cargo.toml | head -1)

Files: *
License: MIT or Apache-2.0
EOF

# No Depends: the binaries are static (build-static.sh checked that they
# need no shared library); what they run beside is recommended.

install -d "$root/DEBIAN"
cat > "$root/DEBIAN/control" <<EOF
Package: $name
Version: $version+git$commit
Architecture: $arch
Maintainer: xdp-skeleton-rs developers <xdp-skeleton-rs@users.noreply.github.com>
Installed-Size: $(du -sk "$root" | cut -f1)
Recommends: iproute2, bpftool
Suggests: prometheus, graphviz
Section: net
Priority: optional
Homepage: $(sed -nE 's/^repository = "([^"]+)"/\1/p' Cargo.toml | head -1)
Description: load any XDP ELF, watch what it does
 xdploader loads an XDP object: fills its prog-array jump tables and devmap,
 pins its maps under /sys/fs/bpf and attaches the entry program so it
 outlives the loader; apply makes a config file of attachments true.
 statswatch reads the pinned per-CPU verdict counters, watches their rates
 and serves them to Prometheus.
EOF

mkdir -p "$OUT"
deb=$OUT/${name}_${version}+git${commit}_$arch.deb
dpkg-deb --build --root-owner-group -Zxz "$root" "$deb" >/dev/null
echo "$deb"
