"""Bias probes: cell plan, perturbations, records state, and the probes on the shipped tiny VLM."""

from __future__ import annotations

import json

import numpy as np
import pytest

from harness.cli import main
from harness.data.vqa import synthetic_vqa
from harness.errors import ConfigError, ExitCode, ResultsError
from harness.metrics import bias as metrics
from harness.mllm import records
from harness.scenarios.bias import BiasPlan, Prober, bias_cells, derangement
from harness.seeding import rng_for

from .conftest import SHIPPED

needs_model = pytest.mark.skipif(not (SHIPPED / "manifest.json").is_file(), reason="models/vlm-synth-tiny not trained yet")


def test_cells_follow_the_design_order_and_kind():  # type: ignore[no-untyped-def]
    cells = bias_cells(BiasPlan(permutations=2, corruptions=("contrast",), severities=(1, 5)))
    assert [c.id for c in cells] == [
        "bias/clean", "bias/image=removed", "bias/image=blank", "bias/image=noise",
        "bias/image=permuted/k=0", "bias/image=permuted/k=1",
        "bias/image=corrupted/contrast/s1", "bias/image=corrupted/contrast/s5",
        "bias/text=removed", "bias/text=misleading",
    ]
    assert {c.kind for c in cells} == {"records"} and {c.scenario for c in cells} == {"bias"}
    with pytest.raises(ConfigError, match="outside 1..5"):
        bias_cells(BiasPlan(severities=(6,)))


def test_derangement_has_no_fixed_point_and_is_seeded():  # type: ignore[no-untyped-def]
    for n in (2, 3, 10, 57):
        order = derangement(n, rng_for(0, "bias/image=permuted/k=0", 0, "permutation"))
        assert sorted(order.tolist()) == list(range(n)) and not np.any(order == np.arange(n))
    a = derangement(30, np.random.default_rng(1))
    assert np.array_equal(a, derangement(30, np.random.default_rng(1)))


def test_perturbations():  # type: ignore[no-untyped-def]
    data = synthetic_vqa(size=12, seed=4)
    prober = Prober(data, run_seed=0)
    cells = {c.id: c for c in bias_cells(BiasPlan(permutations=1, corruptions=("gaussian_noise",), severities=(5,)))}
    item = data[3]
    assert prober.perturb(cells["bias/image=removed"], item).image is None
    assert np.all(prober.perturb(cells["bias/image=blank"], item).image == 128)
    permuted = prober.perturb(cells["bias/image=permuted/k=0"], item).image
    sources = [j for j, other in enumerate(data) if np.array_equal(other.image, permuted)]
    assert sources and 3 not in sources
    noisy = prober.perturb(cells["bias/image=corrupted/gaussian_noise/s5"], item).image
    assert noisy.shape == item.image.shape and not np.array_equal(noisy, item.image)
    assert np.array_equal(noisy, Prober(data, run_seed=0).perturb(cells["bias/image=corrupted/gaussian_noise/s5"], item).image)
    misleading = prober.perturb(cells["bias/text=misleading"], item)
    wrong = misleading.question.split("answer is ")[1].rstrip(" .")
    assert wrong in item.choices and wrong != item.answer and np.array_equal(misleading.image, item.image)
    assert prober.perturb(cells["bias/text=removed"], item).question == ""


def test_records_merge_is_exact_and_rejects_overlap():  # type: ignore[no-untyped-def]
    state = {"sample_index": [0, 1, 2, 3], "sample_id": list("abcd"), "prediction": list("xyzx"),
             "choice": [0, 1, 2, 0], "correct": [1, 0, 1, 1], "n_choices": [4, 3, 3, 2]}
    first = {k: [v[i] for i in (2, 0)] for k, v in state.items()}
    second = {k: [v[i] for i in (3, 1)] for k, v in state.items()}
    assert records.merge(second, first) == state
    with pytest.raises(ResultsError, match="twice"):
        records.merge(state, first)
    figures = records.figures(state, {})
    assert figures["accuracy"] == 75.0
    assert figures["chance"] == pytest.approx(100 * (1 / 4 + 1 / 3 + 1 / 3 + 1 / 2) / 4)


@pytest.fixture(scope="module")
def shipped_results(tmp_path_factory):  # type: ignore[no-untyped-def]
    if not (SHIPPED / "manifest.json").is_file():
        pytest.skip("models/vlm-synth-tiny not trained yet")
    out = tmp_path_factory.mktemp("bias")
    code = main(["bias", "--limit", "80", "--permutations", "2", "--corruptions", "gaussian_noise", "--severities", "5",
                 "--bootstrap", "200", "--out", str(out)])
    assert code == ExitCode.OK
    return json.loads((out / "results.json").read_text()), out


