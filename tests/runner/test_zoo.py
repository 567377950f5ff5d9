"""End to end on the shipped model zoo (small --limit) on ONNX Runtime CPU: the EMM table,
aggregates equal to the metric core applied to the cell table, and the robust model beating
the RGB-centric one on mIoU^Avg_EMM. Skips with a reason until the models are trained."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.metrics import robustness
from harness.runner import RunConfig, run_sweep
from harness.scenarios.plan import PlanSpec

ZOO = Path(__file__).resolve().parents[2] / "models"
ROBUST, RGB_CENTRIC = ZOO / "mmss-synth-robust", ZOO / "mmss-synth-rgbcentric"
pytestmark = pytest.mark.skipif(
    not ((ROBUST / "manifest.json").exists() and (RGB_CENTRIC / "manifest.json").exists()),
    reason="shipped models not present (train them with models/recipes/train_mmss.py)",
)


def _emm(model: Path, out: Path) -> dict:
    config = RunConfig(model_dir=model, limit=12, plan=PlanSpec(scenarios=("emm",)), bootstrap=0, out=out, progress="off")
    return run_sweep(config).doc


def test_robust_model_beats_rgb_centric_and_aggregates_match_the_metric_core(tmp_path: Path) -> None:
    docs = {name: _emm(model, tmp_path / name) for name, model in (("robust", ROBUST), ("rgb", RGB_CENTRIC))}
    for doc in docs.values():
        modalities = doc["dataset"]["modalities"]
        cells = doc["cells"]
        assert len(cells) == 2 ** len(modalities) - 1 and all(e["status"] == "ok" for e in cells.values())
        table = {}
        for cid, entry in cells.items():
            label = cid.split("=", 1)[1]
            table[frozenset() if label == "none" else frozenset(label.split("+"))] = entry["figures"]["miou"]
        core = robustness.aggregate(table, modalities)
        emm = doc["aggregates"]["emm"]["values"]
        assert emm["avg"] == core["avg"]
        assert emm["expected"] == {f"{p:g}": v for p, v in core["E"].items()}
        assert emm["shapley"] == robustness.shapley(table, modalities)
    assert docs["robust"]["aggregates"]["emm"]["values"]["avg"] > docs["rgb"]["aggregates"]["emm"]["values"]["avg"]


def test_run_without_a_model_argument_uses_the_shipped_robust_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from harness.cli import main

    code = main(["run", "--limit", "4", "--scenarios", "emm", "--bootstrap", "0", "--progress", "off", "--out", str(tmp_path / "out")])
    out = capsys.readouterr().out
    assert code == 0 and out.startswith("mmss-synth-robust on synthetic (4 samples, ort:cpu)")


def test_cli_runs_on_the_zoo_are_reproducible_and_shards_merge_to_the_full_run(tmp_path: Path) -> None:
    import json

    from harness.cli import main

    common = ["run", str(ROBUST), "--limit", "6", "--scenarios", "emm,rmm,nm", "--rmm-rates", "0.5", "--nm-suite", "rgb=fog",
              "--bootstrap", "20", "--progress", "off"]

    def run(name: str, *extra: str) -> dict:
        assert main([*common, "--out", str(tmp_path / name), *extra]) == 0
        doc = json.loads((tmp_path / name / "results.json").read_text())
        doc.pop("timing")
        return doc

    first, second = run("a"), run("b")
    assert first == second
    assert (tmp_path / "a" / "per_image.npz").read_bytes() == (tmp_path / "b" / "per_image.npz").read_bytes()
    run("s1", "--shard", "1/2")
    run("s2", "--shard", "2/2")
    assert main(["merge", str(tmp_path / "s1"), str(tmp_path / "s2"), "-o", str(tmp_path / "m")]) == 0
    merged = json.loads((tmp_path / "m" / "results.json").read_text())
    for key in ("cells", "aggregates", "plan", "config_hash", "model"):
        assert merged[key] == first[key], key
