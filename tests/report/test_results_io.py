"""results.json: one loader that refuses corrupt, foreign and mismatched files in one line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jsonschema
import pytest

from harness.cli import main
from harness.errors import ExitCode, ResultsError
from harness.report.results import load_results, schema


def test_written_results_validate_against_the_shipped_schema(results_dir: Path) -> None:
    doc = json.loads((results_dir / "results.json").read_text())
    jsonschema.validate(doc, schema())
    assert doc["per_image"]["file"] == "per_image.npz"
    loaded, per_image = load_results(results_dir)
    assert per_image is not None and per_image["emm/missing=none"].shape == (6, 7, 7)
    # the sidecar's per-image matrices sum to each cell's state
    from harness.report.confusion_state import matrix_of

    for cid, entry in loaded["cells"].items():
        assert (per_image[cid].sum(axis=0) == matrix_of(entry["state"])).all()


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda p: p.write_text("{ not json"), "not valid JSON"),
        (lambda p: p.write_text(json.dumps({"format": "something-else"})), "not an mmharness results file"),
        (lambda p: p.write_text(json.dumps({**json.loads(p.read_text()), "schema_version": 99})), "schema_version 99"),
        (lambda p: p.write_text(json.dumps({**json.loads(p.read_text()), "config_hash": "md5:x"})), "config_hash"),
    ],
)
def test_corrupt_or_foreign_results_are_one_line_errors(results_dir: Path, tmp_path: Path, mutate, message) -> None:
    copy = tmp_path / "r"
    shutil.copytree(results_dir, copy)
    mutate(copy / "results.json")
    with pytest.raises(ResultsError, match=message) as info:
        load_results(copy)
    assert "\n" not in str(info.value)
    assert main(["report", str(copy)]) == ExitCode.BAD_INPUT


def test_a_tampered_cell_state_or_sidecar_is_detected(results_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "r"
    shutil.copytree(results_dir, copy)
    doc = json.loads((copy / "results.json").read_text())
    doc["cells"]["emm/missing=rgb"]["state"]["count"][0] = -5
    (copy / "results.json").write_text(json.dumps(doc))
    with pytest.raises(ResultsError, match="cells/emm/missing=rgb/state"):
        load_results(copy)
    shutil.copy(results_dir / "results.json", copy / "results.json")
    (copy / "per_image.npz").write_bytes(b"PK")
    with pytest.raises(ResultsError, match="sha256"):
        load_results(copy)