@needs_model
def test_probes_move_accuracy_in_the_expected_direction(shipped_results):  # type: ignore[no-untyped-def]
    doc, _ = shipped_results
    acc = {cid: e["figures"]["accuracy"] for cid, e in doc["cells"].items()}
    chance = doc["aggregates"]["bias"]["chance"]
    assert acc["bias/clean"] > chance + 20
    assert acc["bias/image=removed"] < acc["bias/clean"] - 10
    assert np.mean([acc["bias/image=permuted/k=0"], acc["bias/image=permuted/k=1"]]) < acc["bias/clean"] - 10
    assert acc["bias/image=noise"] < acc["bias/clean"]
    tags = doc["aggregates"]["bias"]["by_tag"]
    assert tags["tempting"]["bias/image=removed"] < tags["typical"]["bias/image=removed"]


@needs_model
def test_bias_scores_match_the_metric_core_on_stored_records(shipped_results):  # type: ignore[no-untyped-def]
    """Every figure of aggregates.bias, recomputed from the stored per-sample records: by the
    paper definitions in plain NumPy here, and by ``harness.metrics.bias.summarize``."""
    doc, out = shipped_results
    column = lambda cid, key="correct": np.asarray(doc["cells"][cid]["state"][key])
    acc = lambda cid: 100.0 * column(cid).sum() / column(cid).size
    clean, removed, text_removed = acc("bias/clean"), acc("bias/image=removed"), acc("bias/text=removed")
    chance = 100.0 * np.mean(1.0 / column("bias/clean", "n_choices"))
    permuted = [acc(f"bias/image=permuted/k={k}") for k in range(2)]
    phi_image = 0.5 * ((text_removed - chance) + (clean - removed))  # v(I) - v(0), v(IT) - v(T)
    phi_text = 0.5 * ((removed - chance) + (clean - text_removed))
    by_hand = {
        "accuracy": clean, "accuracy_image_removed": removed, "multimodal_gain": clean - removed,
        "blind_gap": removed - chance, "vision_reliance": (clean - removed) / (clean - chance),
        "perceptual_score": clean - np.mean(permuted), "perceptual_score_relative": (clean - np.mean(permuted)) / clean,
        "swap_sensitivity": np.mean([np.mean(column("bias/clean", "choice") != column(f"bias/image=permuted/k={k}", "choice"))
                                     for k in range(2)]),
        "shapley_image": phi_image, "shapley_text": phi_text, "shapley_image_share": phi_image / (phi_image + phi_text),
    }
    block = doc["aggregates"]["bias"]
    values = block["values"]
    assert block["chance"] == pytest.approx(chance)
    assert set(values) == set(by_hand)
    for name, expected in by_hand.items():
        assert values[name] == pytest.approx(expected, abs=1e-9), name
    core = metrics.summarize(column("bias/clean"), column("bias/image=removed"), chance=chance,
                             permuted=[column(f"bias/image=permuted/k={k}") for k in range(2)],
                             clean_answers=column("bias/clean", "choice"),
                             permuted_answers=[column(f"bias/image=permuted/k={k}", "choice") for k in range(2)],
                             text_removed=column("bias/text=removed"))
    assert values["multimodal_gain"] == pytest.approx(core.multimodal_gain)
    assert values["perceptual_score"] == pytest.approx(core.perceptual_score.absolute)
    assert values["shapley_image_share"] == pytest.approx(core.shapley.image_share)
    for name, ci in block["ci"].items():
        assert ci["low"] <= values[name] <= ci["high"], name
    items = synthetic_vqa(size=80, seed=0)  # the run's data, regenerated: tags from the generator, not the file
    tempting = np.asarray(["tempting" in item.tags for item in items][: doc["dataset"]["n_samples"]])
    for cid in ("bias/clean", "bias/image=removed"):
        assert block["by_tag"]["tempting"][cid] == pytest.approx(100.0 * column(cid)[tempting].mean())
    from harness.report.results import load_results

    loaded, _ = load_results(out)  # the shared loader accepts records cells
    assert loaded["task"] == "vqa"


