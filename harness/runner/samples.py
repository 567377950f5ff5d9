"""The sample gallery's sidecar (``samples.npz`` beside results.json): for a few kept samples,
the clean inputs, the ground truth, and what the model predicted under clean, every EMM
missing set and the worst NM cells, plus the perturbed inputs it saw in those NM cells.

Written after the sweep by re-running only the kept samples (a Liao preset cell, which is
batch-level, re-runs the whole original batch), so the predictions are the sweep's own: the
feeds are seeded per sample and cell. The kept samples are a seeded choice plus the sample
the perturbations hurt most. Nothing here is time-dependent: same seed, same bytes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from harness.backends.interface import Session
from harness.errors import ConfigError
from harness.manifest import Manifest, OutputSpec
from harness.metrics.segmentation import mean_iou
from harness.report.gallery import SAMPLES_FORMAT, SAMPLES_NAME
from harness.report.io import atomic_write, npz_bytes
from harness.runner.execute import Batching, predictions, score_size
from harness.runner.feeds import FeedBuilder, pad_rows
from harness.runner.store import CellRecord, load_matrices
from harness.scenarios.cells import CLEAN_ID, Cell
from harness.seeding import rng_for

DISPLAY_MAX = 256  # longest side of stored pictures; larger frames are subsampled (nearest)
Array = npt.NDArray[Any]


def check_count(k: int) -> int:
    """``--save-samples``: a count >= 0 (0 turns the gallery off)."""
    if isinstance(k, bool) or not isinstance(k, int) or k < 0:
        raise ConfigError(f"--save-samples: expected a number of samples >= 0 (0 = off), got {k!r}")
    return k


def per_image_miou(matrices: Array) -> Array:
    """mIoU (percent) of each image over the classes present in its label or prediction."""
    m = matrices.astype(np.float64)
    tp = np.diagonal(m, axis1=1, axis2=2)
    union = m.sum(axis=2) + m.sum(axis=1) - tp
    present = union > 0
    iou = np.where(present, tp / np.where(present, union, 1.0), 0.0)
    return 100.0 * iou.sum(axis=1) / np.maximum(present.sum(axis=1), 1)


def gallery_cells(plan: Sequence[Cell], records: Mapping[str, CellRecord]) -> list[str]:
    """Clean, every EMM missing set, and the worst NM cells (one per modality, the worst Liao level)."""
    ok = {cid for cid, (entry, path) in records.items() if entry["status"] == "ok" and path is not None}
    cells = [c.id for c in plan if c.scenario == "emm" and c.id in ok]
    if CLEAN_ID in ok and CLEAN_ID not in cells:
        cells.insert(0, CLEAN_ID)
    worst: dict[str, tuple[float, str]] = {}
    for cell in plan:
        if cell.scenario != "nm" or cell.id not in ok:
            continue
        group = "liao" if any(s.op == "preset" for s in cell.steps) else "+".join(sorted({m for s in cell.steps for m in s.modalities}))
        miou = float(mean_iou(load_matrices(records[cell.id][1]).sum(axis=0)))  # type: ignore[arg-type]
        if group not in worst or miou < worst[group][0]:
            worst[group] = (miou, cell.id)
    return cells + [cid for _, cid in sorted(worst.values())]


def choose_samples(n: int, k: int, seed: int, hurt: int | None) -> list[tuple[int, str]]:
    """``(position, role)``: up to ``k - 1`` seeded picks in order, then the most-hurt sample."""
    rest = np.arange(n, dtype=np.int64) if hurt is None else np.delete(np.arange(n, dtype=np.int64), hurt)
    picks = k - (1 if hurt is not None else 0)
    rng = rng_for(seed, "samples", 0, "gallery")
    chosen = np.sort(rng.choice(rest, size=min(picks, len(rest)), replace=False)) if picks > 0 and len(rest) else rest[:0]
    out = [(int(i), "seeded choice") for i in chosen]
    return out + ([(hurt, "most hurt")] if hurt is not None and k > 0 else [])


def most_hurt(cells: Sequence[str], records: Mapping[str, CellRecord]) -> tuple[int | None, dict[str, Array]]:
    """The sample whose per-image mIoU drops most from clean on average over ``cells``, and
    every cell's per-image mIoU."""
    scores = {cid: per_image_miou(load_matrices(records[cid][1])) for cid in cells}  # type: ignore[arg-type]
    others = [scores[cid] for cid in cells if cid != CLEAN_ID]
    if CLEAN_ID not in scores or not others:
        return None, scores
    drop = scores[CLEAN_ID] - np.mean(others, axis=0)
    return int(np.argmax(drop)), scores


def display_size(shape: Sequence[int]) -> tuple[int, int]:
    h, w = int(shape[0]), int(shape[1])
    scale = min(1.0, DISPLAY_MAX / max(h, w))
    return max(1, round(h * scale)), max(1, round(w * scale))


def fit(array: Array, size: tuple[int, int]) -> Array:
    """Nearest-neighbour resample of ``(N, H, W, ...)`` to ``size`` (class maps stay class maps)."""
    h, w = array.shape[1:3]
    rows = (np.arange(size[0]) * h) // size[0]
    cols = (np.arange(size[1]) * w) // size[1]
    return np.ascontiguousarray(array[:, rows][:, :, cols])


