"""`sweepwatch.detect` gives the command's verdicts, field for field."""

import datetime as dt
import ipaddress
import json

import pytest

import sweepwatch
from conftest import DATA, FIXTURES, SAMPLE, cli_verdicts, needs

# Every kind of input the readers know, from the bundled sample and the
# shared data: captures, Zeek conn.log, EVE, Argus, gzip.
INPUTS = [
    SAMPLE,
    DATA / "bro-simple-scan" / "445_scan.pcap",
    DATA / "bro-simple-scan" / "multiport_scan.pcap",
    DATA / "bro-simple-scan" / "backscatter.trace",
    DATA / "slips" / "test12-icmp-portscan.pcap",
    DATA / "slips" / "test4-malicious.binetflow",
    DATA / "slips" / "test6-malicious.suricata.json",
    DATA / "ctu-malware" / "botnet4.conn.log",
    FIXTURES / "mixed-sS-sU-PE.pcap",
    FIXTURES / "mixed-sS-sU-PE.eve.json",
    FIXTURES / "stealth-fin-sweep.pcap",
]


@pytest.mark.parametrize("path", INPUTS, ids=lambda p: p.name)
def test_same_verdicts_as_the_command(path):
    needs(path)
    want = cli_verdicts(path)
    got = sweepwatch.detect(path, hash_seed=1)
    assert [v.to_dict() for v in got] == want
    assert [v.to_json() for v in got] == [json.dumps(w, separators=(",", ":")) for w in want]


def test_the_sample_has_its_scanner():
    # examples/data/README.md counts it from the capture: 203.0.113.66
    # sweeps 22/tcp over the subnet, then scans 1,000 ports of 31 hosts.
    got = sweepwatch.detect(SAMPLE, hash_seed=1)
    assert got, "no verdict"
    assert {v.src for v in got} == {ipaddress.ip_address("203.0.113.66")}
    first = got[0]
    assert (first.kind, first.ports, first.final) == ("port_sweep", [22], False)
    last = got[-1]
    assert last.final and last.kind == "port_scan" and last.ports_count == 1000
    assert isinstance(last.ts, dt.datetime) and last.ts.tzinfo == dt.timezone.utc
    assert all(isinstance(a, ipaddress.IPv4Address) for a in last.sample)


def test_several_files_read_as_one_run_like_the_command():
    a, b = needs(DATA / "bro-simple-scan" / "445_scan.pcap"), SAMPLE
    assert [v.to_dict() for v in sweepwatch.detect(a, b, hash_seed=1)] == cli_verdicts(a, b)


def test_options_reach_the_detector_like_the_command_s():
    path = needs(DATA / "ctu-malware" / "botnet4.conn.log")
    want = cli_verdicts(path, args=["--min-targets", "12", "--home-net", "10.0.0.0/8"])
    got = sweepwatch.detect(path, home_nets=["10.0.0.0/8"], min_targets=12, hash_seed=1)
    assert [v.to_dict() for v in got] == want
    cfg = sweepwatch.Config(min_targets=12, hash_seed=1, home_networks=["10.0.0.0/8"])
    assert [v.to_dict() for v in sweepwatch.detect(path, config=cfg)] == want


def test_a_toml_file_and_pending_unanswered(tmp_path):
    toml = tmp_path / "sweepwatch.toml"
    toml.write_text("min_targets = 7\nhash_seed = 1\n")
    want = cli_verdicts(SAMPLE, args=["--config", str(toml), "--pending-unanswered"])
    got = sweepwatch.detect(SAMPLE, config=str(toml), pending_unanswered=True)
    assert [v.to_dict() for v in got] == want


def test_gzip_reads_as_the_plain_file(tmp_path):
    import gzip
    import shutil
    gz = tmp_path / "sample.pcap.gz"
    with open(SAMPLE, "rb") as src, gzip.open(gz, "wb") as dst:
        shutil.copyfileobj(src, dst)
    assert sweepwatch.detect(gz, hash_seed=1) == sweepwatch.detect(SAMPLE, hash_seed=1)


def test_html_view_lists_every_verdict():
    got = sweepwatch.detect(SAMPLE, hash_seed=1)
    page = got._repr_html_()
    assert page.count("<tr>") == len(got) + 1
    assert "203.0.113.66" in page and f"{len(got)} verdicts" in page
