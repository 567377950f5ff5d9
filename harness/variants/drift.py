"""Modality-bias drift of a variant against its reference, from two bias results documents.

Both runs hold per-sample records of the same probe cells on the same items, so every delta
is paired: one bootstrap resample draws the same items in both runs and in every probe
(``harness.metrics.stats.bootstrap_samples`` over the joined columns). Nothing here reads a
stored figure; ``compare.json`` and ``mmharness gate`` both call :func:`drift_block`.

The "vision path broken" verdict: a variant whose image use drops significantly while its
clean accuracy moves less. Image use is measured three ways (multi-modal gain, perceptual
score, swap sensitivity); a figure is evidence when the paired 95 % CI of its delta lies
below 0 *and* its drop (percent points; swap sensitivity x 100) exceeds |delta clean accuracy|.
Accuracy can hide a broken vision path because a language-prior answer is often right; the
image-use figures cannot.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from harness.errors import ResultsError
from harness.metrics.stats import bootstrap_samples

IMAGE_USE: dict[str, float] = {"multimodal_gain": 1.0, "perceptual_score": 1.0, "swap_sensitivity": 100.0}
DRIFT_FIGURES: tuple[str, ...] = (
    "accuracy", "accuracy_image_removed", "multimodal_gain", "perceptual_score", "perceptual_score_relative",
    "swap_sensitivity", "vision_reliance", "blind_gap", "shapley_image_share", "multimodal_leakage",
)
RULE = ("vision path broken: the paired 95% CI of the delta of multimodal_gain, perceptual_score or "
        "swap_sensitivity lies below 0 and that drop (pp; swap sensitivity x 100) exceeds |delta accuracy|")


def _ok(entry: Mapping[str, Any] | None) -> bool:
    return entry is not None and entry.get("status") == "ok"


def _same_items(reference: Mapping[str, Any], candidate: Mapping[str, Any]) -> None:
    """Paired deltas need the same items in the same order in every shared cell."""
    if reference["dataset"]["fingerprint"] != candidate["dataset"]["fingerprint"]:
        raise ResultsError("drift: the two bias runs used different items (dataset fingerprints differ); "
                           "run both with the same --data, --limit and --seed")
    for cid, entry in reference["cells"].items():
        other = candidate["cells"].get(cid)
        if _ok(entry) and _ok(other) and entry["state"]["sample_index"] != other["state"]["sample_index"]:
            raise ResultsError(f"drift: cell {cid} holds other samples in the two runs; merge every shard first")


def _interval(columns: Mapping[str, np.ndarray], statistic: Any, n_boot: int, seed: int) -> list[float] | None:
    if n_boot <= 0:
        return None
    ci = bootstrap_samples(columns, statistic, n_boot=n_boot, seed=seed)
    return None if not ci.is_defined else [float(ci.low), float(ci.high)]


def _row(reference: float | None, candidate: float | None, ci: list[float] | None) -> dict[str, Any]:
    delta = None if reference is None or candidate is None else candidate - reference
    return {"reference": reference, "candidate": candidate, "delta": delta, "delta_ci": ci,
            "significant": bool(ci is not None and (ci[0] > 0 or ci[1] < 0))}


def probe_deltas(reference: Mapping[str, Any], candidate: Mapping[str, Any], n_boot: int, seed: int) -> dict[str, Any]:
    """Per probe cell: accuracy of both runs (percent), delta with its paired CI, and the share
    of items where both runs gave the same answer (``choice_agreement``)."""
    out: dict[str, Any] = {}
    for cid, entry in reference["cells"].items():
        if entry.get("kind") != "records" or cid not in candidate["cells"]:
            continue
        other = candidate["cells"][cid]
        if not (_ok(entry) and _ok(other)):
            out[cid] = {**_row(None, None, None), "reason": (entry if not _ok(entry) else other).get("reason")}
            continue
        ref, cand = np.asarray(entry["state"]["correct"], float), np.asarray(other["state"]["correct"], float)
        ci = _interval({"r": ref, "c": cand}, lambda c: 100.0 * (c["c"].mean() - c["r"].mean()), n_boot, seed)
        row = _row(100.0 * ref.mean(), 100.0 * cand.mean(), ci)
        # choices mode: the option index; generate mode (an answer may match no option): the text
        key = "choice" if min(entry["state"]["choice"] + other["state"]["choice"]) >= 0 else "prediction"
        row["choice_agreement"] = float(np.mean(np.asarray(entry["state"][key]) == np.asarray(other["state"][key])))
        row["agreement_of"] = key
        out[cid] = row
    return out


def figure_deltas(reference: Mapping[str, Any], candidate: Mapping[str, Any], n_boot: int, seed: int) -> dict[str, Any]:
    """Every bias figure both runs allow, of both runs and candidate - reference with a paired CI."""
    from harness.mllm.bias import _chance, _columns, _statistics

    sides = []
    for doc in (reference, candidate):
        permutations = int(doc["config"]["plan"]["bias"]["permutations"])
        columns, n_perm = _columns(doc["cells"], permutations)
        sides.append((columns, _statistics(columns, n_perm, _chance(doc["cells"], doc["config"].get("chance_level")))))
    (ref_cols, ref_stats), (cand_cols, cand_stats) = sides
    joined = {**{f"r:{k}": v for k, v in ref_cols.items()}, **{f"c:{k}": v for k, v in cand_cols.items()}}

    def split(columns: Mapping[str, np.ndarray], side: str) -> dict[str, np.ndarray]:
        return {k[2:]: v for k, v in columns.items() if k.startswith(side)}

    out: dict[str, Any] = {}
    for name in DRIFT_FIGURES:
        if name not in ref_stats or name not in cand_stats:
            continue
        ref_fn, cand_fn = ref_stats[name], cand_stats[name]

        def delta(c: Mapping[str, np.ndarray], ref_fn: Any = ref_fn, cand_fn: Any = cand_fn) -> float:
            value = cand_fn(split(c, "c:")) - ref_fn(split(c, "r:"))
            return value if math.isfinite(value) else math.nan

        out[name] = _row(_finite(ref_fn(ref_cols)), _finite(cand_fn(cand_cols)), _interval(joined, delta, n_boot, seed))
    return out


def _finite(value: float) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def vision_verdict(figures: Mapping[str, Any]) -> dict[str, Any]:
    """The "vision path broken" verdict from the figure deltas (see the module docstring)."""
    accuracy = figures.get("accuracy", {}).get("delta")
    if accuracy is None:
        return {"vision_path_broken": None, "reason": "clean accuracy is unavailable in one run", "evidence": [], "rule": RULE}
    evidence, undecided = [], []
    for name, scale in IMAGE_USE.items():
        row = figures.get(name)
        if row is None or row["delta"] is None:
            continue
        if row["delta_ci"] is None:
            undecided.append(name)
            continue
        drop = -row["delta"] * scale
        if row["delta_ci"][1] < 0 and drop > abs(accuracy):
            evidence.append({"figure": name, "delta": row["delta"], "delta_ci": row["delta_ci"], "drop_pp": drop,
                             "accuracy_delta_pp": accuracy})
    if evidence:
        named = ", ".join(f"{e['figure']} {e['delta']:+.3g}" for e in evidence)
        return {"vision_path_broken": True, "reason": f"image use dropped ({named}) more than clean accuracy "
                                                      f"moved ({accuracy:+.3g} pp)", "evidence": evidence, "rule": RULE}
    if undecided and len(undecided) == len([n for n in IMAGE_USE if figures.get(n, {}).get("delta") is not None]):
        return {"vision_path_broken": None, "reason": "no bootstrap CIs (--bootstrap 0): significance cannot be "
                                                      "judged", "evidence": [], "rule": RULE}
    return {"vision_path_broken": False, "reason": "image use did not drop significantly more than clean accuracy moved",
            "evidence": [], "rule": RULE}


def drift_block(reference: Mapping[str, Any], candidate: Mapping[str, Any]) -> dict[str, Any]:
    """Per-probe and per-figure deltas with paired CIs and the verdict; CIs use the reference
    run's ``--bootstrap`` and ``--seed`` so the same pair always gives the same block."""
    for which, doc in (("reference", reference), ("candidate", candidate)):
        if doc.get("task") != "vqa":
            raise ResultsError(f"drift: the {which} is not a `mmharness bias` results file (task {doc.get('task')!r})")
    _same_items(reference, candidate)
    n_boot, seed = int(reference["config"]["bootstrap"]), int(reference["config"]["seed"])
    figures = figure_deltas(reference, candidate, n_boot, seed)
    return {
        "units": "accuracies and their deltas, MG, perceptual score, blind gap: percent points; swap sensitivity, "
                 "vision reliance, relative perceptual score, shares, choice agreement: fractions",
        "ci_method": f"paired percentile bootstrap over the same items in both runs, {n_boot} resamples, seed {seed}",
        "n_samples": reference["dataset"]["n_samples"],
        "probes": probe_deltas(reference, candidate, n_boot, seed),
        "figures": figures,
        "verdict": vision_verdict(figures),
    }


def drift_metrics(reference: Mapping[str, Any], candidate: Mapping[str, Any]) -> dict[str, Any]:
    """Gateable names (``harness.report.flat.Metric``): ``bias.drift.<figure>`` and
    ``bias.drift.cell:<cell id>`` = candidate - reference with the paired CI, and
    ``bias.drift.vision_path_broken`` = 1 or 0 (``None`` when undecidable)."""
    from harness.report.flat import Metric

    block = drift_block(reference, candidate)
    out: dict[str, Any] = {}
    for name, row in block["figures"].items():
        out[f"bias.drift.{name}"] = Metric(row["delta"], tuple(row["delta_ci"]) if row["delta_ci"] else None)
    for cid, row in block["probes"].items():
        out[f"bias.drift.cell:{cid}"] = Metric(row["delta"], tuple(row["delta_ci"]) if row["delta_ci"] else None,
                                               reason=row.get("reason"))
    broken = block["verdict"]["vision_path_broken"]
    out["bias.drift.vision_path_broken"] = Metric(None if broken is None else float(broken),
                                                  reason=block["verdict"]["reason"])
    return out
