"""``run --compare`` plumbing: candidates resolve to backend + graph, the report holds per-cell
mIoU deltas with paired CIs and parity under each cell's corruption, cross-checked against
results files and a hand-run of both sessions."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from onnx_graphs import build_seg_model_dir

from harness.variants.compare import Candidate, parse_candidate, parse_candidates, run_compare
from harness.errors import ConfigError, ManifestError
from harness.metrics.parity import parity
from harness.metrics.segmentation import mean_iou

BACKENDS = ["ort:cpu", "ort:cuda", "ort:tensorrt", "trt"]
DATA = "synthetic:size=16,length=6"


def test_candidate_tokens_resolve_to_backend_and_graph_role():
    assert parse_candidate("int8", "ort:cpu", BACKENDS) == Candidate("int8", "ort:cpu", "model.int8")
    assert parse_candidate("trt", "ort:cpu", BACKENDS) == Candidate("trt", "trt", "model")
    assert parse_candidate("trt@int8", "ort:cpu", BACKENDS) == Candidate("trt@int8", "trt", "model.int8")
    assert parse_candidate("ort:cuda@fp32", "ort:cpu", BACKENDS).role == "model"
    assert Candidate("trt@int8", "trt", "model.int8").slug == "trt_int8"
    with pytest.raises(ConfigError, match="did you mean 'trt'"):
        parse_candidate("trr@int8", "ort:cpu", BACKENDS)
    with pytest.raises(ConfigError, match="reference itself"):
        parse_candidates(["fp32"], "ort:cpu")
    with pytest.raises(ConfigError, match="given twice"):
        parse_candidates(["int8,int8"], "ort:cpu")


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    """A tiny model, its INT8 ORT variant, and one ``run_compare`` (EMM only) shared by the tests."""
    from exporters.variants.ort import build_ort_variant
    from harness.variants.calibration import CalibrationPlan, CalibrationReader
    from harness.data import open_dataset
    from harness.manifest import load_manifest, validate_against_graph
    from harness.runner import RunConfig
    from harness.scenarios.plan import PlanSpec

    tmp = tmp_path_factory.mktemp("compare")
    model = build_seg_model_dir(tmp / "m", modalities={"rgb": 3, "depth": 3}, size=(16, 16), num_classes=7)
    contract = validate_against_graph(load_manifest(model.dir))
    reader = lambda: CalibrationReader(contract, open_dataset("synthetic:size=16,length=8", split="train"), CalibrationPlan(8, 4))
    build_ort_variant(contract, "int8", reader)
    out = tmp / "out"
    config = RunConfig(model_dir=Path(model.dir), data=DATA, plan=PlanSpec(scenarios=("emm",)), batch=4,
                       bootstrap=50, out=out, progress="off")
    return model, out, run_compare(config, parse_candidates(["int8"], "ort:cpu"))


def test_compare_report_has_deltas_cis_and_parity(compared):
    from harness.backends.select import backend_for, parse_backend
    from harness.data import open_dataset
    from harness.manifest import load_manifest
    from harness.report.results import load_results
    from harness.runner.feeds import FeedBuilder, load_clean
    from harness.scenarios.plan import PlanSpec, build_plan

    variant_model, out, result = compared
    doc = json.loads((out / "compare.json").read_text())
    assert doc == json.loads(json.dumps(result.doc))
    entry = doc["candidates"]["int8"]
    assert entry["graph"] == "model.int8.onnx" and entry["results"] == "compare/int8/results.json"

    ref_doc, ref_images = load_results(out / "results.json")
    cand_doc, cand_images = load_results(out / "compare" / "int8" / "results.json")
    assert set(entry["cells"]) == set(ref_doc["plan"]["cells"]) and len(entry["cells"]) == 3  # 2^2 - 1 EMM sets
    for cid, row in entry["cells"].items():
        ref_miou = float(mean_iou(ref_images[cid].sum(0)))  # independent: from the per-image matrices
        cand_miou = float(mean_iou(cand_images[cid].sum(0)))
        assert row["reference"] == pytest.approx(ref_miou) and row["candidate"] == pytest.approx(cand_miou)
        assert row["delta"] == pytest.approx(cand_miou - ref_miou)
        lo, hi = row["delta_ci"]
        assert lo <= row["delta"] + 1e-9 and row["delta"] <= hi + 1e-9
        assert row["significant"] == (not lo <= 0.0 <= hi)
        assert 0.0 <= row["parity"]["class_agreement"] <= 1.0 and row["parity"]["numel"] == 6 * 7 * 16 * 16
    markdown = (out / "compare.md").read_text()
    assert "| emm/missing=depth |" in markdown and "## `int8` (ort:cpu, model.int8.onnx)" in markdown
    emm = entry["metrics"]["emm.avg"]
    assert emm["delta"] == pytest.approx(cand_doc["aggregates"]["emm"]["values"]["avg"] - ref_doc["aggregates"]["emm"]["values"]["avg"])

    # parity of the missing-depth cell, recomputed by running both graphs by hand on the runner's feeds
    manifest = load_manifest(variant_model.dir)
    clean = load_clean(manifest, open_dataset(DATA, split="val"), None)
    cell = next(c for c in build_plan(manifest.modality_names, PlanSpec(scenarios=("emm",))) if c.id == "emm/missing=depth")
    outs = []
    for role in ("model", "model.int8"):
        with backend_for(manifest, parse_backend("ort:cpu"), role).open() as session:
            feeds = FeedBuilder(manifest, clean, session.inputs, 0).feeds(cell, np.arange(len(clean)))
            outs.append(session.run(feeds)["logits"])
    expected = parity(outs[1], outs[0], class_axis=1)
    got = entry["cells"]["emm/missing=depth"]["parity"]
    assert got["class_agreement"] == pytest.approx(expected["class_agreement"])
    assert got["abs"]["max"] == pytest.approx(expected["abs"]["max"], rel=1e-6)
    assert got["cosine"] == pytest.approx(expected["cosine"], rel=1e-9)


def test_a_variant_missing_from_the_manifest_says_how_to_build_it(tmp_path):
    from harness.runner import RunConfig

    model = build_seg_model_dir(tmp_path / "m", modalities={"rgb": 3, "depth": 3}, size=(16, 16), num_classes=7)
    config = RunConfig(model_dir=Path(model.dir), data=DATA, out=tmp_path / "out", progress="off")
    with pytest.raises(ManifestError, match="mmharness build .* --precision fp16 --target ort"):
        run_compare(config, parse_candidates(["fp16"], "ort:cpu"))
    assert not (tmp_path / "out" / "results.json").exists()  # refused before any sweep ran


def test_gate_fails_a_candidate_that_loses_more_than_x_in_a_cell(compared):
    """The coordination with the gate: candidate results + the reference as --baseline, and a
    max_drop rule on ``cell:<id>`` (e.g. ``cell:emm/missing=depth``)."""
    from harness.gate import Rule, Thresholds, evaluate, load_thresholds
    from harness.report.results import load_results

    _, out, result = compared
    ref_doc, _ = load_results(out / "results.json")
    cand_doc, _ = load_results(out / "compare" / "int8" / "results.json")
    drops = {cid: -row["delta"] for cid, row in result.doc["candidates"]["int8"]["cells"].items()}
    cid, drop = max(drops.items(), key=lambda item: item[1])
    assert drop > 0, "the INT8 variant loses something in at least one cell"
    tight = Thresholds((Rule("max_drop", f"cell:{cid}", drop / 2),))
    loose = Thresholds((Rule("max_drop", f"cell:{cid}", drop * 2),))
    assert not evaluate(cand_doc, tight, baseline=ref_doc).passed
    assert evaluate(cand_doc, loose, baseline=ref_doc).passed
    path = out / "t.yaml"
    path.write_text('max_drop:\n  "cell:emm/missing=depth": 2.0\n')
    report = evaluate(cand_doc, load_thresholds(path), baseline=ref_doc)
    assert [c.metric for c in report.checks if c.rule.startswith("drop")] == ["cell:emm/missing=depth"]


def test_run_compare_from_the_command_line(compared, tmp_path, capsys):
    from harness.cli import main
    from harness.errors import ExitCode

    model, _, _ = compared
    out = tmp_path / "cli"
    args = ["run", model.dir, "--data", DATA, "--scenarios", "emm", "--batch", "4", "--bootstrap", "20",
            "--progress", "off", "--out", str(out)]
    assert main([*args, "--compare", "int8"]) == ExitCode.OK
    stdout = capsys.readouterr().out
    assert "compare int8 vs ort:cpu:" in stdout and "compare report:" in stdout
    doc = json.loads((out / "compare.json").read_text())
    assert set(doc["candidates"]) == {"int8"} and (out / "compare" / "int8" / "results.json").is_file()
    assert main([*args, "--compare", "fp16"]) == ExitCode.BAD_INPUT
    assert "--precision fp16 --target ort" in capsys.readouterr().err


def test_compare_sharded_by_samples_parity_covers_the_shard_and_merges_to_the_unsharded(compared, tmp_path, capsys):
    """Each shard's parity runs on that shard's images only (its disk clean cache, removed after),
    the shards' parity states add up to the unsharded compare's figures, and `merge` of the
    candidate results equals the unsharded candidate results."""
    from harness.variants.compare import merge_parity
    from harness.report.merge import merge_results
    from harness.report.results import load_results
    from harness.runner import RunConfig
    from harness.scenarios.plan import PlanSpec, parse_shard

    model, out, result = compared
    docs = []
    for index in (1, 2):
        config = RunConfig(model_dir=Path(model.dir), data=DATA, plan=PlanSpec(scenarios=("emm",)), batch=4, bootstrap=50,
                           out=tmp_path / f"s{index}", progress="off", shard=parse_shard(f"{index}/2", "samples"),
                           clean_cache="disk")
        docs.append(run_compare(config, parse_candidates(["int8"], "ort:cpu")).doc)
        # preprocessed once for the reference sweep (re-opened by the parity pass), once for the candidate's
        assert capsys.readouterr().err.count("mmharness: preprocessing") == 2
        assert not (tmp_path / f"s{index}" / "clean-cache").exists()  # the run's cache is gone afterwards
    assert [d["samples"]["start"] for d in docs] == [0, 4] and [d["samples"]["stop"] for d in docs] == [4, 6]
    for d in docs:  # 4 or 2 images of 7 x 16 x 16 logits each
        n = d["samples"]["stop"] - d["samples"]["start"]
        assert {row["parity"]["numel"] for row in d["candidates"]["int8"]["cells"].values()} == {n * 7 * 16 * 16}
    whole = result.doc["candidates"]["int8"]["cells"]
    merged = merge_parity(docs)["int8"]
    assert set(merged) == set(whole)
    for cid, figures in merged.items():
        expected = whole[cid]["parity"]
        for key in ("numel", "mismatches", "nonfinite", "passed", "class_agreement"):
            assert figures[key] == expected[key], (cid, key)
        assert figures["abs"]["max"] == expected["abs"]["max"] and figures["abs"]["median"] == expected["abs"]["median"]
        assert figures["abs"]["mean"] == pytest.approx(expected["abs"]["mean"], rel=1e-9)
        assert figures["cosine"] == pytest.approx(expected["cosine"], rel=1e-9)
    # the candidate sweeps merge like any sharded run: same confusion matrices as unsharded
    whole_doc, _ = load_results(out / "compare" / "int8" / "results.json")
    merged_doc, _ = merge_results([tmp_path / f"s{i}" / "compare" / "int8" / "results.json" for i in (1, 2)])
    for cid, cell in whole_doc["cells"].items():
        assert merged_doc["cells"][cid]["state"] == cell["state"], cid


def test_parity_tolerance_flags_reach_compare_json_and_decide_pass(compared, tmp_path, capsys):
    from harness.cli import main
    from harness.errors import ExitCode

    model, _, _ = compared
    base = ["run", model.dir, "--data", DATA, "--scenarios", "emm", "--batch", "4", "--bootstrap", "0", "--progress", "off"]
    verdicts = {}
    for name, flags in {"strict": ["--parity-atol", "0", "--parity-rtol", "0", "--parity-check", "max"],
                        "loose": ["--parity-atol", "1e9", "--parity-rtol", "1e9"]}.items():
        out = tmp_path / name
        assert main([*base, "--out", str(out), "--compare", "int8", *flags]) == ExitCode.OK
        stdout = capsys.readouterr().out
        assert ("cells within max atol=0 rtol=0" if name == "strict" else "cells within elemwise atol=1e+09 rtol=1e+09") in stdout
        doc = json.loads((out / "compare.json").read_text())
        cells = doc["candidates"]["int8"]["cells"].values()
        verdicts[name] = {row["parity"]["passed"] for row in cells}
        expected_tol = {"atol": 0.0, "rtol": 0.0, "check": "max"} if name == "strict" else {"atol": 1e9, "rtol": 1e9, "check": "elemwise"}
        assert {k: doc["parity_tolerance"][k] for k in expected_tol} == expected_tol
        for row in cells:  # the per-cell verdict follows Polygraphy's rule for that check
            par = row["parity"]
            assert par["check"] == expected_tol["check"] and par["atol"] == expected_tol["atol"]
            if name == "strict":
                assert par["passed"] == (par["abs"]["max"] == 0.0)
    assert verdicts == {"strict": {False}, "loose": {True}}
    capsys.readouterr()
    assert main([*base, "--out", str(tmp_path / "bad"), "--compare", "int8", "--parity-check", "maxx"]) == ExitCode.BAD_INPUT
    err = capsys.readouterr().err.strip()
    assert "did you mean 'max'" in err and len(err.splitlines()) == 1
    assert main([*base, "--out", str(tmp_path / "bad"), "--parity-atol", "1e-3"]) == ExitCode.BAD_INPUT
    assert "--compare only" in capsys.readouterr().err
    assert main([*base, "--out", str(tmp_path / "bad"), "--compare", "int8", "--parity-rtol", "-1"]) == ExitCode.BAD_INPUT
    assert "expected a tolerance >= 0" in capsys.readouterr().err
    assert not (tmp_path / "bad" / "results.json").exists()  # refused before any sweep ran


def test_a_candidate_that_covered_other_images_is_refused():
    from harness.variants.compare import _same_samples

    ref = {"provenance": {"samples": {"count": 4, "first": "val/a", "last": "val/d"}}}
    _same_samples(ref, {"provenance": {"samples": dict(ref["provenance"]["samples"])}}, "int8")
    with pytest.raises(ConfigError, match=r"--compare trt: its sweep covered samples .* pass --batch"):
        _same_samples(ref, {"provenance": {"samples": {"count": 2, "first": "val/a", "last": "val/b"}}}, "trt")


def test_mmharness_report_shows_the_compare_section_in_markdown_and_html(compared, tmp_path, capsys):
    from harness.cli import main

    _, out, result = compared
    entry = result.doc["candidates"]["int8"]
    assert main(["report", str(out)]) == 0
    markdown = capsys.readouterr().out
    section = markdown[markdown.index("# Precision / backend comparison"):]
    delta = entry["cells"]["emm/missing=depth"]["delta"]
    assert "| emm/missing=depth | " in section and f"{delta:+.2f}" in section
    assert main(["report", str(out), "--format", "html", "-o", str(tmp_path / "r.html")]) == 0
    assert "Precision / backend comparison" in (tmp_path / "r.html").read_text()
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "results.json").write_text((out / "results.json").read_text())
    (foreign / "compare.json").write_text(json.dumps({"format": "someone-else"}))
    capsys.readouterr()
    assert main(["report", str(foreign)]) == 2
    assert "compare.json" in capsys.readouterr().err
