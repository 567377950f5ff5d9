"""The issue's "Bad input" list through the CLI: exit code 2 and exactly one stderr line that
names the offending file or flag. (Unknown scenario and ``--shard 3/2``: test_cli_run.py;
thresholds with an unknown metric: tests/test_gate.py; NaN outputs: test_sweep.py.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from onnx_graphs import build_seg_model_dir
from sweep_fixtures import DATA, backend, config, write_model

from harness.cli import main
from harness.errors import ExitCode
from harness.runner import run_sweep
from harness.scenarios.plan import PlanSpec


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("results")
    model = write_model(root / "model")
    return run_sweep(config(model, root / "out", plan=PlanSpec(scenarios=("emm",))), backend=backend()).path


def _one_line_bad_input(argv: list[str], capsys: pytest.CaptureFixture[str], *needles: str) -> None:
    code = main(argv)
    err = capsys.readouterr().err
    assert code == ExitCode.BAD_INPUT, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err


CORRUPT = {"corrupt": "{ not json", "foreign": json.dumps({"format": "someone-else", "cells": {}})}


@pytest.mark.parametrize("kind", sorted(CORRUPT))
@pytest.mark.parametrize("consumer", ["report", "gate", "gate-baseline", "merge"])
def test_corrupt_or_foreign_results_to_report_gate_merge(results: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str, consumer: str) -> None:
    bad = tmp_path / "results.json"
    bad.write_text(CORRUPT[kind])
    argv = {
        "report": ["report", str(bad)],
        "gate": ["gate", str(bad), "--baseline", str(results)],
        "gate-baseline": ["gate", str(results), "--baseline", str(bad)],
        "merge": ["merge", str(results), str(bad), "-o", str(tmp_path / "merged")],
    }[consumer]
    _one_line_bad_input(argv, capsys, str(bad))


def test_foreign_or_corrupt_run_folder_given_to_resume(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = build_seg_model_dir(tmp_path / "m", {m: 3 for m in ("rgb", "depth", "event", "lidar")}, num_classes=7, size=(32, 32))
    out = tmp_path / "out"
    argv = ["run", str(model.dir), "--data", DATA, "--scenarios", "emm", "--out", str(out), "--progress", "off", "--resume"]
    _one_line_bad_input(argv, capsys, "run.json", "does not exist")  # nothing to resume
    out.mkdir()
    (out / "run.json").write_text("{ not json")
    _one_line_bad_input(argv, capsys, "run.json", "not valid JSON")
    (out / "run.json").write_text(json.dumps({"format": "someone-else"}))
    _one_line_bad_input(argv, capsys, "run.json", "not an mmharness run header")
    assert main(argv[:-1]) == ExitCode.OK  # a real run, then a changed config is refused by name
    capsys.readouterr()
    _one_line_bad_input([*argv, "--seed", "3"], capsys, "config_hash changed in seed")


def test_dataset_missing_a_model_modality(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = write_model(tmp_path / "model", modalities=("rgb", "thermal"))
    _one_line_bad_input(["run", str(model), "--data", DATA, "--out", str(tmp_path / "o"), "--progress", "off"], capsys,
                        "--data", "thermal", "modalities")


def test_a_plain_run_never_discards_the_cells_of_an_unfinished_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = build_seg_model_dir(tmp_path / "m", {m: 3 for m in ("rgb", "depth", "event", "lidar")}, num_classes=7, size=(32, 32))
    out = tmp_path / "out"
    argv = ["run", str(model.dir), "--data", DATA, "--scenarios", "emm", "--out", str(out), "--progress", "off", "--bootstrap", "0"]
    assert main(argv) == ExitCode.OK
    assert main(argv) == ExitCode.OK  # the earlier run finished: starting fresh over it is fine
    (out / "results.json").unlink()  # now it looks killed half-way: its cells are work to keep
    cells = sorted((out / "cells").glob("*.json"))
    capsys.readouterr()
    _one_line_bad_input(argv, capsys, str(out), "--resume", "--overwrite")
    assert sorted((out / "cells").glob("*.json")) == cells
    assert main([*argv, "--overwrite"]) == ExitCode.OK
    assert (out / "results.json").exists()


def test_frames_of_another_size_are_refused_before_any_cell_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # resize "none": 48x48 frames reach a graph that is static 32x32 (the default would resize them)
    model = build_seg_model_dir(tmp_path / "m", {m: 3 for m in ("rgb", "depth", "event", "lidar")}, num_classes=7, size=(32, 32),
                                manifest_overrides={"resize": {"mode": "none"}})
    out = tmp_path / "out"
    argv = ["run", str(model.dir), "--data", "synthetic:size=48,length=4", "--scenarios", "emm", "--out", str(out), "--progress", "off"]
    _one_line_bad_input(argv, capsys, "frames are 48x48", "static 32x32", '"resize": {"mode": "exact", "size": [32, 32]}')
    assert not (out / "cells").exists() or not any((out / "cells").iterdir())
