#!/usr/bin/env bash
# Builds sweepwatch's Debian packages with dpkg-deb, from this checkout:
#
#   sweepwatch            the command, its manual pages, bash/zsh/fish
#                         completions and the systemd unit (not enabled)
#   libsweepwatch0.1      the shared C library (the SONAME's package)
#   libsweepwatch-dev     header, static library, .so link, pkg-config files
#   sweepwatch-suricata   the Suricata 7.0/8.0 EVE plugin
#
# Usage: packaging/deb/build.sh [OUTDIR]   (default target/debian)
# Needs: cargo, cargo-c, dpkg-dev (dpkg-shlibdeps), fakeroot, gzip, strip.
# Environment: CARGO_TARGET_DIR; DEB_MAINTAINER (the Maintainer field).
# Prints the paths of the packages built.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
target=${CARGO_TARGET_DIR:-$root/target}
out=${1:-$target/debian}
mkdir -p "$out"
out=$(cd "$out" && pwd)

version=$(awk -F'"' '/^version = /{print $2; exit}' Cargo.toml)
[ -n "$version" ] || { echo "build.sh: no version in Cargo.toml" >&2; exit 1; }
debversion=$version-1
minor=$(echo "$version" | cut -d. -f1,2)
arch=$(dpkg --print-architecture)
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
libpkg=libsweepwatch$minor
maintainer=${DEB_MAINTAINER:-"sweepwatch developers <sweepwatch@localhost>"}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "== building (dist profile)" >&2
cargo build --quiet --profile dist -p sweepwatch-cli -p sweepwatch-suricata >&2
scripts/install-lib.sh --prefix /usr --libdir "/usr/lib/$multiarch" --destdir "$work/lib" >/dev/null

# copyright FILE: the licence statement every package carries.
copyright() {
    mkdir -p "$(dirname "$1")"
    cat >"$1" <<'EOF'
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: sweepwatch

Files: *
Copyright: the sweepwatch developers
License: MIT or Apache-2.0
 sweepwatch may be used under the terms of either licence, at your option.
 .
 On Debian systems, the full text of the Apache License 2.0 is in
 /usr/share/common-licenses/Apache-2.0.
 .
 MIT License: Permission is hereby granted, free of charge, to any person
 obtaining a copy of this software and associated documentation files (the
 "Software"), to deal in the Software without restriction, including without
 limitation the rights to use, copy, modify, merge, publish, distribute,
 sublicense, and/or sell copies of the Software, and to permit persons to whom
 the Software is furnished to do so, subject to the following conditions: the
 above copyright notice and this permission notice shall be included in all
 copies or substantial portions of the Software. THE SOFTWARE IS PROVIDED "AS
 IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED.
EOF
}

# depends FILE...: the Depends line dpkg-shlibdeps computes for the ELF
# files (it reads a debian/control, so one is made for it).
depends() {
    local src=$work/shlibdeps
    mkdir -p "$src/debian"
    printf 'Source: sweepwatch\n\nPackage: sweepwatch\nArchitecture: any\n' >"$src/debian/control"
    (cd "$src" && dpkg-shlibdeps -O -l"$work/lib/usr/lib/$multiarch" "$@" 2>/dev/null) |
        sed -n 's/^shlibs:Depends=//p'
}

# package DIR NAME SECTION DEPENDS DESCRIPTION...: writes DEBIAN/control
# (with the installed size) and builds the .deb.
package() {
    local dir=$1 name=$2 section=$3 deps=$4 summary=$5
    shift 5
    mkdir -p "$dir/DEBIAN"
    copyright "$dir/usr/share/doc/$name/copyright"
    {
        echo "Package: $name"
        echo "Version: $debversion"
        echo "Architecture: $arch"
        echo "Maintainer: $maintainer"
        echo "Installed-Size: $(du -sk --exclude=DEBIAN "$dir" | cut -f1)"
        [ -n "$deps" ] && echo "Depends: $deps"
        for extra in "$@"; do echo "$extra"; done
        echo "Section: $section"
        echo "Priority: optional"
        echo "Description: $summary"
        echo " sweepwatch finds hosts that sweep one port across many hosts, scan many"
        echo " ports of one host, or, from the home networks, mostly fail to reach"
        echo " outside hosts, in fixed memory, from connection events."
    } >"$dir/DEBIAN/control"
    fakeroot dpkg-deb --build -Zxz "$dir" "$out/${name}_${debversion}_$arch.deb" >/dev/null
    echo "$out/${name}_${debversion}_$arch.deb"
}

