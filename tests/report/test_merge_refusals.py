"""Every refusal of ``merge_results`` reached by its own input and matched by its own message,
and the completeness flag of partial merges (issue 19). Shards come from tiny EMM sweeps; the
inputs no real sweep can produce (a field that differs under one config hash, a foreign image
set) are real results re-saved with one field changed."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sweep_fixtures import backend, config, linear_model, write_model

from harness.errors import ResultsError
from harness.report.io import LazyArrays
from harness.report.merge import merge_results
from harness.report.results import load_results, save_results
from harness.runner import run_sweep
from harness.scenarios.plan import PlanSpec, Shard

EMM = PlanSpec(scenarios=("emm",))
DATA10 = "synthetic:size=32,length=10"  # batch 4: sample shards [0, 4), [4, 8), [8, 10)


@pytest.fixture(scope="module")
def shards(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("merge_refusals")
    model = write_model(root / "model")
    out: dict[str, Path] = {}

    def run(name: str, **changes: Any) -> None:
        fn = changes.pop("fn", None)
        changes.setdefault("plan", EMM)
        changes.setdefault("bootstrap", 0)
        out[name] = run_sweep(config(model, root / name, **changes), backend=backend(fn)).path

    run("c1", shard="1/2")
    run("c2", shard="2/2")
    run("c1_other_weights", shard="1/2", fn=linear_model(seed=1))  # same config, other numbers
    run("full10", data=DATA10)
    for i in (1, 2, 3):
        run(f"s{i}", data=DATA10, shard=Shard(i, 3, "samples"))
    run("s2of2", data=DATA10, shard=Shard(2, 2, "samples"))
    return out


def _resaved(path: Path, folder: Path, change: Callable[[dict[str, Any]], None], keep_images: bool = True,
             images: Callable[[dict[str, np.ndarray]], None] | None = None) -> Path:
    """``path``'s results re-saved into ``folder`` after ``change(doc)`` (and ``images(arrays)``)."""
    doc, per_image = load_results(path)
    change(doc)
    arrays = {k: np.asarray(per_image[k]) for k in per_image} if per_image is not None else None
    if images is not None and arrays is not None:
        images(arrays)
    folder.mkdir(parents=True, exist_ok=True)
    return save_results(folder, doc, LazyArrays.of(arrays) if keep_images and arrays else None)


def _refused(paths: list[Path], message: str) -> None:
    with pytest.raises(ResultsError, match=message):
        merge_results(paths)


@pytest.mark.parametrize("count", [0, 1])
def test_fewer_than_two_files_are_refused(shards, count):
    _refused([shards["c1"]][:count], rf"^merge needs at least two results files, got {count}$")


def test_the_same_cells_with_other_states_are_refused_as_overlapping_shards(shards):
    _refused([shards["c1"], shards["c1_other_weights"]],
             rf"^{re.escape(str(shards['c1_other_weights']))}: cell 'emm/missing=none' is also in {re.escape(str(shards['c1']))} "
             "with a different state; shards overlap — merge each shard once$")


def test_the_same_cell_recorded_differently_is_an_overlap_even_with_equal_figures(shards, tmp_path):
    def rebatched(doc: dict[str, Any]) -> None:
        doc["cells"]["emm/missing=none"]["batch_size"] = 2  # same state, so the same figures

    other = _resaved(shards["c1"], tmp_path / "rebatched", rebatched)
    _refused([shards["c1"], other], rf"^{re.escape(str(other))}: cell 'emm/missing=none' is also in .* shards overlap")


def test_the_same_shard_twice_counts_once_and_stays_partial(shards):
    doc, _ = merge_results([shards["c1"], shards["c1"]])
    alone, _ = load_results(shards["c1"])
    assert list(doc["cells"]) == list(alone["cells"]) and doc["plan"]["complete"] is False
    assert doc["shards"] == [{"index": 1, "count": 2}]
    both, _ = merge_results([shards["c2"], shards["c1"]])
    assert both["plan"]["complete"] is True and list(both["cells"]) == both["plan"]["cells"]  # plan order, any input order


def test_cell_shards_without_a_sidecar_merge_without_per_image_matrices(shards, tmp_path):
    bare = _resaved(shards["c2"], tmp_path / "bare", lambda d: None, keep_images=False)
    doc, per_image = merge_results([shards["c1"], bare])
    assert per_image is None and doc["plan"]["complete"] is True
    full, _ = merge_results([shards["c1"], shards["c2"]])
    assert {cid: e["state"] for cid, e in doc["cells"].items()} == {cid: e["state"] for cid, e in full["cells"].items()}


