"""The runner end to end on a NumPy model behind CallableBackend: numbers against an
independent oracle, determinism, resume, shards, NaN handling, batching."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import confusion_matrix
from sweep_fixtures import (
    DATA,
    MODALITIES,
    N_CLASSES,
    backend,
    config,
    linear_model,
    without_timing,
    write_model,
)

from harness.data import open_dataset
from harness.errors import ConfigError, DataError, ResultsError
from harness.gate import Rule, Thresholds, evaluate
from harness.report.merge import merge_results
from harness.report.results import load_results, save_results
from harness.runner import run_sweep
from harness.scenarios.plan import PlanSpec, Shard

EMM_ONLY = PlanSpec(scenarios=("emm",))


def oracle_miou(missing: set[str]) -> float:
    """mIoU (percent, absent classes = 0) by hand: own preprocessing, sklearn's confusion matrix."""
    dataset = open_dataset(DATA)
    fn = linear_model()
    preds, labels = [], []
    for i in range(len(dataset)):
        sample = dataset[i]
        feeds = {}
        for m in MODALITIES:
            x = (sample.modalities[m].astype(np.float64) / 255 - 0.5) / 0.25
            x = np.zeros_like(x) if m in missing else x
            feeds[m] = x.transpose(2, 0, 1)[None].astype(np.float32)
        preds.append(fn(feeds)["logits"].argmax(axis=1)[0])
        labels.append(sample.label)
    cm = confusion_matrix(np.ravel(labels), np.ravel(preds), labels=list(range(N_CLASSES))).astype(float)
    ious = []
    for c in range(N_CLASSES):
        union = cm[c, :].sum() + cm[:, c].sum() - cm[c, c]
        ious.append(cm[c, c] / union if union else 0.0)
    return 100 * float(np.mean(ious))


def test_emm_cells_and_aggregates_match_an_independent_oracle(tiny_model, tmp_path):
    result = run_sweep(config(tiny_model, tmp_path / "out", plan=EMM_ONLY), backend=backend())
    cells = result.doc["cells"]
    assert len(cells) == 15
    for missing in (set(), {"depth"}, {"rgb", "lidar"}):
        cid = "emm/missing=" + ("+".join(m for m in MODALITIES if m in missing) or "none")
        assert cells[cid]["figures"]["miou"] == pytest.approx(oracle_miou(missing), abs=1e-9)
    table = {cid: e["figures"]["miou"] for cid, e in cells.items()}
    emm = result.doc["aggregates"]["emm"]["values"]
    assert emm["avg"] == pytest.approx(sum(table.values()) / 15)
    # E(p) by the paper formula, weights over the number of missing modalities
    for p in (0.2, 0.1, 0.05):
        weights = {cid: p ** k * (1 - p) ** (4 - k) for cid in table for k in [0 if cid.endswith("none") else cid.split("=")[1].count("+") + 1]}
        expected = sum(weights[c] * table[c] for c in table) / (1 - p ** 4)
        assert emm["expected"][f"{p:g}"] == pytest.approx(expected)
    assert sum(emm["shapley"].values()) == pytest.approx(table["emm/missing=none"])  # efficiency, v(empty) = 0


def test_same_seed_gives_byte_identical_results_apart_from_timing(tiny_model, tmp_path):
    a = run_sweep(config(tiny_model, tmp_path / "a"), backend=backend())
    b = run_sweep(config(tiny_model, tmp_path / "b"), backend=backend())
    assert json.dumps(without_timing(a.path)) == json.dumps(without_timing(b.path))
    assert (tmp_path / "a" / "per_image.npz").read_bytes() == (tmp_path / "b" / "per_image.npz").read_bytes()
    assert not a.failed


def test_seed_changes_random_cells_only(tiny_model, tmp_path):
    plan = PlanSpec(scenarios=("emm", "rmm"), rmm_rates=(0.5,))
    a = run_sweep(config(tiny_model, tmp_path / "a", plan=plan), backend=backend()).doc["cells"]
    b = run_sweep(config(tiny_model, tmp_path / "b", plan=plan, seed=7), backend=backend()).doc["cells"]
    assert a["emm/missing=rgb"]["state"] == b["emm/missing=rgb"]["state"]
    assert a["rmm/r=0.5/missing=rgb/seed=0"]["state"] != b["rmm/r=0.5/missing=rgb/seed=0"]["state"]


