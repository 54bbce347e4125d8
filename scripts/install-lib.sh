#!/usr/bin/env bash
# Installs the C library as a C library is installed, or removes it again:
#
#   scripts/install-lib.sh [--prefix DIR] [--libdir DIR] [--destdir DIR]
#   scripts/install-lib.sh --uninstall [--prefix DIR] [--destdir DIR]
#
# Builds with the `dist` profile through cargo-c (`cargo cinstall`, which
# computes Libs.private from rustc's native-static-libs and sets the SONAME,
# libsweepwatch.so.0.<minor> before 1.0), strips the libraries as Debian's
# dh_strip does, and installs:
#   include/sweepwatch.h
#   LIBDIR/libsweepwatch.so.0.1.0, .so.0.1 (the SONAME), .so (for -lsweepwatch)
#   LIBDIR/libsweepwatch.a
#   LIBDIR/pkgconfig/sweepwatch.pc         shared linking
#   LIBDIR/pkgconfig/sweepwatch-static.pc  static linking, also with -static
#   share/sweepwatch/installed-files       what --uninstall removes
# LIBDIR defaults to lib/<multiarch> where the compiler names one (Debian:
# lib/x86_64-linux-gnu, which ld.so and pkg-config search under /usr/local
# too), else lib. Installed as root without --destdir under /usr or
# /usr/local, whose library directories ld.so searches, ldconfig is run.
#
# Environment: CC (default cc), CARGO_TARGET_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."

prefix=/usr/local
libdir=
destdir=
uninstall=0
while [ $# -gt 0 ]; do
    case $1 in
        --prefix) prefix=$2; shift 2 ;;
        --libdir) libdir=$2; shift 2 ;;
        --destdir) destdir=$2; shift 2 ;;
        --uninstall) uninstall=1; shift ;;
        -h|--help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "install-lib.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
case $prefix in
    /*) ;;
    *) echo "install-lib.sh: --prefix must be absolute: $prefix" >&2; exit 2 ;;
esac
manifest=$prefix/share/sweepwatch/installed-files

# ld.so's cache, after a change in a directory it searches.
refresh_cache() {
    case $prefix in
        /usr|/usr/local)
            if [ -z "$destdir" ] && [ "$(id -u)" -eq 0 ] && command -v ldconfig >/dev/null; then
                ldconfig
            fi ;;
    esac
}

if [ $uninstall -eq 1 ]; then
    if [ ! -f "$destdir$manifest" ]; then
        echo "install-lib.sh: nothing to uninstall: $destdir$manifest is absent" >&2
        exit 1
    fi
    while IFS= read -r f; do
        rm -f "$destdir$f"
    done <"$destdir$manifest"
    rm -f "$destdir$manifest"
    rmdir "$destdir$prefix/share/sweepwatch" 2>/dev/null || true
    refresh_cache
    echo "uninstalled sweepwatch's C library from $destdir$prefix"
    exit 0
fi

if [ -z "$libdir" ]; then
    multiarch=$(${CC:-cc} -print-multiarch 2>/dev/null || true)
    libdir=$prefix/lib${multiarch:+/$multiarch}
fi
case $libdir in
    /*) ;;
    *) libdir=$prefix/$libdir ;;
esac

# Staged first, so that the list of what was installed is exact.
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
cargo cinstall --profile dist -p sweepwatch-capi --prefix "$prefix" --libdir "$libdir" \
    --destdir "$stage"
so=$(find "$stage$libdir" -maxdepth 1 -type f -name 'libsweepwatch.so.*')
strip --strip-unneeded "$so"
strip --strip-debug "$stage$libdir/libsweepwatch.a"

# The shared .pc's static line (`pkg-config --static --libs sweepwatch`)
# still links the .so where both are installed, as the linker prefers it;
# this one names the archive itself. The compiler driver links the unwinder
# (libgcc_s, or libgcc_eh with -static), so -lgcc_s is left out: with it,
# -static fails.
private=$(sed -n 's/^Libs.private: //p' "$stage$libdir/pkgconfig/sweepwatch.pc" |
    tr ' ' '\n' | grep -vx -- '-lgcc_s' | grep -vx -- '-lc' | tr '\n' ' ')
version=$(sed -n 's/^Version: //p' "$stage$libdir/pkgconfig/sweepwatch.pc")
cat >"$stage$libdir/pkgconfig/sweepwatch-static.pc" <<EOF
prefix=$prefix
libdir=$libdir
includedir=$prefix/include

Name: sweepwatch-static
Description: sweepwatch linked statically (libsweepwatch.a)
Version: $version
Libs: \${libdir}/libsweepwatch.a ${private% }
Cflags: -I\${includedir}
EOF

mkdir -p "$stage$prefix/share/sweepwatch"
(cd "$stage" && find . \( -type f -o -type l \) | sed 's/^\.//' | sort) >"$stage$manifest"
# Directories that exist keep their owner and mode (--no-overwrite-dir).
mkdir -p "$destdir/"
tar -C "$stage" -cf - . | tar -C "$destdir/" -xf - --no-overwrite-dir
refresh_cache
echo "installed sweepwatch's C library into $destdir$prefix (libdir $libdir):"
sed 's/^/  /' "$stage$manifest"
