#!/usr/bin/env bash
# The Python package: installed with pip from the repository into a fresh
# virtual environment (built from source by maturin, as on a new machine),
# then its pytest suite, its docstrings' examples, and the throughput
# script on a small workload (the README's figure: run it whole by hand).
set -euo pipefail
cd "$(dirname "$0")/.."

venv=${PYTHON_VENV:-target/python-venv}
python=${PYTHON:-python3}
rm -rf "$venv"
"$python" -m venv "$venv"
"$venv/bin/pip" install --quiet --upgrade pip
"$venv/bin/pip" install --quiet "./bindings/python[test]"
# The command the tests compare with.
cargo build --release --quiet -p sweepwatch-cli
cd bindings/python
# From outside the source folder: the installed package is what is tested.
"../../$venv/bin/python" -m pytest -q -p no:cacheprovider tests
"../../$venv/bin/python" -m pytest -q -p no:cacheprovider --doctest-modules --pyargs sweepwatch
"../../$venv/bin/python" bench/throughput.py --events 1000000 --runs 1