def test_resume_runs_only_missing_cells_and_ends_identical(tiny_model, tmp_path):
    plan = PlanSpec(scenarios=("emm", "rmm"), rmm_rates=(0.75, 0.5))
    full = run_sweep(config(tiny_model, tmp_path / "out", plan=plan), backend=backend())
    reference = without_timing(full.path)
    sidecar = (tmp_path / "out" / "per_image.npz").read_bytes()
    cells_dir = tmp_path / "out" / "cells"
    assert len(list(cells_dir.glob("*.json"))) == len(list(cells_dir.glob("*.npz"))) == 1 + 14 + 2 * 14  # one file per cell
    for name in ("emm__missing=rgb", "emm__missing=depth+event", "rmm__r=0.5__missing=rgb__seed=0"):
        (cells_dir / f"{name}.json").unlink()
    resumed = run_sweep(config(tiny_model, tmp_path / "out", plan=plan, resume=True), backend=backend())
    assert resumed.doc["timing"]["cells_run"] == 3 and resumed.doc["timing"]["cells_resumed"] == 40
    assert without_timing(resumed.path) == reference
    assert (tmp_path / "out" / "per_image.npz").read_bytes() == sidecar


def test_resume_refuses_a_changed_config_or_model(tiny_model, tmp_path):
    out = tmp_path / "out"
    with pytest.raises(ConfigError, match="nothing to resume"):
        run_sweep(config(tiny_model, out, plan=EMM_ONLY, resume=True), backend=backend())
    run_sweep(config(tiny_model, out, plan=EMM_ONLY), backend=backend())
    with pytest.raises(ResultsError, match="config_hash changed in seed "):
        run_sweep(config(tiny_model, out, plan=EMM_ONLY, resume=True, seed=3), backend=backend())
    (tiny_model / "model.onnx").write_bytes(b"retrained")
    with pytest.raises(ResultsError, match="model_hash changed"):
        run_sweep(config(tiny_model, out, plan=EMM_ONLY, resume=True), backend=backend())


def test_resume_refuses_a_corrupt_run_folder(tiny_model, tmp_path):
    out = tmp_path / "out"
    run_sweep(config(tiny_model, out, plan=EMM_ONLY), backend=backend())
    (out / "cells" / "emm__missing=rgb.json").write_text('{"id": "emm/missing=rgb", "status": "ok"}')
    (out / "cells" / "emm__missing=rgb.npz").write_bytes(b"garbage")
    with pytest.raises(ResultsError, match="emm__missing=rgb.npz: per-image matrices is corrupt"):
        run_sweep(config(tiny_model, out, plan=EMM_ONLY, resume=True), backend=backend())
    (out / "run.json").write_text("{ torn")
    with pytest.raises(ResultsError, match="run.json: run header is not valid JSON"):
        run_sweep(config(tiny_model, out, plan=EMM_ONLY, resume=True), backend=backend())


def test_shards_merge_to_the_full_run(tiny_model, tmp_path):
    full = run_sweep(config(tiny_model, tmp_path / "full"), backend=backend())
    one = run_sweep(config(tiny_model, tmp_path / "s1", shard="1/2"), backend=backend())
    two = run_sweep(config(tiny_model, tmp_path / "s2", shard="2/2"), backend=backend())
    assert not one.doc["plan"]["complete"] and one.doc["aggregates"]["emm"]["available"] is False
    doc, per_image = merge_results([one.path, two.path])
    merged = save_results(tmp_path / "merged", doc, per_image)
    left, right = without_timing(merged), without_timing(full.path)
    assert left["shards"] == [{"index": 1, "count": 2}, {"index": 2, "count": 2}]
    for key in ("cells", "aggregates", "plan", "config_hash"):
        assert left[key] == right[key], key
    with pytest.raises(ResultsError, match="^merge needs at least two results files, got 1$"):  # overlap: tests/report/test_merge_refusals.py
        merge_results([one.path])
    other = run_sweep(config(tiny_model, tmp_path / "other", shard="2/2", seed=1), backend=backend())
    with pytest.raises(ResultsError, match="config_hash differs"):
        merge_results([one.path, other.path])


