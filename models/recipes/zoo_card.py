"""Export a trained zoo model with ``exporters.mmss`` and write its ``MODEL_CARD.md``.

The card's figures are measured on the *exported* ONNX file with ONNX Runtime (CPU), feeding
the synthetic val split prepared exactly as the manifest says (``Modality.preprocess_array``)
and replacing missing modalities by the manifest's fill (zeros after normalization). mIoU is
the DELIVER/Liao convention (one confusion matrix over the split, absent classes count 0),
accumulated with ``harness.metrics.confusion.ConfusionMatrix``; mIoU^Avg and mIoU^E(p) come from
``harness.metrics.robustness.aggregate``.
"""

from __future__ import annotations

import platform
import time
from pathlib import Path
from typing import Any

import numpy as np

from exporters.mmss import MmssExportConfig, export_mmss
from exporters.verify import ort_session
from harness.data.synthetic import CLASSES, IGNORE_INDEX, MODALITIES, SyntheticDataset
from harness.manifest import load_manifest
from harness.metrics.confusion import ConfusionMatrix
from harness.metrics.robustness import aggregate
from harness.metrics.segmentation import mean_iou

DESCRIPTIONS = {
    "rgbcentric": "Fusion segmenter (RGB backbone, depth/event/LiDAR fused into it) trained on clean data only.",
    "robust": "Same network and schedule, trained with modality dropout (random missing subsets, zero fill).",
}


def emm_table(model_dir: Path, dataset: SyntheticDataset) -> dict[str, float]:
    """mIoU of the exported graph for every EMM missing set (clean first), keys like ``depth+event``."""
    import itertools

    manifest = load_manifest(str(model_dir))
    run = ort_session(model_dir / "model.onnx")
    names = manifest.modality_names
    clean = {m: manifest.modality(m).preprocess_array(np.stack([s.modalities[m] for s in dataset])) for m in names}
    labels = np.stack([s.label for s in dataset])
    table = {}
    for k in range(len(names)):
        for missing in itertools.combinations(names, k):
            feed = {m: np.zeros_like(x) if m in missing else x for m, x in clean.items()}
            cm = ConfusionMatrix(len(manifest.classes), manifest.ignore_index)
            for start in range(0, len(labels), 16):
                batch = {m: x[start : start + 16] for m, x in feed.items()}
                cm.update_logits(run(batch)["logits"], labels[start : start + 16], axis=1)
            table["+".join(missing) or "clean"] = float(mean_iou(cm.matrix, absent="zero"))
    return table


def export_and_card(model: Any, config: Any, out: Path, train_seconds: float, argv: list[str],
                    modalities: list[dict[str, Any]], size: int) -> None:
    """Export ``model`` into ``out`` and write MODEL_CARD.md with the measured EMM figures."""
    import torch

    name = f"mmss-synth-{config.variant}"
    export = MmssExportConfig(
        name=name,
        modalities=tuple(modalities),
        classes=CLASSES,
        input_size=(size, size),
        ignore_index=IGNORE_INDEX,
        seed=config.seed,
        source_model="models/recipes/mmss_net.py:build",
        description=DESCRIPTIONS[config.variant],
    )
    started = time.time()
    result = export_mmss(model, out, export)
    export_seconds = time.time() - started
    table = emm_table(out, SyntheticDataset("val", size=size, seed=0))
    params = sum(p.numel() for p in model.parameters())
    card = render_card(name, config, table, params, train_seconds, export_seconds, argv, result, torch.__version__)
    (out / "MODEL_CARD.md").write_text(card)
    print(card)


def emm_aggregates(table: dict[str, float]) -> dict[str, object]:
    """mIoU^Avg and mIoU^E(p) of an ``emm_table`` through the harness metric core."""
    cells = {frozenset() if key == "clean" else frozenset(key.split("+")): value for key, value in table.items()}
    return aggregate(cells, MODALITIES)


def render_card(name, config, table, params, train_seconds, export_seconds, argv, result, torch_version) -> str:
    figures = emm_aggregates(table)
    avg = figures["avg"]
    expected = " / ".join(f"{v:.2f}" for v in figures["E"].values())
    ps = "/".join(f"{p:g}" for p in figures["E"])
    clean = table["clean"]
    size_mb = result.onnx_path.stat().st_size / 1e6
    rows = "\n".join(f"| {k} | {v:.2f} | {v - clean:+.2f} |" for k, v in table.items())
    contrib = "\n".join(f"| {m} | {clean - table[m]:.2f} |" for m in MODALITIES)
    parity = result.parity.summary()
    worst = max(o["max_abs"] for case in parity["cases"].values() for o in case.values())
    return f"""# {name}

{DESCRIPTIONS[config.variant]}

## Architecture
`FusionSegmenter` (`models/recipes/mmss_net.py`): a CMNeXt-style RGB backbone (3 strided conv
stages, dilated context) with one light stem per auxiliary modality (depth, event, LiDAR) whose
features are added into the RGB stream at 1/2 and 1/4 resolution; a two-step decoder with skip
connections; bilinear upsampling to the input size. Inputs: four NCHW float32 tensors
(`rgb`, `depth`, `event`, `lidar`), 64x64, dynamic batch (<= 16). Output: `logits`, N x 7 x 64 x 64.
Parameters: {params:,}. `model.onnx`: {size_mb:.2f} MB, opset {result.provenance['opset']},
exporter {result.provenance['exporter']}.

## Training
- Data: `synthetic` train split, {config.train_size} samples, seed {config.seed}, 64x64
  (`harness/data/synthetic.py`: classes that only depth/LiDAR, only RGB or only events reveal).
- {'Modality dropout: with probability ' + format(1 - config.p_clean, '.2f') + ' a sample loses a uniformly drawn non-empty proper subset of modalities (zero fill in normalized space, the manifest convention).' if config.variant == 'robust' else 'Clean data only: every modality always present.'}
- AdamW, one-cycle LR (max {config.lr}), batch {config.batch}, {config.steps} steps, horizontal flips;
  torch {torch_version} CPU, 2 threads, deterministic algorithms.
- Command (from the repository root):
  `nice -n 10 python models/recipes/train_mmss.py {' '.join(argv)}`
- Training time: {train_seconds / 60:.1f} min on a shared 2-core CPU ({platform.machine()}); export + parity {export_seconds:.0f} s.

## Results (synthetic val split, 48 images; exported ONNX on ONNX Runtime CPU)
mIoU in %, DELIVER/Liao convention (one confusion matrix, absent classes count 0), missing
modalities fed as zeros after normalization (EMM).

- clean mIoU: **{clean:.2f}**
- mIoU^Avg_EMM over all {len(table)} EMM cells (each proper subset of modalities missing, none missing included): **{avg:.2f}**
- mIoU^E_EMM(p) for p = {ps}: {expected}

Per-modality contribution (clean mIoU minus mIoU with only that modality missing):

| modality | EMM drop |
|---|---|
{contrib}

Full EMM table:

| missing | mIoU | vs clean |
|---|---|---|
{rows}

Parity (torch vs ONNX Runtime, random and each-modality-missing inputs): worst max abs error
{worst:.2g}, tolerance atol={parity['tolerance']['atol']:g} / rtol={parity['tolerance']['rtol']:g}, passed: {parity['passed']}.

Reproduce the evaluation with the harness: `mmharness run --model models/{name}`.
"""
