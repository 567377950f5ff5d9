"""Combine the results of shards of one sweep exactly. Shards split the plan by cells, so a
merge is the union of their cells (in plan order) and the concatenation of nothing: every
state stays as computed. Results that do not belong together (another config, model, dataset
or image set) are refused; a cell present twice must be byte-identical (the same shard given
twice), otherwise it is an error. Figures and aggregates are re-derived on the union.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import ResultsError
from harness.report.io import LazyArrays
from harness.report.results import PerImage, load_results

_SAME = (("config_hash", lambda d: d["config_hash"]), ("model.hash", lambda d: d["model"]["hash"]),
         ("dataset.fingerprint", lambda d: d["dataset"]["fingerprint"]), ("dataset.n_samples", lambda d: d["dataset"]["n_samples"]))


def merge_results(paths: Sequence[Path]) -> tuple[dict[str, Any], PerImage | None]:
    """The merged document (not yet finalized) and per-image arrays of ``paths``."""
    if len(paths) < 2:
        raise ResultsError(f"merge needs at least two results files, got {len(paths)}")
    loaded = [(Path(p), *load_results(Path(p))) for p in paths]
    base_path, base, _ = loaded[0]
    for path, doc, _ in loaded[1:]:
        for field, get in _SAME:
            if get(doc) != get(base):
                raise ResultsError(
                    f"{path}: {field} differs from {base_path} ({get(doc)!r} vs {get(base)!r}); "
                    "merge only shards of the same sweep (same config, model and data)"
                )
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
