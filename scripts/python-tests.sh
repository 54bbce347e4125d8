#!/usr/bin/env bash
# The Python package: installed with pip from the repository into a fresh
# virtual environment (built from source by maturin, as on a new machine),
# then its pytest suite, its docstrings' examples, the throughput script on
# a small workload (the README's figure: run it whole by hand), and the
# wheel `maturin build` makes: one for every CPython from 3.9 (abi3).
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
cd ../..
"$venv/bin/pip" install --quiet "maturin>=1.9.4,<2"
rm -rf target/wheels
"$venv/bin/maturin" build --release -m bindings/python/Cargo.toml -o target/wheels >/dev/null 2>&1 ||
    "$venv/bin/maturin" build --release -m bindings/python/Cargo.toml -o target/wheels
wheel=$(ls target/wheels/*.whl)
case $wheel in
*-cp39-abi3-*.whl) echo "python-tests: $wheel (abi3, CPython 3.9 and later)" ;;
*) echo "python-tests: FAIL: $wheel is not an abi3 wheel for CPython 3.9" >&2; exit 1 ;;
esac
