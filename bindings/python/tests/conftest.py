"""Shared paths and the command-line reference: every expectation of a
verdict comes from the traffic, through the `sweepwatch` command that the
project's other tests hold to counts made with tshark and scripts."""

import json
import os
import pathlib
import subprocess

import pytest

REPO = pathlib.Path(__file__).resolve().parents[3]
DATA = REPO.parent / "shared" / "data"
SAMPLE = REPO / "examples" / "data" / "sample.pcap"
FIXTURES = REPO / "tests" / "data" / "fixtures"


def cli_binary() -> pathlib.Path:
    """The command, built in release by the test script (or SWEEPWATCH_BIN)."""
    path = pathlib.Path(os.environ.get("SWEEPWATCH_BIN", REPO / "target" / "release" / "sweepwatch"))
    if not path.exists():
        pytest.fail(f"{path} is missing: build it with cargo build --release")
    return path


def cli_verdicts(*paths, args=()):
    """`sweepwatch detect --json --seed 1` on `paths`, as dicts."""
    out = subprocess.run(
        [str(cli_binary()), "detect", "--json", "--seed", "1", "--quiet", *args, *map(str, paths)],
        capture_output=True, text=True, check=True,
    )
    return [json.loads(line) for line in out.stdout.splitlines()]


def needs(path: pathlib.Path) -> pathlib.Path:
    if not path.exists():
        pytest.fail(f"{path} is missing (../shared/data beside the repository)")
    return path
