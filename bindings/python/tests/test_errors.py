"""Bad input raises the documented exception, never crashes."""

import re
import numpy as np
import pytest

import sweepwatch
from conftest import FIXTURES, SAMPLE


def cols(**over):
    base = dict(ts=[1.0, 2.0], src=["192.0.2.1", "192.0.2.1"], dst=["10.0.0.1", "10.0.0.2"],
                dst_port=[22, 22], proto=["tcp", "tcp"], outcome=["refused", "refused"])
    base.update(over)
    return base


def test_bad_address_strings_name_column_and_row():
    det = sweepwatch.Detector()
    with pytest.raises(ValueError, match=r'column dst, row 1: "10\.0\.0\.300" is no IP address'):
        det.observe_columns(cols(dst=["10.0.0.1", "10.0.0.300"]))
    with pytest.raises(TypeError, match="column src: values of type float64 are no addresses"):
        det.observe_columns(cols(src=[1.5, 2.5]))
    with pytest.raises(TypeError, match="column src, row 1: float is no address"):
        det.observe_columns(cols(src=np.array(["192.0.2.1", 2.5], dtype=object)))
    with pytest.raises(ValueError, match="column src: integers are IPv4"):
        det.observe_columns(cols(src=np.array([-1, 2])))
    assert det.stats()["events"] == 0, "nothing of a refused call is observed"


def test_unknown_protocol_and_outcome_names():
    det = sweepwatch.Detector()
    with pytest.raises(ValueError, match=r"column proto, row 1: 'sctp' is not a protocol"):
        det.observe_columns(cols(proto=["tcp", "sctp"]))
    with pytest.raises(ValueError, match=r"column outcome, row 0: 'rejected' is not an outcome"):
        det.observe_columns(cols(outcome=["rejected", "refused"]))
    with pytest.raises(ValueError, match="column technique, row 0: 'stealth'"):
        det.observe_columns(cols(technique=["stealth", "syn"]))
    with pytest.raises(ValueError, match="technique udp is not of protocol tcp"):
        det.observe_columns(cols(technique=["udp", "syn"]))
    with pytest.raises(ValueError, match="port 70000 is out of 0 to 65535"):
        det.observe_columns(cols(dst_port=[22, 70000]))


def test_mismatched_and_missing_columns():
    det = sweepwatch.Detector()
    with pytest.raises(ValueError, match="columns of different lengths: ts 2, src 2, dst 1"):
        det.observe_columns(cols(dst=["10.0.0.1"]))
    c = cols()
    del c["outcome"]
    with pytest.raises(ValueError, match="missing column 'outcome'"):
        det.observe_columns(c)
    with pytest.raises(TypeError, match="no column named 'port'"):
        det.observe_columns(cols(), port=[1, 2])
    with pytest.raises(ValueError, match="column ts, row 1: no time"):
        det.observe_columns(cols(ts=np.array(["2026-01-01", "NaT"], dtype="datetime64[us]")))


def test_bad_configuration_names_the_field(tmp_path):
    with pytest.raises(ValueError, match="theta1"):
        sweepwatch.Config(theta1=0.9)
    with pytest.raises(ValueError, match="min_targets"):
        sweepwatch.Config(min_targets="many")
    with pytest.raises(ValueError, match="no_such_field: no such field"):
        sweepwatch.Detector(no_such_field=1)
    with pytest.raises(ValueError, match="home_networks"):
        sweepwatch.detect(SAMPLE, home_nets=["10.0.0.0/33"])
    bad = tmp_path / "bad.toml"
    bad.write_text("min_targets = 5\ntheta0 = [1]\n")
    with pytest.raises(ValueError, match=r"bad\.toml: .*theta0.*line 2"):
        sweepwatch.detect(SAMPLE, config=str(bad))
    with pytest.raises(FileNotFoundError):
        sweepwatch.Config(tmp_path / "missing.toml")


def test_a_missing_file_and_a_corrupt_capture(tmp_path):
    with pytest.raises(FileNotFoundError) as e:
        sweepwatch.detect(tmp_path / "nothing.pcap")
    assert e.value.filename == str(tmp_path / "nothing.pcap")
    corrupt = tmp_path / "corrupt.pcap"
    # A pcap header that promises 65,535-byte packets, then a record header
    # claiming 4 GB.
    data = SAMPLE.read_bytes()
    corrupt.write_bytes(data[:24] + b"\x00" * 8 + b"\xff\xff\xff\xff" * 2 + b"junk")
    with pytest.raises(ValueError, match=r"corrupt\.pcap: byte 24: "):
        sweepwatch.detect(corrupt)
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(ValueError, match=r"garbage\.bin: "):
        sweepwatch.detect(garbage)
    with pytest.raises(ValueError, match=r"garbage\.bin: "):
        sweepwatch.read_events(garbage)
    with pytest.raises(ValueError, match="zones"):
        sweepwatch.detect(SAMPLE, zones="vrf")
    with pytest.raises(TypeError):
        sweepwatch.detect()


def test_a_file_read_in_part_warns_as_the_command_does(tmp_path):
    cut = tmp_path / "cut.pcap"
    data = SAMPLE.read_bytes()
    cut.write_bytes(data[: len(data) // 2 + 7])
    with pytest.warns(UserWarning) as said:
        got = sweepwatch.detect(cut, hash_seed=1)
    said = [str(w.message) for w in said]
    assert any(re.search(r"cut\.pcap: capture truncated at byte \d+", m) for m in said), said
    assert got and got[0].kind == "port_sweep"
    log = tmp_path / "conn.log"
    log.write_text("ts\tid.orig_h\n1.0\t192.0.2.1\n")
    with pytest.raises(ValueError, match=r"conn\.log: "):
        sweepwatch.detect(log)


def test_random_and_cut_files_never_crash_the_interpreter(tmp_path):
    # Seeded: the same inputs every run. Every outcome is a verdict list,
    # a ValueError or a warning; a crash would take pytest down with it.
    import random
    import warnings
    rng = random.Random(7)
    data = SAMPLE.read_bytes()
    eve = (FIXTURES / "mixed-sS-sU-PE.eve.json").read_bytes()
    for i in range(60):
        kind = i % 3
        if kind == 0:
            blob = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 4000)))
        elif kind == 1:
            blob = bytearray(data[: rng.randrange(24, len(data))])
            for _ in range(rng.randrange(1, 20)):
                blob[rng.randrange(len(blob))] = rng.randrange(256)
            blob = bytes(blob)
        else:
            cut = eve[: rng.randrange(1, len(eve))]
            blob = cut.replace(b'"', b"'", rng.randrange(0, 3))
        path = tmp_path / f"input{i}"
        path.write_bytes(blob)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for call in (sweepwatch.detect, sweepwatch.read_events):
                try:
                    call(path)
                except ValueError:
                    pass
