#!/bin/bash
# Tests the C side end to end: the header is current, the library installs
# like a C library (scripts/install-lib.sh: SONAME, stripped, both .pc files,
# uninstall), and the C examples and tests, built through pkg-config with
# -Werror, pass when linked dynamically and statically, under
# AddressSanitizer+UBSan and under Valgrind, printing the expected verdicts;
# a fully -static build runs, and a program built for another minor version
# refuses the library.
#
# Usage: scripts/c-tests.sh
# Needs: cargo-c (cargo cinstall), cc (gcc or clang), c++, pkg-config, valgrind, readelf (binutils);
# cbindgen 0.27.0 for the header check (skipped with a notice if absent).
# Environment: BUILD_DIR (default build/c-tests), CARGO_TARGET_DIR, CC, CXX.
set -uo pipefail

cd "$(dirname "$0")/.."
root=$(pwd)
build=${BUILD_DIR:-build/c-tests}
mkdir -p "$build"
build=$(cd "$build" && pwd)
prefix=$build/prefix
CC=${CC:-cc}
CXX=${CXX:-c++}
failures=0

fail() {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}
step() { echo "== $*"; }

step "header is generated from the C ABI crate"
if command -v cbindgen >/dev/null 2>&1; then
    scripts/check-header.sh || fail "the header is not what cbindgen generates"
else
    echo "skip: cbindgen not installed (cargo install cbindgen --version 0.27.0 --locked)"
fi

step "install into $prefix (scripts/install-lib.sh: cargo cinstall, stripped)"
rm -rf "$prefix"
if ! scripts/install-lib.sh --prefix "$prefix" --libdir "$prefix/lib" >"$build/install.out" 2>&1; then
    tail -n 30 "$build/install.out" >&2
    echo "FAIL: install (scripts/install-lib.sh; scripts/ensure-deps.sh installs cargo-c)" >&2
    exit 1
fi
soname=libsweepwatch.so.0.$(sed -n 's/^#define SW_VERSION_MINOR \([0-9]*\)$/\1/p' \
    crates/sweepwatch-capi/include/sweepwatch.h)
for f in include/sweepwatch.h lib/libsweepwatch.a lib/libsweepwatch.so "lib/$soname" \
    lib/pkgconfig/sweepwatch.pc lib/pkgconfig/sweepwatch-static.pc share/sweepwatch/installed-files; do
    [ -e "$prefix/$f" ] || fail "missing $prefix/$f"
done
grep -q "SONAME.*\[$soname\]" <<<"$(readelf -d "$prefix/lib/libsweepwatch.so")" ||
    fail "SONAME is not $soname"
# Stripped as a distribution strips: no debug sections in the .so or the .a.
for lib in "$prefix/lib/libsweepwatch.so" "$prefix/lib/libsweepwatch.a"; do
    if grep -q '\.debug_info' <<<"$(readelf -S -W "$lib" 2>/dev/null)"; then
        fail "$lib carries debug information"
    fi
done
unexported=$(nm -D --defined-only "$prefix/lib/libsweepwatch.so" | awk '{print $3}' | grep -v '^sw_' || true)
[ -z "$unexported" ] || fail "symbols without the sw_ prefix exported: $unexported"

export PKG_CONFIG_PATH=$prefix/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
read -r -a cflags <<<"$(pkg-config --cflags sweepwatch)"
read -r -a libs <<<"$(pkg-config --libs sweepwatch)"
# Static: as the README writes it, through sweepwatch-static.pc.
read -r -a static_libs <<<"$(pkg-config --libs sweepwatch-static)"
libdir=$(pkg-config --variable=libdir sweepwatch)
warn=(-std=c11 -Wall -Wextra -Wpedantic -Werror)
sanitize=(-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -g)
export ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:abort_on_error=0
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1

step "header alone compiles as C11 and C++17"
printf '#include <sweepwatch.h>\n' >"$build/only.c"
$CC "${warn[@]}" "${cflags[@]}" -fsyntax-only "$build/only.c" || fail "header as C11"
$CXX -std=c++17 -Wall -Wextra -Wpedantic -Werror "${cflags[@]}" -x c++ -fsyntax-only "$build/only.c" ||
    fail "header as C++17"

# build NAME SOURCE: four binaries, NAME.{dynamic,static,asan-dynamic,asan-static}.
build() {
    local name=$1 src=$2 ok=0
    $CC "${warn[@]}" -g -pthread "${cflags[@]}" "$src" -o "$build/$name.dynamic" "${libs[@]}" \
        -Wl,-rpath,"$libdir" || ok=1
    $CC "${warn[@]}" -g -pthread "${cflags[@]}" "$src" -o "$build/$name.static" "${static_libs[@]}" || ok=1
    $CC "${warn[@]}" "${sanitize[@]}" -pthread "${cflags[@]}" "$src" -o "$build/$name.asan-dynamic" \
        "${libs[@]}" -Wl,-rpath,"$libdir" || ok=1
    $CC "${warn[@]}" "${sanitize[@]}" -pthread "${cflags[@]}" "$src" -o "$build/$name.asan-static" \
        "${static_libs[@]}" || ok=1
    if [ $ok -ne 0 ]; then
        fail "$name does not build"
        return 1
    fi
    grep -q "NEEDED.*\[$soname\]" <<<"$(readelf -d "$build/$name.dynamic")" ||
        fail "$name.dynamic does not load $soname"
    if grep -q 'libsweepwatch' <<<"$(ldd "$build/$name.static")"; then
        fail "$name.static still needs libsweepwatch.so: $(ldd "$build/$name.static")"
    fi
}

