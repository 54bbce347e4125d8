#!/bin/sh
# Builds the C library and installs it under PREFIX the way C users expect:
#
#   PREFIX/include/sweepwatch.h
#   PREFIX/lib/libsweepwatch.so.X.Y.Z, with libsweepwatch.so.0 (the SONAME)
#                                and libsweepwatch.so (for -lsweepwatch) links
#   PREFIX/lib/libsweepwatch.a
#   PREFIX/lib/pkgconfig/sweepwatch.pc
#
# Usage: scripts/install.sh PREFIX
# Environment: DESTDIR (staging root for packagers), LIBDIR (default PREFIX/lib),
# CARGO_TARGET_DIR (where cargo builds, default ./target).
set -eu

if [ $# -ne 1 ]; then
    echo "usage: $0 PREFIX" >&2
    exit 2
fi
prefix=$1
case $prefix in
    /*) ;;
    *) prefix=$(cd "$prefix" 2>/dev/null && pwd || echo "$(pwd)/$prefix") ;;
esac
libdir=${LIBDIR:-$prefix/lib}
# The .pc file names libdir relative to prefix unless LIBDIR was given.
pc_libdir=${LIBDIR:-\${exec_prefix\}/lib}
includedir=$prefix/include
destdir=${DESTDIR:-}

cd "$(dirname "$0")/.."
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
soname=libsweepwatch.so.0
target=${CARGO_TARGET_DIR:-target}

# Engines link the core and the C ABI only: no readers, no command-line tool.
cargo build --release --no-default-features
out=$target/release

install -d "$destdir$libdir/pkgconfig" "$destdir$includedir"
install -m 0644 include/sweepwatch.h "$destdir$includedir/sweepwatch.h"
install -m 0644 "$out/libsweepwatch.a" "$destdir$libdir/libsweepwatch.a"
install -m 0755 "$out/libsweepwatch.so" "$destdir$libdir/libsweepwatch.so.$version"
ln -sf "libsweepwatch.so.$version" "$destdir$libdir/$soname"
ln -sf "$soname" "$destdir$libdir/libsweepwatch.so"

if command -v readelf >/dev/null 2>&1; then
    if ! readelf -d "$destdir$libdir/libsweepwatch.so.$version" | grep -q "SONAME.*\[$soname\]"; then
        echo "libsweepwatch.so lacks the SONAME $soname (see build.rs)" >&2
        exit 1
    fi
fi

# Libs.private lists what Rust's standard library needs when linking the static
# library (rustc --print native-static-libs on linux-gnu).
cat > "$destdir$libdir/pkgconfig/sweepwatch.pc" <<PC
prefix=$prefix
exec_prefix=\${prefix}
libdir=$pc_libdir
includedir=\${prefix}/include

Name: sweepwatch
Description: Port-sweep, port-scan and outbound-sweep detection in fixed memory
Version: $version
Libs: -L\${libdir} -lsweepwatch
Libs.private: -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc
Cflags: -I\${includedir}
PC

echo "installed sweepwatch $version in $destdir$prefix"
