#!/bin/sh
# Regenerates crates/sweepwatch-capi/include/sweepwatch.h from the C ABI crate with the pinned cbindgen and
# fails if it differs from the checked-in header or names anything but sw_
# items. With --write, updates it.
#
#   cargo install cbindgen --version 0.27.0 --locked
#   scripts/check-header.sh [--write]
set -eu

CBINDGEN_VERSION=0.27.0
cd "$(dirname "$0")/../crates/sweepwatch-capi"

if ! command -v cbindgen >/dev/null 2>&1; then
    echo "cbindgen not found: cargo install cbindgen --version $CBINDGEN_VERSION --locked" >&2
    exit 2
fi
found=$(cbindgen --version | awk '{print $2}')
if [ "$found" != "$CBINDGEN_VERSION" ]; then
    echo "cbindgen $found found, $CBINDGEN_VERSION required (its output differs between versions)" >&2
    exit 2
fi

tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
# The C ABI crate alone (parse_deps = false): public items of the core never
# leak into the header.
cbindgen --quiet --config cbindgen.toml --crate sweepwatch-capi --output "$tmp"

# Only the C ABI's own names: a Rust item of another crate in the header would
# be a name C users could come to rely on.
strays=$(grep -oE '^#define [A-Za-z_0-9]+|^typedef [a-z_0-9 ]+ [A-Za-z_0-9(*]+|^(struct|enum) [A-Za-z_0-9]+' "$tmp" |
    awk '{print $NF}' | sort -u | grep -vE '^(sw_|SW_|\(\*sw_|SWEEPWATCH_H$)' || true)
if [ -n "$strays" ]; then
    echo "the header names items outside the C ABI: $strays" >&2
    exit 1
fi

if [ "${1:-}" = "--write" ]; then
    cp "$tmp" include/sweepwatch.h
    echo "wrote include/sweepwatch.h"
elif ! diff -u include/sweepwatch.h "$tmp"; then
    echo "include/sweepwatch.h is out of date: run scripts/check-header.sh --write" >&2
    exit 1
else
    echo "include/sweepwatch.h is up to date"
fi
