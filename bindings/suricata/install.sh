#!/bin/sh
# Builds the Suricata plugin (release), strips it and installs it as
#
#   PREFIX/lib/suricata/libsweepwatch_suricata.so
#
# then prints the two suricata.yaml lines that enable it (the same for
# Suricata 7.0 and 8.0).
#
# Usage: bindings/suricata/install.sh [PREFIX]   (default /usr/local)
# Environment: DESTDIR (staging root for packagers), CARGO_TARGET_DIR.
set -eu

prefix=${1:-/usr/local}
here=$(cd "$(dirname "$0")" && pwd)
target=${CARGO_TARGET_DIR:-$here/../../target}
dest=${DESTDIR:-}$prefix/lib/suricata

(cd "$here" && CARGO_TARGET_DIR=$target cargo build --release --quiet -p sweepwatch-suricata)
mkdir -p "$dest"
# Strip a copy: the build keeps its debug information for profiling.
strip --strip-unneeded -o "$dest/libsweepwatch_suricata.so.new" \
    "$target/release/libsweepwatch_suricata.so"
chmod 644 "$dest/libsweepwatch_suricata.so.new"
# A rename, so that a running Suricata keeps its mapped copy intact.
mv -f "$dest/libsweepwatch_suricata.so.new" "$dest/libsweepwatch_suricata.so"
echo "installed $dest/libsweepwatch_suricata.so ($(wc -c <"$dest/libsweepwatch_suricata.so") bytes)"
cat <<YAML
Enable it in suricata.yaml (Suricata 7.0 or 8.0):

plugins:
  - $prefix/lib/suricata/libsweepwatch_suricata.so
outputs:
  - eve-log:
      filetype: sweepwatch        # instead of regular; log flow among the types
YAML
