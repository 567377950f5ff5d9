"""Derive everything a report shows from the per-cell states: per-cell figures, scenario
aggregates, per-class deltas against clean, bootstrap confidence intervals and the
``paper_rounding`` view. Called when a run ends and after a merge; reports only read its
output. All mIoU figures are percent (the metric core's unit).

Bootstrap: one set of image resamples (seeded by the run seed) is shared by every cell, so
the interval of an aggregate over cells (mIoU^Avg, Shapley) is the percentile interval of that
aggregate recomputed on each resample: paired across cells, as it must be.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from harness.metrics.segmentation import mean_iou, per_class_iou
from harness.metrics.stats import joint_bootstrap_replicates
from harness.report import aggregates as agg
from harness.report.confusion_state import matrix_of
from harness.report.states import state_kind
from harness.scenarios.cells import CLEAN_ID

CI_LEVEL = 0.95


def cell_figures(doc: Mapping[str, Any]) -> None:
    """Fill ``figures`` of every ok cell from its state (in place)."""
    context = {"classes": doc["dataset"]["classes"]}
    for entry in doc["cells"].values():
        if entry["status"] == "ok":
            entry["figures"] = state_kind(entry["kind"]).figures(entry["state"], context)


def _interval(samples: Any) -> list[float]:
    tail = (1.0 - CI_LEVEL) / 2 * 100
    low, high = np.percentile(np.asarray(samples, dtype=np.float64), [tail, 100 - tail])
    return [float(low), float(high)]


def _leaves(tree: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(tree, dict):
        out: dict[str, Any] = {}
        for key, value in tree.items():
            out.update(_leaves(value, f"{prefix}/{key}" if prefix else str(key)))
        return out
    return {prefix: tree}


def _rebuild(tree: Any, flat: Mapping[str, Any], prefix: str = "") -> Any:
    if isinstance(tree, dict):
        return {k: _rebuild(v, flat, f"{prefix}/{k}" if prefix else str(k)) for k, v in tree.items()}
    return flat.get(prefix)


def _family(build: Callable[[Mapping[str, float], bool], Any], point: Mapping[str, float],
            resamples: list[dict[str, float]] | None) -> dict[str, Any]:
    """Point values, CIs over resamples, and the paper-rounded view of one aggregate family."""
    try:
        values = build(point, False)
    except agg.Incomplete as missing:
        return {"available": False, "reason": f"cell {missing.args[0]!r} is missing or failed in these results"}
    out: dict[str, Any] = {"available": True, "values": values}
    if resamples:
        flat = [_leaves(build(r, False)) for r in resamples]
        keys = [k for k, v in _leaves(values).items() if isinstance(v, float)]
        out["ci"] = _rebuild(values, {k: _interval([f[k] for f in flat if f[k] is not None]) for k in keys})
    out["paper_rounding"] = build(point, True)
    return out


def aggregates(doc: Mapping[str, Any], per_image: Mapping[str, npt.NDArray[np.int64]] | None) -> dict[str, Any]:
    """The ``aggregates`` block of results.json."""
    if doc.get("task") == "vqa":  # MLLM probe cells (issue 8): bias figures from the stored records
        from harness.mllm.bias import bias_block

        return {"bias": bias_block(doc)}
    config, cells = doc["config"], doc["cells"]
    plan, modalities, ps = config["plan"], doc["dataset"]["modalities"], config["expected_ps"]
    point = {cid: e["figures"]["miou"] for cid, e in cells.items() if e["status"] == "ok" and e["kind"] == "confusion"}
    resamples = None
    if per_image and config["bootstrap"] > 0 and point and all(cid in per_image for cid in point):
        boot = joint_bootstrap_replicates({cid: per_image[cid] for cid in point}, mean_iou, n_boot=config["bootstrap"], seed=config["seed"])
        for cid, samples in boot.items():
            cells[cid]["figures"]["miou_ci"] = _interval(samples)
        resamples = [{cid: float(samples[i]) for cid, samples in boot.items()} for i in range(config["bootstrap"])]
    out: dict[str, Any] = {
        "miou_convention": "deliver_liao: one confusion matrix per cell over the dataset; absent classes count as 0",
        "units": "percent; paper_rounding rounds each cell to 2 decimals before aggregating, as the reference tables do",
        "ci": {"method": "percentile bootstrap over images, draws shared by all cells", "level": CI_LEVEL, "resamples": config["bootstrap"], "seed": config["seed"]} if resamples else None,
        "shapley": {"empty_value": 0.0, "note": "harness extension: v(T) = mIoU with only T present, v(empty set) = 0"},
    }
    families: dict[str, Callable[[Mapping[str, float], bool], Any]] = {}
    if "emm" in plan["scenarios"]:
        families["emm"] = lambda v, r: agg.emm_block(v, modalities, ps, r)
    if "rmm" in plan["scenarios"]:
        for rate in plan["rmm_rates"]:
            families[f"rmm/r={rate:g}"] = _rmm_family(modalities, rate, plan["rmm_seeds"], ps)
    if "nm" in plan["scenarios"]:
        families["nm"] = lambda v, r: agg.nm_block(v, plan["nm_levels"], plan["nm_suite"], plan["nm_severities"], r)
    for name, build in families.items():
        out[name] = _family(build, point, resamples)
    out["rmm_seed_std"] = _rmm_seed_std(point) if plan["rmm_seeds"] > 1 else None
    out["per_class_delta"] = _per_class_delta(cells)
    return out


def _rmm_family(modalities: list[str], rate: float, seeds: int, ps: list[float]) -> Callable[[Mapping[str, float], bool], Any]:
    return lambda values, rounding: agg.rmm_block(values, modalities, rate, seeds, ps, rounding)


def _rmm_seed_std(point: Mapping[str, float]) -> dict[str, float]:
    groups: dict[str, list[float]] = {}
    for cid, v in point.items():
        if cid.startswith("rmm/"):
            groups.setdefault(cid.rsplit("/seed=", 1)[0], []).append(v)
    return {key: float(np.std(vals, ddof=1)) for key, vals in groups.items() if len(vals) > 1}


def _per_class_delta(cells: Mapping[str, Any]) -> dict[str, list[float]] | None:
    """IoU_c(cell) - IoU_c(clean) in percent points, for every ok confusion cell."""
    clean = cells.get(CLEAN_ID)
    if clean is None or clean["status"] != "ok":
        return None
    base = per_class_iou(matrix_of(clean["state"]))
    return {
        cid: [float(v) for v in per_class_iou(matrix_of(e["state"])) - base]
        for cid, e in cells.items()
        if e["status"] == "ok" and e["kind"] == "confusion" and cid != CLEAN_ID
    }