# The shared library: the SONAME's file and link; ldconfig runs by trigger.
lib=$work/pkg-lib
mkdir -p "$lib/usr/lib/$multiarch"
cp -a "$work/lib/usr/lib/$multiarch"/libsweepwatch.so.* "$lib/usr/lib/$multiarch/"
mkdir -p "$lib/DEBIAN"
echo "activate-noawait ldconfig" >"$lib/DEBIAN/triggers"
echo "libsweepwatch $minor $libpkg (>= $version)" >"$lib/DEBIAN/shlibs"
so=$(find "$lib/usr/lib/$multiarch" -type f -name 'libsweepwatch.so.*')
package "$lib" "$libpkg" libs "$(depends "$so")" \
    "sweepwatch's C library: port sweep and scan detection for IDS engines" \
    "Multi-Arch: same"

# The development files.
dev=$work/pkg-dev
mkdir -p "$dev/usr/lib/$multiarch" "$dev/usr"
cp -a "$work/lib/usr/include" "$dev/usr/"
cp -a "$work/lib/usr/lib/$multiarch"/{libsweepwatch.a,libsweepwatch.so,pkgconfig} "$dev/usr/lib/$multiarch/"
package "$dev" libsweepwatch-dev libdevel "$libpkg (= $debversion)" \
    "sweepwatch's C library: header, static library and pkg-config files"

# The command.
cmd=$work/pkg-cmd
mkdir -p "$cmd/usr/bin" "$cmd/usr/share/man/man1" "$cmd/lib/systemd/system" \
    "$cmd/usr/share/bash-completion/completions" "$cmd/usr/share/zsh/vendor-completions" \
    "$cmd/usr/share/fish/vendor_completions.d"
strip --strip-unneeded -o "$cmd/usr/bin/sweepwatch" "$target/dist/sweepwatch"
"$cmd/usr/bin/sweepwatch" man --dir "$cmd/usr/share/man/man1"
gzip -9n "$cmd/usr/share/man/man1"/*.1
"$cmd/usr/bin/sweepwatch" completions bash >"$cmd/usr/share/bash-completion/completions/sweepwatch"
"$cmd/usr/bin/sweepwatch" completions zsh >"$cmd/usr/share/zsh/vendor-completions/_sweepwatch"
"$cmd/usr/bin/sweepwatch" completions fish >"$cmd/usr/share/fish/vendor_completions.d/sweepwatch.fish"
sed 's|/usr/local/bin/sweepwatch|/usr/bin/sweepwatch|g; s|copy the binary to /usr/local/bin, this file to|(the package installs the binary and this file;|; s|^# /etc/systemd/system/, set what|# then) set what|' \
    packaging/systemd/sweepwatch.service >"$cmd/lib/systemd/system/sweepwatch.service"
sed 's|/usr/local/bin/sweepwatch|/usr/bin/sweepwatch|g; s|copy the binary to /usr/local/bin, this file to|(the package installs the binary and this file;|; s|^# /etc/systemd/system/, name the server|# then) name the server|' \
    packaging/systemd/sweepwatch-aggregate.service >"$cmd/lib/systemd/system/sweepwatch-aggregate.service"
mkdir -p "$cmd/DEBIAN"
for script in postinst postrm; do
    cat >"$cmd/DEBIAN/$script" <<'EOF'
#!/bin/sh
# The units are installed, not enabled: what to follow, or which NATS
# server to aggregate from, is the operator's choice (/etc/default/sweepwatch,
# /etc/default/sweepwatch-aggregate), then `systemctl enable --now UNIT`.
set -e
if [ -d /run/systemd/system ]; then
    systemctl --system daemon-reload >/dev/null || true
fi
EOF
    chmod 755 "$cmd/DEBIAN/$script"
done
package "$cmd" sweepwatch net "$(depends "$cmd/usr/bin/sweepwatch")" \
    "port sweep and scan detection in captures and IDS logs" \
    "Suggests: suricata | zeek"

# The Suricata plugin.
plug=$work/pkg-suricata
mkdir -p "$plug/usr/lib/suricata" "$plug/usr/share/doc/sweepwatch-suricata"
strip --strip-unneeded -o "$plug/usr/lib/suricata/libsweepwatch_suricata.so" \
    "$target/dist/libsweepwatch_suricata.so"
chmod 644 "$plug/usr/lib/suricata/libsweepwatch_suricata.so"
gzip -9n <bindings/suricata/README.md >"$plug/usr/share/doc/sweepwatch-suricata/README.md.gz"
package "$plug" sweepwatch-suricata net "$(depends "$plug/usr/lib/suricata/libsweepwatch_suricata.so")" \
    "Suricata 7.0/8.0 EVE output plugin: port sweeps and scans" \
    "Enhances: suricata"
