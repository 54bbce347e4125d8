#!/usr/bin/env python3
"""Validates every record of EVE files against Suricata's own schema
(etc/schema.json of the release), extended with the plugin's `sweep` object
(../sweep.schema.json) and nothing else.

Usage: validate-eve.py SCHEMA EVE_FILE...
Prints how many records of each event type passed; exits 1, naming the first
failures, if any record does not validate.
"""
import collections
import json
import pathlib
import sys

import jsonschema


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    schema = json.loads(pathlib.Path(sys.argv[1]).read_text())
    sweep = json.loads((pathlib.Path(__file__).parent.parent / "sweep.schema.json").read_text())
    assert "sweep" not in schema["properties"], "the schema already has a `sweep` object"
    schema["properties"]["sweep"] = sweep
    validator = jsonschema.Draft202012Validator(schema) if hasattr(
        jsonschema, "Draft202012Validator") else jsonschema.Draft7Validator(schema)
    passed, failures = collections.Counter(), []
    for name in sys.argv[2:]:
        with open(name, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                record = json.loads(line)
                errors = sorted(validator.iter_errors(record), key=lambda e: list(e.path))
                if errors:
                    failures.append(f"{name}:{n} ({record.get('event_type')}): "
                                    f"{errors[0].message} at {list(errors[0].path)}")
                else:
                    passed[record.get("event_type")] += 1
    summary = ", ".join(f"{t} {c}" for t, c in sorted(passed.items()))
    if failures:
        print(f"{len(failures)} records fail {sys.argv[1]}:", *failures[:5], sep="\n  ")
        sys.exit(1)
    print(f"every record matches {pathlib.Path(sys.argv[1]).name}: {summary}")


if __name__ == "__main__":
    main()
