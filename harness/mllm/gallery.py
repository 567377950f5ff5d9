"""The sample gallery of a ``mmharness bias`` run: for a few items (a seeded choice plus the
one the probes hurt most), the image and question each probe showed the model, kept in
``samples.npz`` beside results.json; the answers come from results.json's records, so the
report shows the image, the question and the answer under every probe without re-running."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import ResultsError
from harness.report.gallery import SAMPLES_FORMAT, SAMPLES_NAME, Gallery
from harness.report.png import data_uri

CLEAN = "bias/clean"


def _hurt_item(doc: Mapping[str, Any]) -> int | None:
    """Position of the item answered right when clean and wrong under the most probes."""
    cells = {cid: e["state"]["correct"] for cid, e in doc["cells"].items() if e.get("kind") == "records" and e["status"] == "ok"}
    if CLEAN not in cells or len(cells) < 2:
        return None
    wrong = sum(1 - np.asarray(v) for cid, v in cells.items() if cid != CLEAN)
    score = np.where(np.asarray(cells[CLEAN]) == 1, wrong, -1)
    return int(np.argmax(score)) if score.max() > 0 else None


def capture(doc: Mapping[str, Any], items: Sequence[Any], prober: Any, cells: Sequence[Any], k: int, seed: int) -> dict[str, np.ndarray] | None:
    """The sidecar arrays: per kept item, the image each probe cell fed (when it had one)."""
    from harness.runner.samples import choose_samples

    if k <= 0 or not items:
        return None
    chosen = choose_samples(len(items), k, seed, _hurt_item(doc))
    arrays: dict[str, np.ndarray] = {}
    shown: list[dict[str, Any]] = []
    for cell in cells:
        if cell.id not in doc["cells"] or doc["cells"][cell.id]["status"] != "ok":
            continue
        probes = [prober.perturb(cell, items[p]) for p, _ in chosen]
        if all(probe.image is not None for probe in probes):
            arrays[f"image/{cell.id}"] = np.stack([np.asarray(probe.image, dtype=np.uint8) for probe in probes])
        shown.append({"id": cell.id, "questions": [probe.question for probe in probes]})
    meta = {
        "format": SAMPLES_FORMAT, "version": 1, "task": "vqa",
        "config_hash": doc["config_hash"], "model_hash": doc["model"]["hash"], "dataset_fingerprint": doc["dataset"]["fingerprint"],
        "samples": [{"id": items[p].sample_id, "index": int(items[p].index), "position": p, "role": role,
                     "choices": list(items[p].choices), "answer": items[p].answer} for p, role in chosen],
        "cells": shown,
    }
    arrays["meta"] = np.array(json.dumps(meta, sort_keys=True))
    return arrays


def load_vqa_gallery(results: Path, doc: Mapping[str, Any]) -> Gallery | None:
    """The bias run's ``samples.npz`` (checked like the segmentation one)."""
    from harness.report.gallery import load_gallery

    gallery = load_gallery(results, doc)
    if gallery is not None and gallery.meta.get("task") != "vqa":
        raise ResultsError(f"{results}: {SAMPLES_NAME} is not a VQA sample gallery; delete it or re-run `mmharness bias`")
    return gallery


def _image(gallery: Gallery, cid: str, j: int) -> str:
    array = gallery.arrays.get(f"image/{cid}")
    if array is None:
        return '<div class="noimg">no image</div>'
    return f'<img src="{data_uri(array[j])}" width="{array.shape[2]}" height="{array.shape[1]}" alt="{escape(cid)}">'


def _probe_label(cid: str) -> str:
    """``bias/image=corrupted/fog/s3`` -> ``image corrupted: fog s3``."""
    probe = cid.removeprefix("bias/").replace("image=corrupted/", "image corrupted: ")
    return probe.replace("=", " ").replace("/", " ")


def render(gallery: Gallery | None, doc: Mapping[str, Any]) -> str:
    """Per kept item: the question, the options, then one tile per probe: the image shown, the
    question when the probe changed it, and the model's answer marked right or wrong."""
    head = '<section id="samples"><h2>What the model saw and answered</h2>'
    if gallery is None:
        return head + '<p class="note">No items kept (run <code>mmharness bias --save-samples 4</code>).</p></section>'
    out = [head]
    for j, sample in enumerate(gallery.meta["samples"]):
        position = sample["position"]
        clean_q = next((c["questions"][j] for c in gallery.meta["cells"] if c["id"] == CLEAN), "")
        out.append(f'<div class="sample" data-sample="{escape(sample["id"])}"><h3>{escape(sample["id"])} <small>({escape(sample["role"])})</small></h3>'
                   f'<p><b>Q:</b> {escape(clean_q)}<br><b>options:</b> {escape(", ".join(sample["choices"]))} · <b>answer:</b> {escape(sample["answer"])}</p><div class="tiles">')
        for cell in gallery.meta["cells"]:
            state = doc["cells"][cell["id"]]["state"]
            question = cell["questions"][j]
            ok = bool(state["correct"][position])
            asked = "" if question == clean_q else f'<br><i>asked: {escape(question) or "(no text)"}</i>'
            out.append(f'<figure class="tile {"" if ok else "hurt"}" data-cell="{escape(cell["id"])}">{_image(gallery, cell["id"], j)}'
                       f'<figcaption>{escape(_probe_label(cell["id"]))}<br>{"✓" if ok else "✗"} <b>{escape(str(state["prediction"][position]))}</b>{asked}</figcaption></figure>')
        out.append("</div></div>")
    return "".join(out) + "</section>"


def save_for_run(out: Path, doc: Mapping[str, Any], config: Any, k: int) -> None:
    """After ``mmharness bias``: keep ``k`` items' probe images (a shard keeps none)."""
    from harness.mllm.bias import open_items
    from harness.mllm.manifest import load_vqa_spec
    from harness.runner.samples import write
    from harness.scenarios.bias import Prober, bias_cells

    arrays = None
    if k > 0 and config.shard.count == 1:
        spec = load_vqa_spec(config.model)
        data = open_items(config, spec)
        arrays = capture(doc, data.items, Prober(data, config.seed, spec.missing_image), bias_cells(config.plan), k, config.seed)
    write(out, arrays)