def test_nan_outputs_fail_the_cell_not_the_run_and_fail_the_gate(tiny_model, tmp_path):
    clean_fn = linear_model()

    def broken_without_depth(feeds):
        out = clean_fn(feeds)
        if not feeds["depth"].any():  # depth replaced by its zero fill
            out["logits"][0, 0, 0, 0] = np.nan
        return out

    result = run_sweep(config(tiny_model, tmp_path / "out", plan=EMM_ONLY), backend=backend(broken_without_depth))
    failed = set(result.failed)
    assert failed == {cid for cid in result.doc["cells"] if "depth" in cid}
    assert "NaN/Inf" in result.doc["cells"]["emm/missing=depth"]["reason"]
    assert result.doc["cells"]["emm/missing=rgb"]["status"] == "ok"
    assert result.doc["aggregates"]["emm"]["available"] is False
    doc, _ = load_results(result.path)
    report = evaluate(doc, Thresholds((Rule("floor", "clean", 0.0),)))
    assert not report.passed and {c.metric for c in report.checks if c.status == "fail"} == {"failed_cells"}


def test_batches_follow_the_graph_and_padding_changes_nothing(tiny_model, tmp_path):
    dynamic = backend()
    a = run_sweep(config(tiny_model, tmp_path / "a", plan=EMM_ONLY, batch=4), backend=dynamic)
    fixed_model = write_model(tmp_path / "fixed", batch={"dynamic": False, "size": 4})
    b = run_sweep(config(fixed_model, tmp_path / "b", plan=EMM_ONLY, prefetch=False), backend=backend(batch=4))
    assert b.doc["provenance"]["batch"] == {"size": 4, "fixed_by_graph": True, "note": b.doc["provenance"]["batch"]["note"]}
    for cid, entry in a.doc["cells"].items():
        assert entry["state"] == b.doc["cells"][cid]["state"], cid
        assert entry["batch_size"] == 4


def test_dataset_without_a_manifest_modality_is_bad_input(tmp_path):
    model = write_model(tmp_path / "m", modalities=("rgb", "thermal"))
    with pytest.raises(DataError, match="needs thermal"):
        run_sweep(config(model, tmp_path / "out", plan=EMM_ONLY), backend=backend(modalities=("rgb", "thermal")))


def test_plain_progress_prints_one_line_per_cell(tiny_model, tmp_path, capsys):
    run_sweep(config(tiny_model, tmp_path / "out", plan=EMM_ONLY, progress="plain"), backend=backend())
    err = capsys.readouterr().err
    assert "[1/15] emm/missing=none ok mIoU" in err and "[15/15]" in err


def test_perturbations_do_not_depend_on_batch_size_except_liao(tiny_model, tmp_path):
    plan = PlanSpec(scenarios=("rmm", "nm"), rmm_rates=(0.5,), nm_suite=(("rgb", ("gaussian_noise",)),), nm_severities=(3,))
    a = run_sweep(config(tiny_model, tmp_path / "a", plan=plan, batch=2), backend=backend()).doc["cells"]
    b = run_sweep(config(tiny_model, tmp_path / "b", plan=plan, batch=4), backend=backend()).doc["cells"]
    assert a["rmm/r=0.5/missing=rgb+depth/seed=0"]["state"] == b["rmm/r=0.5/missing=rgb+depth/seed=0"]["state"]
    assert a["nm/rgb/gaussian_noise/s3"]["state"] == b["nm/rgb/gaussian_noise/s3"]["state"]
    assert a["nm/preset=liao/level=high"]["batch_size"] == 2 and b["nm/preset=liao/level=high"]["batch_size"] == 4


