#!/usr/bin/env bash
# Fails if the layers leak: the core (`sweepwatch`) must know nothing of C,
# files or engines, and the Suricata plugin must export only Suricata's entry
# point.
#
#   - the core depends on no workspace crate and on nothing beyond its allowed
#     direct dependencies (hashing, bytemuck for zeroed memory, serde for
#     the configuration, TOML, postcard and crc32fast for saved state, libc
#     for mmap), checked with `cargo tree`;
#   - the core's sources hold no `#[no_mangle]`, `extern "C"` or `std::fs`,
#     and `std::io` only where saved state meets the caller's readers and
#     writers (files and C belong to the front ends);
#   - no crate but the C ABI exports `sw_*` symbols, and the plugin's .so
#     exports only `SCPluginRegister` (`nm -D`), so that none of the C ABI
#     lands in Suricata's namespace;
#   - the core, the C ABI (without publishing, whose TLS needs the target's
#     C toolchain) and the readers build, warning-free, for macOS and
#     FreeBSD (`cargo check --target`), where their standard libraries are
#     installed (scripts/ensure-deps.sh adds them with rustup when it can).
#
# Usage: scripts/check-layers.sh   (builds the plugin in release if needed)
set -euo pipefail
cd "$(dirname "$0")/.."

failures=0
fail() {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}

allowed="ahash bytemuck crc32fast libc postcard serde toml"
deps=$(cargo tree -p sweepwatch -e normal --depth 1 --prefix none --quiet | tail -n +2 | awk '{print $1}' | sort -u)
for d in $deps; do
    case " $allowed " in
        *" $d "*) ;;
        *) fail "the core depends on $d (allowed: $allowed)" ;;
    esac
done
# Nor on any workspace crate, even indirectly.
if cargo tree -p sweepwatch -e normal --prefix none --quiet | awk '{print $1}' |
    grep -Eq '^sweepwatch-'; then
    fail "the core depends on another sweepwatch crate"
fi

# Saved state goes to and from the caller's readers and writers (std::io's
# traits), in the one module that writes the format and the error it gives.
leaks=$(grep -rnE '#\[no_mangle\]|extern "C"|std::fs|std::io\b' crates/sweepwatch/src |
    grep -vE '^crates/sweepwatch/src/(detector/state|error)\.rs:[0-9]+:.*std::io\b' || true)
[ -z "$leaks" ] || fail "the core speaks C or files:
$leaks"

cargo build --release --quiet -p sweepwatch-suricata
plugin=target/release/libsweepwatch_suricata.so
exported=$(nm -D --defined-only "$plugin" | awk '$2 ~ /^[TDBRVW]$/ {print $3}' | sort -u)
if [ "$exported" != "SCPluginRegister" ]; then
    fail "the plugin exports more than SCPluginRegister: $(echo "$exported" | tr '\n' ' ')"
fi

for target in x86_64-apple-darwin x86_64-unknown-freebsd; do
    if ! rustup target list --installed 2>/dev/null | grep -qx "$target"; then
        echo "check-layers: skip $target (its standard library is not installed)"
        continue
    fi
    if ! RUSTFLAGS="-D warnings" cargo check --quiet --target "$target" \
        -p sweepwatch -p sweepwatch-input; then
        fail "the core or readers do not build for $target"
    fi
    # Without publishing: the NATS client's TLS (ring) compiles C, which
    # needs the target's C toolchain, not installed here.
    if ! RUSTFLAGS="-D warnings" cargo check --quiet --target "$target" \
        -p sweepwatch-capi --no-default-features; then
        fail "the C ABI does not build for $target"
    fi
done

if [ $failures -ne 0 ]; then
    echo "check-layers: $failures failure(s)" >&2
    exit 1
fi
echo "check-layers: the core depends on $(echo $deps | tr '\n' ' ')only; the plugin exports SCPluginRegister only"
