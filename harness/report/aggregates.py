"""Scenario aggregates of a sweep, built from cell headline values with the metric core
(``harness.metrics.robustness``): EMM/RMM mIoU^Avg and mIoU^E(p), Shapley per modality, NM
per level and relative robustness per corruption. This module only maps cell ids to the
metric core's tables; a missing or failed cell makes the family unavailable (``Incomplete``),
never an aggregate over fewer cells.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from harness.metrics import robustness
from harness.scenarios.cells import CLEAN_ID, missing_label

Values = Mapping[str, float]  # cell id -> mIoU (percent)


class Incomplete(Exception):
    """An aggregate needs a cell that is not (successfully) in the results."""


def _get(values: Values, cell_id: str) -> float:
    if cell_id not in values:
        raise Incomplete(cell_id)
    return values[cell_id]


def _table(values: Values, modalities: Sequence[str], value_of: Any) -> dict[frozenset[str], float]:
    """frozenset(missing) -> mIoU over all 2^N - 1 sets; clean from the shared clean cell,
    ``value_of(ordered missing tuple)`` for the others."""
    out = {}
    for missing in robustness.missing_sets(modalities):
        ordered = tuple(m for m in modalities if m in missing)
        out[missing] = _get(values, CLEAN_ID) if not missing else value_of(ordered)
    return out


def _ps(result: Mapping[str, Any]) -> dict[str, float]:
    return {f"{p:g}": v for p, v in result["E"].items()}


def emm_block(values: Values, modalities: Sequence[str], ps: Sequence[float], paper_rounding: bool = False) -> dict[str, Any]:
    table = _table(values, modalities, lambda s: _get(values, f"emm/missing={missing_label(s)}"))
    result = robustness.aggregate(table, modalities, ps, paper_rounding=paper_rounding, where="EMM")
    shapley = robustness.shapley(table, modalities, where="EMM")
    if paper_rounding:
        shapley = {m: round(v, 2) for m, v in shapley.items()}
    return {"avg": result["avg"], "expected": _ps(result), "shapley": shapley}


def rmm_block(values: Values, modalities: Sequence[str], rate: float, seeds: int, ps: Sequence[float], paper_rounding: bool = False) -> dict[str, Any]:
    """Per drop rate: each set's mIoU is the mean over seeds (the clean cell stands for the empty set)."""

    def seed_mean(s: tuple[str, ...]) -> float:
        runs = [_get(values, f"rmm/r={rate:g}/missing={missing_label(s)}/seed={k}") for k in range(seeds)]
        return sum(runs) / len(runs)

    table = _table(values, modalities, seed_mean)
    result = robustness.aggregate(table, modalities, ps, paper_rounding=paper_rounding, where=f"RMM r={rate:g}")
    return {"avg": result["avg"], "expected": _ps(result)}


def nm_block(values: Values, levels: Sequence[str], suite: Mapping[str, Sequence[str]], severities: Sequence[int], paper_rounding: bool = False) -> dict[str, Any]:
    """Liao levels (mIoU, ratio to clean) and relative robustness per corruption; a level or
    corruption with a failed cell is ``None`` there, and then the overall mean is ``None`` too
    (a mean over fewer corruptions would change its meaning)."""
    clean = _get(values, CLEAN_ID)
    fix = (lambda v: round(v, 2)) if paper_rounding else (lambda v: v)
    out: dict[str, Any] = {"liao": {}, "suites": {}}
    for level in levels:
        v = values.get(f"nm/preset=liao/level={level}")
        out["liao"][level] = {"miou": None if v is None else fix(v), "relative": v / clean if v is not None and clean > 0 else None}
    rrs: list[float | None] = []
    for modality, names in suite.items():
        per: dict[str, Any] = {}
        for name in names:
            curve = {s: values.get(f"nm/{modality}/{name}/s{s}") for s in severities}
            complete = all(v is not None for v in curve.values())
            rr = robustness.relative_robustness(clean, [v for v in curve.values() if v is not None], where=f"NM {modality}/{name}") if complete and clean > 0 else None
            per[name] = {"severity_miou": {str(s): None if v is None else fix(v) for s, v in curve.items()}, "relative_robustness": rr}
            rrs.append(rr)
        out["suites"][modality] = per
    out["mean_relative_robustness"] = sum(rrs) / len(rrs) if rrs and all(r is not None for r in rrs) else None  # type: ignore[arg-type, misc]
    return out
