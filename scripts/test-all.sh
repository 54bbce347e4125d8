#!/usr/bin/env bash
# Every test of the project: the Rust suites (core, readers, CLI, C ABI), the
# header check, the C examples and tests under sanitizers and valgrind, and the
# Suricata plugin end to end. Installs what is missing first.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/ensure-deps.sh
cargo test --all-features
scripts/check-header.sh
scripts/c-tests.sh
bindings/suricata/tests/e2e.sh
echo "all tests passed"
