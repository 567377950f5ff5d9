"""End to end on the shipped model zoo (small --limit) on ONNX Runtime CPU: the EMM table,
aggregates equal to the paper's formulas computed by hand from the cell table, and the robust model beating
the RGB-centric one on mIoU^Avg_EMM. Skips with a reason until the models are trained."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import pytest

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


def _by_hand(table: dict[frozenset[str], float], modalities: list[str], ps: list[float]) -> tuple[float, dict[float, float], dict[str, float]]:
    """The paper's formulas written out over the cell table (missing set -> mIoU): mIoU^Avg the
    plain mean; mIoU^E(p) weights p^k (1-p)^(M-k) for k missing, renormalised by 1 - p^M (at least
    one modality survives); Shapley over v(present) = mIoU with only those present, v(empty) = 0."""
    m = len(modalities)
    avg = sum(table.values()) / len(table)
    expected = {p: sum(p ** len(k) * (1 - p) ** (m - len(k)) * v for k, v in table.items()) / (1 - p ** m) for p in ps}

    def v(present: frozenset[str]) -> float:
        return table[frozenset(modalities) - present] if present else 0.0

    shapley = {}
    for i in modalities:
        others = [x for x in modalities if x != i]
        shapley[i] = sum(
            math.factorial(len(s)) * math.factorial(m - len(s) - 1) / math.factorial(m) * (v(frozenset(s) | {i}) - v(frozenset(s)))
            for size in range(m) for s in itertools.combinations(others, size)
        )
    return avg, expected, shapley


def test_robust_model_beats_rgb_centric_and_aggregates_match_the_paper_formulas(tmp_path: Path) -> None:
    docs = {name: _emm(model, tmp_path / name) for name, model in (("robust", ROBUST), ("rgb", RGB_CENTRIC))}
    for doc in docs.values():
        modalities = doc["dataset"]["modalities"]
        cells = doc["cells"]
        assert len(cells) == 2 ** len(modalities) - 1 and all(e["status"] == "ok" for e in cells.values())
        table = {}
        for cid, entry in cells.items():
            label = cid.split("=", 1)[1]
            table[frozenset() if label == "none" else frozenset(label.split("+"))] = entry["figures"]["miou"]
        emm = doc["aggregates"]["emm"]["values"]
        avg, expected, shapley = _by_hand(table, modalities, doc["config"]["expected_ps"])
        assert emm["avg"] == pytest.approx(avg, rel=1e-12)
        assert emm["expected"] == pytest.approx({f"{p:g}": v for p, v in expected.items()}, rel=1e-12)
        assert emm["shapley"] == pytest.approx(shapley, rel=1e-9)
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
