"""``mmharness run --telemetry/--no-telemetry``: the sweep samples power by default and records
telemetry as skipped (without probing any tool) when switched off; results are unaffected."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.errors import ExitCode

SHIPPED = Path(__file__).resolve().parents[2] / "models" / "mmss-synth-robust"
QUICK = ["--scenarios", "emm", "--limit", "2", "--bootstrap", "0", "--progress", "off"]


def _run(tmp_path: Path, name: str, *flags: str) -> dict:
    from harness.cli import main

    out = tmp_path / name
    assert main(["run", str(SHIPPED), *QUICK, "--out", str(out), *flags]) == ExitCode.OK
    return json.loads((out / "results.json").read_text())


def test_no_telemetry_records_skipped_and_probes_nothing(tmp_path, monkeypatch):
    from harness.telemetry import probe

    def no_probe(*args, **kwargs):
        raise AssertionError("telemetry probed although --no-telemetry was given")

    monkeypatch.setattr(probe, "query_power_config", no_probe)
    off = _run(tmp_path, "off", "--no-telemetry")
    record = off["timing"]["telemetry"]
    assert record["requested"] == "off" and record["power"] is None and record["power_config"] == {}
    assert [s["source"] for s in record["skipped"]] == ["telemetry"]
    monkeypatch.undo()
    on = _run(tmp_path, "on")  # the default samples (here: every source skipped with its reason)
    assert on["timing"]["telemetry"]["requested"] == "auto"
    sources = {s["source"] for s in on["timing"]["telemetry"]["skipped"]}
    if on["timing"]["telemetry"]["power"] is None:
        assert {"ina3221", "tegrastats", "nvml"} <= sources
    assert on["config"] == off["config"]  # not part of the results' identity
    assert on["cells"] == off["cells"]


@pytest.mark.parametrize("flag", ["--telemetry", "--no-telemetry"])
def test_flag_is_listed_in_help(flag):
    from click.testing import CliRunner

    from harness.commands.run import command

    assert flag in CliRunner().invoke(command, ["--help"]).output
