"""``mmharness bias`` keeps each finished probe cell in OUT/cells as it ends, stops on a signal
after the cell in flight, and ``--resume`` runs only the cells still missing, giving the results
an uninterrupted run gives (everything but timing)."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest

from harness.cli import main
from harness.errors import ConfigError, ResultsError
from harness.mllm.bias import BiasConfig, run_bias
from harness.scenarios.bias import BiasPlan
from harness.signals import Interrupted

from .conftest import SHIPPED

pytestmark = pytest.mark.skipif(not (SHIPPED / "manifest.json").is_file(), reason="models/vlm-synth-tiny not trained yet")

PLAN = BiasPlan(permutations=1, corruptions=("contrast",), severities=(3,))
CELLS = 8  # clean, removed, blank, noise, permuted k=0, contrast s3, text removed, text misleading


def _config(**changes: object) -> BiasConfig:
    base = {"model": SHIPPED, "limit": 6, "plan": PLAN, "bootstrap": 50, "backend_options": ("threads=1",)}
    return BiasConfig(**{**base, **changes})  # type: ignore[arg-type]


def _without_timing(doc: dict) -> dict:  # type: ignore[type-arg]
    return {key: value for key, value in doc.items() if key != "timing"}


def _interrupt_after(cells: int, ran: list[str]):  # type: ignore[no-untyped-def]
    """A progress callback that records the cells it sees and sends SIGINT to this process after
    ``cells`` of them (as Ctrl-C would, between two cells)."""
    def progress(cell_id: str, done: int, total: int, seconds: float) -> None:
        ran.append(cell_id)
        if len(ran) == cells:
            os.kill(os.getpid(), signal.SIGINT)
    return progress


def test_a_stopped_run_resumes_where_it_stopped_with_identical_results(tmp_path: Path) -> None:
    whole = run_bias(_config())
    out = tmp_path / "out"
    first: list[str] = []
    with pytest.raises(Interrupted, match=r"3 of 8 probe cells are finished .* --resume"):
        run_bias(_config(), _interrupt_after(3, first), out=out)
    assert len(first) == 3 and len(list((out / "cells").glob("*.json"))) == 3
    assert not (out / "results.json").exists()

    second: list[str] = []
    resumed = run_bias(_config(), lambda cell_id, *rest: second.append(cell_id), out=out, resume=True)
    assert not set(first) & set(second) and len(first) + len(second) == CELLS  # only the missing cells ran
    assert json.dumps(_without_timing(resumed), sort_keys=True) == json.dumps(_without_timing(whole), sort_keys=True)
    assert resumed["timing"]["cell_seconds"].keys() == whole["timing"]["cell_seconds"].keys()


def test_resume_refuses_another_run_and_a_fresh_run_keeps_unfinished_cells(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(Interrupted):
        run_bias(_config(), _interrupt_after(1, []), out=out)
    with pytest.raises(ResultsError, match=r"config_hash changed in seed"):
        run_bias(_config(seed=1), out=out, resume=True)
    with pytest.raises(ConfigError, match=r"1 finished cell\(s\) of an unfinished run .* with --resume, discard them with --overwrite"):
        run_bias(_config(), out=out)
    with pytest.raises(ConfigError, match="nothing to resume"):
        run_bias(_config(), out=tmp_path / "empty", resume=True)


def test_a_damaged_cell_record_is_refused_by_name(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(Interrupted):
        run_bias(_config(), _interrupt_after(1, []), out=out)
    record = next((out / "cells").glob("*.json"))
    doc = json.loads(record.read_text())
    doc["state"]["correct"] = "all of them"
    record.write_text(json.dumps(doc))
    with pytest.raises(ResultsError, match=rf"{record.name}: state: .* delete {record.name}"):
        run_bias(_config(), out=out, resume=True)


@pytest.mark.parametrize("flags, message", [
    (["--resume", "--overwrite"], "--resume and --overwrite contradict each other"),
    (["--compare", "int4", "--resume"], "--compare runs the reference and every variant afresh"),
])
def test_cli_refuses_contradicting_flags(flags: list[str], message: str, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bias", str(SHIPPED), "--out", str(tmp_path / "o"), *flags]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o" / "cells").exists()


def test_cli_resume_runs_only_the_missing_cells(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    args = ["bias", str(SHIPPED), "--out", str(out), "--limit", "4", "--corruptions", "", "--permutations", "1",
            "--bootstrap", "0", "--save-samples", "0"]
    assert main(args) == 0
    (out / "results.json").unlink()
    for record in sorted((out / "cells").glob("*.json"))[:3]:
        record.unlink()  # as if the run had stopped before these cells
    capsys.readouterr()
    assert main([*args, "--resume"]) == 0
    progress = [line for line in capsys.readouterr().err.splitlines() if line.startswith("[")]
    assert len(progress) == 3