# check NAME OUTPUT PATTERN...: every extended regex must match a line.
check() {
    local name=$1 out=$2
    shift 2
    for pattern in "$@"; do
        grep -Eq -- "$pattern" "$out" || fail "$name: no line matches /$pattern/"
    done
}

# run NAME ARGS...: runs the binaries of NAME in every mode, checking exit
# status and output against the patterns in ARGS.
run() {
    local name=$1
    shift
    local mode out
    for mode in dynamic static asan-dynamic asan-static valgrind-dynamic valgrind-static; do
        out=$build/$name.$mode.out
        case $mode in
            valgrind-*)
                valgrind -q --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite \
                    "$build/$name.${mode#valgrind-}" >"$out" 2>"$out.err"
                ;;
            *) "$build/$name.$mode" >"$out" 2>"$out.err" ;;
        esac
        local rc=$?
        if [ $rc -ne 0 ]; then
            fail "$name ($mode) exited with $rc"
            sed 's/^/    /' "$out" "$out.err" | tail -n 30 >&2
            continue
        fi
        check "$name ($mode)" "$out" "$@"
        echo "ok: $name ($mode)"
    done
}

step "C examples and tests"
build minimal crates/sweepwatch-capi/examples/c/minimal.c &&
    run minimal \
        '^verdict kind=port_sweep src=203\.0\.113\.7 direction=inbound ports=22 targets=5 ' \
        '^final kind=port_sweep src=203\.0\.113\.7 direction=inbound ports=22 targets=' \
        '^events=350 ' '^OK: '
if build threads crates/sweepwatch-capi/examples/c/threads.c; then
    run threads \
        '^verdict kind=port_sweep src=203\.0\.113\.1 ' \
        '^verdict kind=port_sweep src=203\.0\.113\.2 ' \
        '^verdict kind=port_scan src=198\.51\.100\.3 ' \
        '^verdict kind=outbound_sweep src=10\.9\.0\.4 ' \
        '^verdict kind=icmp_sweep src=203\.0\.113\.5 ' \
        '^events=320 verdicts=5$' '^OK: '
fi
build bad_input crates/sweepwatch-capi/tests/c/bad_input.c && run bad_input '^[0-9]+ checks, 0 failed$'
build names crates/sweepwatch-capi/tests/c/names.c && run names '^[0-9]+ checks, 0 failed$'
build json crates/sweepwatch-capi/tests/c/json.c && run json '^[0-9]+ checks, 0 failed$'
build zones crates/sweepwatch-capi/tests/c/zones.c && run zones '^[0-9]+ checks, 0 failed$'
build reconfigure crates/sweepwatch-capi/tests/c/reconfigure.c && run reconfigure '^[0-9]+ checks, 0 failed$'
build order crates/sweepwatch-capi/tests/c/order.c && run order '^[0-9]+ checks, 0 failed$'
build state crates/sweepwatch-capi/tests/c/state.c && run state '^[0-9]+ checks, 0 failed$'
build stage crates/sweepwatch-capi/tests/c/stage.c && run stage '^[0-9]+ checks, 0 failed$'
build publish crates/sweepwatch-capi/tests/c/publish.c && run publish '^[0-9]+ checks, 0 failed$'

step "sensors publish from C; sweepwatch aggregate joins them"
# Two sensors behind a broker, each seeing 4 of a scanner's 8 hosts (below
# min_targets, 5), run in every mode against one NATS server of the test's
# own; the aggregator must find the sweep of all 8 (publish.c says what it
# sent: 203.0.113.7 refused on 22/tcp by 10.0.0.1-8).
# shellcheck source=lib/nats.sh
source scripts/lib/nats.sh
if [ -x "$build/publish.dynamic" ] && start_nats "$build/nats"; then
    i=0
    for mode in dynamic static asan-dynamic asan-static valgrind-dynamic valgrind-static; do
        k=$((i % 2))
        i=$((i + 1))
        out=$build/publish.nats.$mode.out
        case $mode in
            valgrind-*)
                valgrind -q --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite \
                    "$build/publish.${mode#valgrind-}" "$nats_url" "$k" 2 >"$out" 2>"$out.err"
                ;;
            *) "$build/publish.$mode" "$nats_url" "$k" 2 >"$out" 2>"$out.err" ;;
        esac
        rc=$?
        if [ $rc -ne 0 ]; then
            fail "publish as sensor $k of 2 ($mode) exited with $rc"
            sed 's/^/    /' "$out" "$out.err" | tail -n 30 >&2
            continue
        fi
        check "publish ($mode)" "$out" '^[0-9]+ checks, 0 failed$' "^sensor $k of 2: 4 hosts probed"
        echo "ok: publish as sensor $k of 2 ($mode): $(grep '^# events' "$out" | cut -c3-)"
    done
    cargo build --release --quiet -p sweepwatch-cli
    "${CARGO_TARGET_DIR:-target}/release/sweepwatch" aggregate --nats "$nats_url" --json \
        --exit-when-idle 3 >"$build/aggregate.json" 2>"$build/aggregate.err" ||
        fail "sweepwatch aggregate failed: $(tail -n 5 "$build/aggregate.err")"
    kill "$nats_pid"
    got=$(jq -r '"\(.src) \(.kind) \(.ports | map(tostring) | join(",")) \(.targets) \(.failed) \(.final)"' \
        "$build/aggregate.json" | LC_ALL=C sort)
    want=$(printf '%s\n' "203.0.113.7 port_sweep 22 5 5 false" "203.0.113.7 port_sweep 22 8 8 true")
    if [ "$got" = "$want" ]; then
        echo "ok: the aggregator found the sweep neither sensor saw: 5 hosts, then all 8"
    else
        fail "the aggregator wrote (src kind ports targets failed final):