def test_rmm_seeds_are_averaged_and_their_spread_reported(tiny_model, tmp_path):
    plan = PlanSpec(scenarios=("rmm",), rmm_rates=(0.25,), rmm_seeds=2)
    doc = run_sweep(config(tiny_model, tmp_path / "out", plan=plan, bootstrap=0), backend=backend()).doc
    miou = {cid: e["figures"]["miou"] for cid, e in doc["cells"].items()}
    sets = [cid.split("missing=")[1].split("/")[0] for cid in miou if cid.endswith("/seed=0")]
    means = [(miou[f"rmm/r=0.25/missing={s}/seed=0"] + miou[f"rmm/r=0.25/missing={s}/seed=1"]) / 2 for s in sets]
    expected_avg = (miou["emm/missing=none"] + sum(means)) / 15
    assert doc["aggregates"]["rmm/r=0.25"]["values"]["avg"] == pytest.approx(expected_avg)
    spread = doc["aggregates"]["rmm_seed_std"]["rmm/r=0.25/missing=rgb"]
    assert spread == pytest.approx(float(np.std([miou["rmm/r=0.25/missing=rgb/seed=0"], miou["rmm/r=0.25/missing=rgb/seed=1"]], ddof=1)))


def test_shards_by_samples_add_up_to_the_full_run(tiny_model, tmp_path):
    """Every cell on disjoint blocks of whole batches; merged states (matrices added), per-image
    matrices, figures, CIs and aggregates equal the unsharded run's, Liao preset included."""
    plan = PlanSpec(nm_suite=(("rgb", ("gaussian_noise",)),), nm_severities=(3,))
    data = "synthetic:size=32,length=10"  # batch 4: batches 0-3, 4-7, 8-9
    full = run_sweep(config(tiny_model, tmp_path / "full", plan=plan, data=data), backend=backend())
    shards = [run_sweep(config(tiny_model, tmp_path / f"s{i}", plan=plan, data=data, shard=Shard(i, 2, "samples")), backend=backend())
              for i in (1, 2)]
    assert [s.doc["dataset"]["n_samples"] for s in shards] == [4, 6]  # whole batches: [0, 4) and [4, 10)
    doc, per_image = merge_results([shards[1].path, shards[0].path, shards[1].path])  # any order; a repeat counts once
    merged = save_results(tmp_path / "merged", doc, per_image)
    left, right = without_timing(merged), without_timing(full.path)
    assert left["shards"] == [{"index": 1, "count": 2, "by": "samples"}, {"index": 2, "count": 2, "by": "samples"}]
    for key in ("cells", "aggregates", "plan", "config_hash", "dataset", "provenance"):
        assert left[key] == right[key], key
    mine, theirs = load_results(merged)[1], load_results(full.path)[1]
    for key in theirs:
        assert np.array_equal(mine[key], theirs[key]), key
    cells = run_sweep(config(tiny_model, tmp_path / "c1", plan=plan, data=data, shard="1/2"), backend=backend())
    with pytest.raises(ResultsError, match="cannot be merged together"):
        merge_results([shards[0].path, cells.path])
    third = run_sweep(config(tiny_model, tmp_path / "t", plan=plan, data=data, shard=Shard(2, 3, "samples")), backend=backend())
    with pytest.raises(ResultsError, match="different splits"):
        merge_results([shards[0].path, third.path])
    with pytest.raises(ConfigError, match=r"use at most 3 shard\(s\)"):
        run_sweep(config(tiny_model, tmp_path / "s4", plan=plan, data=data, shard=Shard(1, 4, "samples")), backend=backend())


def test_a_cell_failing_in_one_sample_shard_fails_in_the_merge_as_in_the_full_run(tiny_model, tmp_path):
    fn = linear_model()

    def nan_on_last_batch_without_rgb(feeds):
        out = fn(feeds)
        if len(feeds["rgb"]) == 2 and not feeds["rgb"].any():  # the 2-image tail batch, rgb missing
            out["logits"][0, 0, 0, 0] = np.nan
        return out

    data = "synthetic:size=32,length=10"
    runs = [run_sweep(config(tiny_model, tmp_path / name, plan=EMM_ONLY, data=data, **extra), backend=backend(nan_on_last_batch_without_rgb))
            for name, extra in (("full", {}), ("s1", {"shard": Shard(1, 2, "samples")}), ("s2", {"shard": Shard(2, 2, "samples")}))]
    assert runs[1].failed == [] and runs[2].failed == runs[0].failed != []
    doc, per_image = merge_results([runs[1].path, runs[2].path])
    merged = without_timing(save_results(tmp_path / "merged", doc, per_image))
    assert merged["cells"] == without_timing(runs[0].path)["cells"]