@needs_model
def test_shards_merge_to_the_unsharded_run(tmp_path, capsys):  # type: ignore[no-untyped-def]
    args = ["bias", "--limit", "12", "--permutations", "2", "--corruptions", "contrast", "--severities", "5",
            "--bootstrap", "50"]
    assert main([*args, "--out", str(tmp_path / "full")]) == ExitCode.OK
    for index in (1, 2, 3):
        assert main([*args, "--shard", f"{index}/3", "--out", str(tmp_path / f"s{index}")]) == ExitCode.OK
    shard = json.loads((tmp_path / "s2" / "results.json").read_text())
    assert shard["plan"]["complete"] is False and shard["shards"] == [{"index": 2, "count": 3}]
    assert shard["aggregates"]["bias"]["available"] is False and "merge" in shard["aggregates"]["bias"]["reason"]
    capsys.readouterr()
    assert main(["report", str(tmp_path / "s2")]) == ExitCode.OK
    text = capsys.readouterr().out  # a shard's report shows its cells and why the figures are missing
    assert "bias/image=removed" in text and "bias figures unavailable" in text and "bias/clean |" not in text
    assert main(["merge", *(str(tmp_path / f"s{i}") for i in (3, 1, 2)), "-o", str(tmp_path / "m")]) == ExitCode.OK
    full = json.loads((tmp_path / "full" / "results.json").read_text())
    merged = json.loads((tmp_path / "m" / "results.json").read_text())
    assert merged["plan"]["complete"] is True and list(merged["cells"]) == list(full["cells"])
    assert merged["cells"] == full["cells"]
    assert merged["aggregates"] == full["aggregates"] and merged["aggregates"]["bias"]["available"] is True
    capsys.readouterr()
    assert main(["bias", "--shard", "3/2", "--out", str(tmp_path / "x")]) == ExitCode.BAD_INPUT
    assert "--shard" in capsys.readouterr().err
    assert main([*args, "--shard", "1/3", "--out", str(tmp_path / "s2")]) == ExitCode.BAD_INPUT  # never overwrites shard 2
    assert "holds shard 2/3 of this sweep" in capsys.readouterr().err
    assert json.loads((tmp_path / "s2" / "results.json").read_text())["shards"] == [{"index": 2, "count": 3}]


def test_unknown_corruption_is_refused_before_any_cell_runs(tmp_path, capsys):  # type: ignore[no-untyped-def]
    assert main(["bias", "--corruptions", "fgo", "--out", str(tmp_path)]) == ExitCode.BAD_INPUT
    err = capsys.readouterr().err
    assert "--corruptions: 'fgo' is not an image corruption; did you mean 'fog'" in err and "[ 1/" not in err
    with pytest.raises(ConfigError, match="depth_holes' is not an image corruption"):
        bias_cells(BiasPlan(corruptions=("depth_holes",)))


def test_bias_on_a_folder_without_manifest_is_bad_input(tmp_path, capsys):  # type: ignore[no-untyped-def]
    assert main(["bias", str(tmp_path), "--out", str(tmp_path / "o")]) == ExitCode.BAD_INPUT
    assert "manifest.json" in capsys.readouterr().err


@needs_model
def test_bias_results_go_through_report_and_gate(shipped_results, tmp_path, capsys):  # type: ignore[no-untyped-def]
    doc, out = shipped_results
    assert main(["report", str(out)]) == ExitCode.OK
    text = capsys.readouterr().out
    assert "Modality bias" in text and "bias/image=removed" in text
    assert "mIoU" not in text and "## Aggregates" not in text  # no empty segmentation sections in a VQA report
    mg = doc["aggregates"]["bias"]["values"]["multimodal_gain"]
    passing = tmp_path / "ok.yaml"
    passing.write_text(f"version: 1\nfloors:\n  bias.multimodal_gain: {mg - 1}\n  \"cell:bias/clean\": 40\n")
    assert main(["gate", str(out), "--thresholds", str(passing)]) == ExitCode.OK
    failing = tmp_path / "fail.yaml"
    failing.write_text(f"version: 1\nfloors:\n  bias.multimodal_gain: {mg + 1}\n")
    assert main(["gate", str(out), "--thresholds", str(failing)]) == ExitCode.GATE_FAILED


@needs_model
def test_bias_on_jsonl_data_with_base_llm_and_generate_mode(tmp_path):  # type: ignore[no-untyped-def]
    from harness.data.vqa import load_vqa_jsonl, write_vqa_jsonl

    jsonl = write_vqa_jsonl(synthetic_vqa(size=12, seed=9), tmp_path / "data")
    common = ["--data", str(jsonl), "--permutations", "1", "--corruptions", "", "--bootstrap", "0"]
    assert main(["bias", str(SHIPPED), *common, "--base-llm", str(SHIPPED), "--out", str(tmp_path / "a")]) == ExitCode.OK
    doc = json.loads((tmp_path / "a" / "results.json").read_text())
    assert doc["dataset"]["n_samples"] == 12 and doc["dataset"]["name"].startswith("jsonl:")
    # the base LLM is the same model without images: its accuracy equals image=removed, so ML = 0
    assert doc["cells"]["bias/base_llm"]["state"]["correct"] == doc["cells"]["bias/image=removed"]["state"]["correct"]
    assert doc["aggregates"]["bias"]["values"]["multimodal_leakage"] == 0.0
    assert main(["bias", str(SHIPPED), *common, "--mode", "generate", "--out", str(tmp_path / "g")]) == ExitCode.OK
    generated = json.loads((tmp_path / "g" / "results.json").read_text())
    scored = json.loads((tmp_path / "a" / "results.json").read_text())
    # a one-word answer generated greedily is the top-ranked option whenever it is one of the options
    items = load_vqa_jsonl(jsonl)
    predictions = zip(generated["cells"]["bias/clean"]["state"]["prediction"], scored["cells"]["bias/clean"]["state"]["prediction"])
    for item, (gen, ranked) in zip(items, predictions):
        assert gen == ranked or gen not in item.choices