$got
expected:
$want"
    fi
else
    fail "publish: no binary or no NATS server"
fi

step "fully static (-static), where the C library can be linked so"
printf 'int main(void) { return 0; }\n' >"$build/empty.c"
if ! $CC -static "$build/empty.c" -o "$build/empty" 2>/dev/null; then
    echo "skip: $CC cannot link -static here (no static C library)"
elif $CC -static "${warn[@]}" -pthread crates/sweepwatch-capi/examples/c/minimal.c -o "$build/minimal.full-static" \
    $(pkg-config --cflags --libs sweepwatch-static) 2>"$build/minimal.full-static.err"; then
    if grep -q NEEDED <<<"$(readelf -d "$build/minimal.full-static" 2>/dev/null)"; then
        fail "minimal.full-static loads shared libraries"
    fi
    # Valgrind reports glibc's own static start-up (TLS set-up) as
    # uninitialised reads, so the static binary is checked by its output.
    if "$build/minimal.full-static" >"$build/minimal.full-static.out" 2>&1; then
        check minimal.full-static "$build/minimal.full-static.out" '^events=350 ' '^OK: '
        echo "ok: minimal (-static)"
    else
        fail "minimal.full-static exited with $?"
    fi
else
    sed 's/^/    /' "$build/minimal.full-static.err" | tail -n 20 >&2
    fail "minimal does not link with -static"
fi

step "a program built for another minor version refuses the library"
mkdir -p "$build/other-version"
sed -e 's/^#define SW_VERSION_MINOR [0-9]*$/#define SW_VERSION_MINOR 99/' \
    -e 's/^#define SW_VERSION_NUMBER [0-9]*$/#define SW_VERSION_NUMBER 9900/' \
    crates/sweepwatch-capi/include/sweepwatch.h >"$build/other-version/sweepwatch.h"
if $CC "${warn[@]}" -I"$build/other-version" crates/sweepwatch-capi/examples/c/minimal.c \
    -o "$build/minimal.other-version" -L"$libdir" -lsweepwatch -Wl,-rpath,"$libdir"; then
    "$build/minimal.other-version" >"$build/minimal.other-version.out" 2>&1
    rc=$?
    [ $rc -eq 1 ] || fail "minimal built for 0.99 exited with $rc against the 0.1 library"
    check minimal.other-version "$build/minimal.other-version.out" '^libsweepwatch 0\.1\.[0-9]+, but built for 0\.99$'
    echo "ok: minimal built for 0.99 refuses libsweepwatch $(sed -n 's/^libsweepwatch \([^,]*\),.*/\1/p' "$build/minimal.other-version.out")"
else
    fail "minimal does not build against a header of another version"
fi

step "C++17 includes the header twice"
if $CXX -std=c++17 -Wall -Wextra -Wpedantic -Werror "${cflags[@]}" crates/sweepwatch-capi/tests/c/header_cxx.cpp \
    -o "$build/header_cxx" "${libs[@]}" -Wl,-rpath,"$libdir"; then
    "$build/header_cxx" >"$build/header_cxx.out" 2>&1 || fail "header_cxx exited with $?"
    check header_cxx "$build/header_cxx.out" '^C\+\+: 1 verdict\(s\)$'
else
    fail "header_cxx does not build"
fi

step "uninstall removes every installed file"
if scripts/install-lib.sh --uninstall --prefix "$prefix" >"$build/uninstall.out" 2>&1; then
    left=$(find "$prefix" \( -type f -o -type l \) | sed "s|^$prefix/||")
    [ -z "$left" ] || fail "left after --uninstall: $left"
else
    fail "scripts/install-lib.sh --uninstall: $(tail -n 5 "$build/uninstall.out")"
fi

if [ $failures -ne 0 ]; then
    echo "c-tests: $failures failure(s)" >&2
    exit 1
fi
echo "c-tests: all passed (outputs in $build)"
cd "$root"
