"""Combine the results of shards of one sweep exactly.

Shards by cells (the default) split the plan: a merge is the union of their cells (in plan
order), every state copied as computed. Shards by samples ran every cell on disjoint blocks of
images: a merge adds each cell's states (confusion matrices add) and concatenates the
per-image matrices in sample order. Either way all shards merged equal the unsharded run.
Results that do not belong together (another config, model, dataset or image set, mixed shard
kinds, overlapping images) are refused; a file given twice counts once. Figures and
aggregates are re-derived on the merge.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import ResultsError
from harness.report.io import LazyArrays
from harness.report.results import PerImage, load_results
from harness.report.states import state_kind

_SAME = (("config_hash", lambda d: d["config_hash"]), ("model.hash", lambda d: d["model"]["hash"]),
         ("dataset.fingerprint", lambda d: d["dataset"]["fingerprint"]), ("dataset.n_samples", lambda d: d["dataset"]["n_samples"]))


def merge_results(paths: Sequence[Path]) -> tuple[dict[str, Any], PerImage | None]:
    """The merged document (not yet finalized) and per-image arrays of ``paths``."""
    if len(paths) < 2:
        raise ResultsError(f"merge needs at least two results files, got {len(paths)}")
    loaded = [(Path(p), *load_results(Path(p))) for p in paths]
    base_path, base, _ = loaded[0]
    kinds = {_shard_kind(doc) for _, doc, _ in loaded}
    if len(kinds) > 1:
        raise ResultsError(f"{', '.join(str(p) for p, _, _ in loaded)}: shards by cells and by samples cannot be merged together; merge one kind")
    by_samples = kinds == {"samples"}
    for path, doc, _ in loaded[1:]:
        for field, get in _SAME:
            if by_samples and field == "dataset.n_samples":
                continue
            if get(doc) != get(base):
                raise ResultsError(
                    f"{path}: {field} differs from {base_path} ({get(doc)!r} vs {get(base)!r}); "
                    "merge only shards of the same sweep (same config, model and data)"
                )
    if by_samples:
        return _merge_samples(loaded)
    merged = {k: v for k, v in base.items() if k not in ("cells", "aggregates", "timing")}
    cells: dict[str, Any] = {}
    owner: dict[str, Path] = {}
    loaders: dict[str, Callable[[], Any]] = {}
    shards = []
    for path, doc, per_image in loaded:
        shards.extend(doc["shards"])
        for cid, entry in doc["cells"].items():
            if cid in cells:
                if _strip(cells[cid]) != _strip(entry):
                    raise ResultsError(f"{path}: cell {cid!r} is also in {owner[cid]} with a different state; shards overlap — merge each shard once")
                continue
            cells[cid], owner[cid] = entry, path
            if isinstance(per_image, LazyArrays) and cid in per_image:
                loaders[cid] = per_image.loader(cid)
        if isinstance(per_image, LazyArrays):
            if "sample_index" in loaders and not np.array_equal(loaders["sample_index"](), per_image["sample_index"]):
                raise ResultsError(f"{path}: per-image sidecar covers other images than {base_path}; merge only shards over the same samples")
            loaders.setdefault("sample_index", per_image.loader("sample_index"))
    order = base["plan"]["cells"]
    merged["cells"] = {cid: cells[cid] for cid in order if cid in cells}
    unplanned = sorted(set(cells) - set(order))
    if unplanned:
        raise ResultsError(f"{owner[unplanned[0]]}: cell {unplanned[0]!r} is not in the plan of {base_path}; the files come from different sweeps")
    merged["shards"] = [{"index": i, "count": c} for i, c in sorted({(s["index"], s["count"]) for s in shards})]
    merged["plan"] = {"cells": order, "complete": all(cid in cells for cid in order)}
    merged["timing"] = {"merged_from": [{"file": str(p), **d.get("timing", {})} for p, d, _ in loaded]}
    has_images = all(pi is not None for _, _, pi in loaded)
    return merged, (LazyArrays(loaders) if has_images else None)


def _strip(entry: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in entry.items() if k != "figures"}


def _shard_kind(doc: dict[str, Any]) -> str:
    return str(doc["shards"][0].get("by", "cells"))


def _merge_samples(loaded: list[tuple[Path, dict[str, Any], PerImage | None]]) -> tuple[dict[str, Any], PerImage | None]:
    """Shards by samples: per cell, states add and per-image matrices concatenate in sample order."""
    unique: dict[tuple[int, int], tuple[Path, dict[str, Any], PerImage | None]] = {}
    for entry in loaded:
        shard = entry[1]["shards"][0]
        unique.setdefault((shard["index"], shard["count"]), entry)  # the same shard given twice counts once
    parts = sorted(unique.values(), key=lambda e: e[1]["shards"][0]["index"])
    base_path, base, _ = parts[0]
    counts = sorted({count for _, count in unique})
    if len(counts) > 1:
        raise ResultsError(f"{base_path}: shards by samples of different splits (I/{counts[0]} and I/{counts[1]}); merge the shards of one --shard I/N split")
    if any(pi is None for _, _, pi in parts):
        raise ResultsError(f"{next(p for p, _, pi in parts if pi is None)}: shard by samples without its per-image sidecar; merge needs per_image.npz beside each results.json")
    indices = [np.asarray(pi["sample_index"]) for _, _, pi in parts]  # type: ignore[index]
    everything = np.concatenate(indices)
    if len(np.unique(everything)) != len(everything):
        raise ResultsError(f"{base_path} and the other shards cover some images twice; merge each shard by samples once")
    order = np.argsort(everything, kind="stable")
    cells: dict[str, Any] = {}
    loaders: dict[str, Callable[[], Any]] = {"sample_index": lambda: everything[order]}
    for cid in base["plan"]["cells"]:
        entries = [doc["cells"].get(cid) for _, doc, _ in parts]
        if any(e is None for e in entries):
            continue
        cells[cid] = _sum_cell(entries)
        if cells[cid]["status"] == "ok":
            loaders[cid] = functools.partial(_concat, [pi for _, _, pi in parts], cid, order)
    merged = {k: v for k, v in base.items() if k not in ("cells", "aggregates", "timing")}
    merged["cells"] = cells
    merged["dataset"] = {**base["dataset"], "n_samples": len(everything)}
    samples = dict(base["provenance"].get("samples", {}))
    if samples:
        samples.update(count=len(everything), last=parts[-1][1]["provenance"]["samples"]["last"])
        merged["provenance"] = {**base["provenance"], "samples": samples}
    merged["shards"] = [doc["shards"][0] for _, doc, _ in parts]
    merged["plan"] = {"cells": base["plan"]["cells"], "complete": len(cells) == len(base["plan"]["cells"]) and len(parts) == counts[0]}
    merged["timing"] = {"merged_from": [{"file": str(p), **d.get("timing", {})} for p, d, _ in loaded]}
    return merged, LazyArrays(loaders)


def _sum_cell(entries: list[dict[str, Any]]) -> dict[str, Any]:
    """One cell over all shards' images: states merged exactly (matrices add); failed if any shard failed."""
    merged = {**entries[0], "n_samples": sum(e["n_samples"] for e in entries), "figures": None}
    failed = next((e for e in entries if e["status"] != "ok"), None)
    if failed is not None:
        return {**merged, "status": failed["status"], "reason": failed["reason"], "state": None}
    kind = state_kind(merged.get("kind", "confusion"))
    state = entries[0]["state"]
    for entry in entries[1:]:
        state = kind.merge(state, entry["state"])
    return {**merged, "state": state}


def _concat(per_images: list[Any], cid: str, order: np.ndarray) -> np.ndarray:
    return np.concatenate([pi[cid] for pi in per_images])[order]