@pytest.mark.parametrize(
    ("field", "change"),
    [
        ("config_hash", lambda d: d.update(config_hash="sha256:" + "0" * 64)),
        ("model.hash", lambda d: d["model"].update(hash="sha256:" + "0" * 64)),
        ("dataset.fingerprint", lambda d: d["dataset"].update(fingerprint="0" * 16)),
        ("dataset.n_samples", lambda d: d["dataset"].update(n_samples=5)),
    ],
)
def test_shards_of_another_sweep_are_refused_by_the_field_that_differs(shards, tmp_path, field, change):
    other = _resaved(shards["c2"], tmp_path / "other", change)
    _refused([shards["c1"], other], rf"^{re.escape(str(other))}: {re.escape(field)} differs from {re.escape(str(shards['c1']))} \(.+ vs .+\); "
                                    r"merge only shards of the same sweep \(same config, model and data\)$")


def test_mixed_shard_kinds_are_refused(shards):
    _refused([shards["s1"], shards["c2"]], r": shards by cells and by samples cannot be merged together; merge one kind$")


def test_a_cell_outside_the_plan_is_refused(shards, tmp_path):
    last = list(load_results(shards["c2"])[0]["cells"])[-1]  # a cell of shard 2 only
    narrow = _resaved(shards["c1"], tmp_path / "narrow", lambda d: d["plan"]["cells"].remove(last))
    _refused([narrow, shards["c2"]], rf"^{re.escape(str(shards['c2']))}: cell {re.escape(repr(last))} is not in the plan of "
                                     rf"{re.escape(str(narrow))}; the files come from different sweeps$")


def test_cell_shards_over_other_images_are_refused(shards, tmp_path):
    def shift(arrays: dict[str, np.ndarray]) -> None:
        arrays["sample_index"] = arrays["sample_index"] + 100

    moved = _resaved(shards["c2"], tmp_path / "moved", lambda d: None, images=shift)
    _refused([shards["c1"], moved], rf"^{re.escape(str(moved))}: per-image sidecar covers other images than {re.escape(str(shards['c1']))}; "
                                    "merge only shards over the same samples$")


def test_sample_shards_of_different_splits_are_refused(shards):
    _refused([shards["s1"], shards["s2of2"]], r": shards by samples of different splits \(I/2 and I/3\); merge the shards of one --shard I/N split$")


def test_a_sample_shard_without_its_sidecar_is_refused(shards, tmp_path):
    bare = _resaved(shards["s2"], tmp_path / "bare", lambda d: None, keep_images=False)
    _refused([shards["s1"], bare], rf"^{re.escape(str(bare))}: shard by samples without its per-image sidecar; "
                                   "merge needs per_image.npz beside each results.json$")


def test_sample_shards_covering_an_image_twice_are_refused(shards, tmp_path):
    relabelled = _resaved(shards["s1"], tmp_path / "relabelled", lambda d: d["shards"][0].update(index=2))
    _refused([shards["s1"], relabelled], r" and the other shards cover some images twice; merge each shard by samples once$")


def test_a_cell_one_sample_shard_lacks_is_left_out_and_the_merge_is_partial(shards, tmp_path):
    def drop_rgb(doc: dict[str, Any]) -> None:
        del doc["cells"]["emm/missing=rgb"]
        doc["plan"]["complete"] = False

    lacking = _resaved(shards["s2"], tmp_path / "lacking", drop_rgb,
                       images=lambda arrays: arrays.pop("emm/missing=rgb"))
    doc, _ = merge_results([shards["s1"], lacking, shards["s3"]])
    assert "emm/missing=rgb" not in doc["cells"] and len(doc["cells"]) == len(doc["plan"]["cells"]) - 1
    assert doc["plan"]["complete"] is False


def test_an_incomplete_set_of_sample_shards_merges_as_partial_and_all_of_them_as_complete(shards):
    partial, _ = merge_results([shards["s1"], shards["s3"]])
    assert partial["plan"]["complete"] is False
    assert partial["dataset"]["n_samples"] == 4 + 2 and partial["provenance"]["samples"]["count"] == 6
    assert [s["index"] for s in partial["shards"]] == [1, 3]
    cell = partial["cells"]["emm/missing=none"]
    assert cell["n_samples"] == 6 and cell["figures"] is None  # figures are re-derived on save
    whole, per_image = merge_results([shards["s3"], shards["s1"], shards["s2"]])
    full, full_images = load_results(shards["full10"])
    assert whole["plan"] == full["plan"] == {"cells": full["plan"]["cells"], "complete": True}
    assert whole["dataset"] == full["dataset"] and whole["provenance"]["samples"] == full["provenance"]["samples"]
    for cid, entry in full["cells"].items():
        assert whole["cells"][cid]["state"] == entry["state"] and whole["cells"][cid]["n_samples"] == 10, cid
    assert np.array_equal(per_image["sample_index"], np.arange(10))
    assert np.array_equal(per_image["emm/missing=rgb"], full_images["emm/missing=rgb"])
