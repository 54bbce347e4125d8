#!/usr/bin/env bash
# Every test of the project: the Rust suites of every crate (core, C ABI,
# readers, CLI, Suricata plugin), the layering check, the Debian packages, the flood tests, the NATS tests, the evaluation on real captures and logs (scripts/eval.sh), the header check, the C examples and tests under sanitizers and valgrind, the Python package, and the
# Suricata plugin end to end. Installs what is missing first.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/ensure-deps.sh
cargo test --workspace
scripts/check-layers.sh
# The 10-million-source floods, in release (slow in debug), one at a time so
# each measures only its own memory.
cargo test --release -p sweepwatch-cli --test flood -- --ignored --test-threads=1
# Sensors and aggregators on NATS JetStream (servers of their own, a 3-node
# cluster among them): about two minutes of waiting for aggregators to go idle.
cargo test -p sweepwatch-cli --test nats -- --ignored
# Verdicts on every real capture and log against expectations counted from
# the traffic, and every verdict's counts against the raw file.
cargo build --release --quiet
scripts/eval.sh
scripts/check-header.sh
# The systemd unit: verified, and its command run as systemd would run it.
scripts/check-unit.sh
scripts/c-tests.sh
# The Python package, built from source into a fresh virtual environment.
scripts/python-tests.sh
# The Debian packages: built, installed with dpkg -i, used, purged.
packaging/deb/test.sh
# The Suricata plugin end to end in 7.0 and in 8.0 (from a trixie folder made
# once by scripts/suricata8.sh): both must give the same verdicts.
verdicts=$(mktemp -d)
trap 'rm -rf "$verdicts"' EXIT
VERDICTS_OUT=$verdicts/7.0 bindings/suricata/tests/e2e.sh
VERDICTS_OUT=$verdicts/8.0 SURICATA=$PWD/scripts/suricata8 bindings/suricata/tests/e2e.sh
if ! diff -u "$verdicts/7.0" "$verdicts/8.0"; then
    echo "FAIL: the plugin's verdicts differ between Suricata 7.0 and 8.0" >&2
    exit 1
fi
echo "the plugin's $(wc -l <"$verdicts/7.0") verdicts are the same in Suricata 7.0 and 8.0"
echo "all tests passed"
