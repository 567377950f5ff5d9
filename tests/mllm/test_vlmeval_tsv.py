"""A benchmark file in VLMEvalKit's TSV format (as MMBench/MMStar are distributed) runs through
``mmharness bias``; the predictions come back in the format its eval-only mode reads; MMStar's
ML = max(0, S_wv - S_t) with ``--base-llm``."""

from __future__ import annotations

import base64
import csv
import io
import json

import numpy as np
import pytest
from PIL import Image

from harness.cli import main
from harness.data.vqa import synthetic_vqa
from harness.errors import DataError, ExitCode
from harness.mllm.bias import DEFAULT_MODEL

COLUMNS = ["index", "question", "hint", "A", "B", "C", "D", "answer", "category", "l2-category", "split", "image"]


def _b64(image: np.ndarray) -> str:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def write_fixture(path, n=16):  # type: ignore[no-untyped-def]
    """MMBench-style rows from synthetic items: lettered options (empty cells for absent ones), the
    answer letter, base64 PNG images, a repeated image stored as the index of its row."""
    rows = []
    for item in synthetic_vqa(size=n, split="val", seed=3, image_size=32):
        options = dict(zip("ABCD", item.choices))
        image = _b64(item.image)
        if item.index == n - 1:
            image = str(1000)  # same image as the first row (MMBench stores the row index)
        rows.append({"index": str(1000 + item.index), "question": item.question, "hint": "nan",
                     **{letter: options.get(letter, "") for letter in "ABCD"},
                     "answer": "ABCD"[item.choices.index(item.answer)], "category": item.category,
                     "l2-category": "synthetic", "split": "dev", "image": image})
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, COLUMNS, delimiter="\t", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return rows


def test_loader_reads_options_answers_and_shared_images(tmp_path):  # type: ignore[no-untyped-def]
    from harness.data.vlmeval import load_vlmeval_tsv

    rows = write_fixture(tmp_path / "MMBench_DEV_EN.tsv")
    data = load_vlmeval_tsv(tmp_path / "MMBench_DEV_EN.tsv")
    source = synthetic_vqa(size=16, split="val", seed=3, image_size=32)
    assert [i.sample_id for i in data] == [r["index"] for r in rows]
    assert [i.choices for i in data] == [s.choices for s in source]  # empty option cells dropped
    assert [i.answer for i in data] == [s.answer for s in source]
    assert np.array_equal(data[0].image, source[0].image)
    assert np.array_equal(data[15].image, source[0].image)  # the row-index reference resolved
    assert data[0].question == source[0].question  # 'nan' hint ignored


def test_bad_answer_letter_names_the_row(tmp_path):  # type: ignore[no-untyped-def]
    from harness.data.vlmeval import load_vlmeval_tsv

    path = tmp_path / "bad.tsv"
    write_fixture(path, n=4)
    text = path.read_text().splitlines()
    cells = text[2].split("\t")
    cells[COLUMNS.index("answer")] = "Z"
    path.write_text("\n".join([*text[:2], "\t".join(cells), *text[3:]]) + "\n")
    with pytest.raises(DataError, match=r"bad.tsv:3: answer 'Z' is not one of the options"):
        load_vlmeval_tsv(path)


def test_bias_runs_on_the_tsv_and_writes_vlmevalkit_predictions(tmp_path):  # type: ignore[no-untyped-def]
    rows = write_fixture(tmp_path / "MMStar.tsv")
    out = tmp_path / "out"
    code = main(["bias", str(DEFAULT_MODEL), "--data", str(tmp_path / "MMStar.tsv"), "--limit", "16", "--corruptions", "",
                 "--permutations", "1", "--bootstrap", "50", "--base-llm", str(DEFAULT_MODEL), "--out", str(out)])
    assert code == ExitCode.OK
    doc = json.loads((out / "results.json").read_text())
    assert doc["dataset"]["name"] == "vlmeval:MMStar" and doc["dataset"]["n_samples"] == 16
    # VLMEvalKit's file: {model}_{dataset}.tsv, the benchmark's columns without the image, plus prediction
    with open(out / "vlm-synth-tiny_MMStar.tsv", newline="", encoding="utf-8") as handle:
        predicted = list(csv.DictReader(handle, delimiter="\t"))
    assert list(predicted[0]) == [c for c in COLUMNS if c != "image"] + ["prediction"]
    assert [p["index"] for p in predicted] == [r["index"] for r in rows]
    assert all(p["prediction"] in "ABCD" and p[p["prediction"]] for p in predicted)  # a letter with an option
    hits = np.mean([p["prediction"] == p["answer"] for p in predicted])  # exact matching, as its MCQ eval does
    assert 100 * hits == pytest.approx(doc["cells"]["bias/clean"]["figures"]["accuracy"])
    # MMStar: MG = S_v - S_wv, ML = max(0, S_wv - S_t); the base LLM here is the model itself, text only
    values = doc["aggregates"]["bias"]["values"]
    acc = {cid: 100 * np.mean(e["state"]["correct"]) for cid, e in doc["cells"].items()}
    assert values["multimodal_gain"] == pytest.approx(acc["bias/clean"] - acc["bias/image=removed"])
    assert values["multimodal_leakage"] == pytest.approx(max(0.0, acc["bias/image=removed"] - acc["bias/base_llm"]))