def seen_input(manifest: Manifest, name: str, tensor: Array, raw_dtype: np.dtype) -> Array:
    """A model tensor back in raw sensor units, channel-last, as the model saw it."""
    modality = manifest.modality(name)
    x = np.asarray(tensor)
    if modality.layout == "NCHW":
        x = x.transpose(0, 2, 3, 1)
    if np.issubdtype(modality.np_dtype, np.floating):
        x = (x.astype(np.float32) * modality.std + modality.mean) / np.float32(modality.preprocess.scale or 1.0)
    if np.issubdtype(raw_dtype, np.integer):
        info = np.iinfo(raw_dtype)
        x = np.clip(np.rint(x), info.min, info.max)
    return x.astype(raw_dtype)


def _class_dtype(manifest: Manifest) -> np.dtype:
    top = max(manifest.num_classes - 1, manifest.ignore_index or 0)
    return np.dtype(np.uint8 if top < 256 else np.uint16)


def _run_rows(session: Session, builder: FeedBuilder, cell: Cell, rows: Array, batching: Batching, output: OutputSpec) -> tuple[Array, dict[str, Array]]:
    """Predictions and feeds for clean positions ``rows`` under ``cell``, batch by batch."""
    preds, feeds_out = [], []
    for start in range(0, len(rows), batching.size):
        part = rows[start:start + batching.size]
        feeds = builder.feeds(cell, part)
        run_feeds = pad_rows(feeds, len(part), batching.size) if batching.fixed else feeds
        preds.append(predictions(output, np.asarray(session.run(run_feeds)[output.name])[: len(part)], score_size(builder.clean)))
        feeds_out.append(feeds)
    return np.concatenate(preds), {k: np.concatenate([f[k] for f in feeds_out]) for k in feeds_out[0]}


def _cell_predictions(session: Session, builder: FeedBuilder, cell: Cell, positions: Array, batching: Batching,
                      output: OutputSpec, n: int) -> tuple[Array, dict[str, Array]]:
    """A batch-level preset sees its whole batch: re-run the original batches, keep our rows."""
    if not any(step.op == "preset" for step in cell.steps):
        return _run_rows(session, builder, cell, positions, batching, output)
    preds: dict[int, Array] = {}
    feeds: dict[int, dict[str, Array]] = {}
    for batch in batching.batches(n):
        if not np.isin(batch, positions).any():
            continue
        p, f = _run_rows(session, builder, cell, batch, batching, output)
        for j, row in enumerate(batch):
            preds[int(row)], feeds[int(row)] = p[j], {k: v[j] for k, v in f.items()}
    order = [int(r) for r in positions]
    return np.stack([preds[r] for r in order]), {k: np.stack([feeds[r][k] for r in order]) for k in feeds[order[0]]}


def capture(session: Session, builder: FeedBuilder, batching: Batching, output: OutputSpec, plan: Sequence[Cell],
            records: Mapping[str, CellRecord], manifest: Manifest, header: Mapping[str, Any], k: int) -> dict[str, Array] | None:
    """The sidecar arrays, or None when there is nothing to show (no ok clean cell)."""
    cells = gallery_cells(plan, records)
    if CLEAN_ID not in cells or k <= 0:
        return None
    clean = builder.clean
    hurt, scores = most_hurt(cells, records)
    chosen = choose_samples(len(clean), k, int(header["config"]["seed"]), hurt)
    positions = np.array([p for p, _ in chosen], dtype=np.int64)
    size = display_size(clean.labels.shape[1:3])
    arrays: dict[str, Array] = {"label": fit(clean.labels[positions], size).astype(_class_dtype(manifest))}
    for name in manifest.modality_names:
        arrays[f"input/{name}"] = fit(clean.raw[name][positions], size)
    by_id = {c.id: c for c in plan}
    for cid in cells:
        cell = by_id[cid]
        pred, feeds = _cell_predictions(session, builder, cell, positions, batching, output, len(clean))
        arrays[f"pred/{cid}"] = fit(pred, size).astype(_class_dtype(manifest))
        for name in sorted({m for s in cell.steps if s.op != "fill" for m in s.modalities}):
            seen = seen_input(manifest, name, feeds[manifest.modality(name).input], clean.raw[name].dtype)
            arrays[f"seen/{cid}/{name}"] = fit(seen, size)
    meta = {
        "format": SAMPLES_FORMAT,
        "version": 1,
        "config_hash": header["config_hash"],
        "model_hash": header["model_hash"],
        "dataset_fingerprint": header["dataset_fingerprint"],
        "modalities": [{"name": m.name, "kind": m.kind} for m in manifest.modalities],
        "samples": [{"id": clean.sample_ids[p], "index": int(clean.indices[p]), "role": role} for p, role in chosen],
        "cells": [{"id": cid, "miou": [round(float(scores[cid][p]), 2) for p in positions],
                   "missing": [m for s in by_id[cid].steps if s.op == "fill" for m in s.modalities]} for cid in cells],
        "stored_size": list(size),
        "frame_size": [int(d) for d in clean.labels.shape[1:3]],
    }
    arrays["meta"] = np.array(json.dumps(meta, sort_keys=True))
    return arrays


def write(out: Path, arrays: Mapping[str, Array] | None) -> Path | None:
    """Write ``samples.npz`` atomically (or remove a stale one when there is nothing to keep)."""
    path = Path(out) / SAMPLES_NAME
    if arrays is None:
        path.unlink(missing_ok=True)
        return None
    atomic_write(path, npz_bytes(arrays))
    return path