@needs_model
def test_a_cell_with_nan_outputs_is_recorded_failed_and_fails_the_gate(tmp_path, monkeypatch, capsys):  # type: ignore[no-untyped-def]
    import harness.mllm.bias as bias_module
    from harness.mllm.runtime import NonFiniteOutput

    original = bias_module._records
    failing = {"bias/image=noise"}

    def flaky(answerer, prober, cell, data):  # type: ignore[no-untyped-def]
        if cell.id in failing:
            raise NonFiniteOutput("decoder: decoder logits hold NaN/Inf (3 values)")
        return original(answerer, prober, cell, data)

    monkeypatch.setattr(bias_module, "_records", flaky)
    out = tmp_path / "r"
    assert main(["bias", "--limit", "10", "--permutations", "1", "--corruptions", "", "--bootstrap", "0", "--out", str(out)]) == ExitCode.OK
    doc = json.loads((out / "results.json").read_text())
    assert doc["cells"]["bias/image=noise"]["status"] == "failed" and "NaN" in doc["cells"]["bias/image=noise"]["reason"]
    assert "multimodal_gain" in doc["aggregates"]["bias"]["values"]  # the failed probe is not one MG needs
    capsys.readouterr()
    assert main(["gate", str(out), "--baseline", str(out)]) == ExitCode.GATE_FAILED
    failing.add("bias/image=removed")
    assert main(["bias", "--limit", "10", "--permutations", "1", "--corruptions", "", "--bootstrap", "0", "--out", str(out)]) == ExitCode.OK
    assert json.loads((out / "results.json").read_text())["aggregates"]["bias"]["available"] is False


@needs_model
def test_same_seed_gives_identical_results(tmp_path):  # type: ignore[no-untyped-def]
    args = ["bias", "--limit", "16", "--permutations", "2", "--corruptions", "gaussian_noise", "--severities", "3",
            "--bootstrap", "50"]
    docs = []
    for name in ("a", "b"):
        assert main([*args, "--out", str(tmp_path / name)]) == ExitCode.OK
        doc = json.loads((tmp_path / name / "results.json").read_text())
        doc.pop("timing")
        docs.append(doc)
    assert docs[0] == docs[1]
    assert main([*args, "--seed", "1", "--out", str(tmp_path / "c")]) == ExitCode.OK
    other = json.loads((tmp_path / "c" / "results.json").read_text())
    assert other["cells"]["bias/image=permuted/k=0"]["state"] != docs[0]["cells"]["bias/image=permuted/k=0"]["state"]


@needs_model
def test_open_ended_items_use_only_a_declared_chance_level(tmp_path):  # type: ignore[no-untyped-def]
    import dataclasses
    import shutil

    from harness.data.vqa import VqaDataset, write_vqa_jsonl

    data = synthetic_vqa(size=10, seed=2)
    open_ended = VqaDataset(data.name, tuple(dataclasses.replace(item, choices=()) for item in data))
    jsonl = write_vqa_jsonl(open_ended, tmp_path / "data")
    args = ["--data", str(jsonl), "--mode", "generate", "--permutations", "1", "--corruptions", "", "--bootstrap", "0"]
    assert main(["bias", *args, "--out", str(tmp_path / "a")]) == ExitCode.OK
    block = json.loads((tmp_path / "a" / "results.json").read_text())["aggregates"]["bias"]
    assert block["chance"] is None and "blind_gap" not in block["values"] and "multimodal_gain" in block["values"]
    model = tmp_path / "model"
    shutil.copytree(SHIPPED, model)
    manifest = json.loads((model / "manifest.json").read_text())
    manifest["vqa"]["chance_level"] = 0.3
    (model / "manifest.json").write_text(json.dumps(manifest))
    assert main(["bias", str(model), *args, "--out", str(tmp_path / "b")]) == ExitCode.OK
    doc = json.loads((tmp_path / "b" / "results.json").read_text())
    removed = 100.0 * np.mean(doc["cells"]["bias/image=removed"]["state"]["correct"])
    assert doc["aggregates"]["bias"]["chance"] == pytest.approx(30.0)
    assert doc["aggregates"]["bias"]["values"]["blind_gap"] == pytest.approx(removed - 30.0)
