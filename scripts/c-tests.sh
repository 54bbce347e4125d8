#!/bin/bash
# Tests the C side end to end: the header is current, the library installs
# like a C library, and the C examples and tests, built through pkg-config
# with -Werror, pass when linked dynamically and statically, under
# AddressSanitizer+UBSan and under Valgrind, printing the expected verdicts.
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

step "install into $prefix (cargo cinstall)"
rm -rf "$prefix"
if ! cargo cinstall --release -p sweepwatch-capi --prefix "$prefix" --libdir "$prefix/lib"; then
    echo "FAIL: install (cargo cinstall; scripts/ensure-deps.sh installs cargo-c)" >&2
    exit 1
fi
for f in include/sweepwatch.h lib/libsweepwatch.a lib/libsweepwatch.so lib/libsweepwatch.so.0 \
    lib/pkgconfig/sweepwatch.pc; do
    [ -e "$prefix/$f" ] || fail "missing $prefix/$f"
done
readelf -d "$prefix/lib/libsweepwatch.so" | grep -q 'SONAME.*\[libsweepwatch.so.0\]' ||
    fail "SONAME is not libsweepwatch.so.0"
unexported=$(nm -D --defined-only "$prefix/lib/libsweepwatch.so" | awk '{print $3}' | grep -v '^sw_' || true)
[ -z "$unexported" ] || fail "symbols without the sw_ prefix exported: $unexported"

export PKG_CONFIG_PATH=$prefix/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
read -r -a cflags <<<"$(pkg-config --cflags sweepwatch)"
read -r -a libs <<<"$(pkg-config --libs sweepwatch)"
# Static: the archive by name (the linker would otherwise prefer the .so), then
# the system libraries it needs from Libs.private.
read -r -a static_libs <<<"$(pkg-config --static --libs sweepwatch | sed 's/-lsweepwatch\b/-l:libsweepwatch.a/')"
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
    readelf -d "$build/$name.dynamic" | grep -q 'NEEDED.*\[libsweepwatch.so.0\]' ||
        fail "$name.dynamic does not load libsweepwatch.so.0"
    if readelf -d "$build/$name.static" | grep -q 'NEEDED.*libsweepwatch'; then
        fail "$name.static still needs libsweepwatch.so"
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
build order crates/sweepwatch-capi/tests/c/order.c && run order '^[0-9]+ checks, 0 failed$'
build state crates/sweepwatch-capi/tests/c/state.c && run state '^[0-9]+ checks, 0 failed$'
build stage crates/sweepwatch-capi/tests/c/stage.c && run stage '^[0-9]+ checks, 0 failed$'

step "C++17 includes the header twice"
if $CXX -std=c++17 -Wall -Wextra -Wpedantic -Werror "${cflags[@]}" crates/sweepwatch-capi/tests/c/header_cxx.cpp \
    -o "$build/header_cxx" "${libs[@]}" -Wl,-rpath,"$libdir"; then
    "$build/header_cxx" >"$build/header_cxx.out" 2>&1 || fail "header_cxx exited with $?"
    check header_cxx "$build/header_cxx.out" '^C\+\+: 1 verdict\(s\)$'
else
    fail "header_cxx does not build"
fi

if [ $failures -ne 0 ]; then
    echo "c-tests: $failures failure(s)" >&2
    exit 1
fi
echo "c-tests: all passed (outputs in $build)"
cd "$root"
