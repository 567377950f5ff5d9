"""Aggregates over missing-modality tables (docs/metrics.md): mIoU^Avg, mIoU^E(p), Shapley, NM robustness.

A *table* maps ``frozenset(missing modality names) -> mIoU`` (percent, as the segmentation
figures are). For N modalities in manifest order it must hold exactly the 2^N − 1 missing sets
with fewer than N members: the clean set (``frozenset()``) included, the all-missing set
excluded. Every function here refuses a table with a missing, foreign or all-missing entry and
names the set, because an aggregate over a partial table silently changes meaning.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from itertools import combinations

from harness.errors import ConfigError, ResultsError
from harness.metrics.segmentation import paper_round

__all__ = [
    "DEFAULT_PS",
    "aggregate",
    "mean_relative_robustness",
    "missing_sets",
    "relative_robustness",
    "set_label",
    "shapley",
]

DEFAULT_PS: tuple[float, ...] = (0.2, 0.1, 0.05)


def _modalities(modalities: Sequence[str]) -> tuple[str, ...]:
    mods = tuple(modalities)
    if not mods or any(not isinstance(m, str) or not m for m in mods) or len(set(mods)) != len(mods):
        raise ConfigError(f"modalities must be a non-empty sequence of distinct names, got {list(mods)!r}")
    return mods


def missing_sets(modalities: Sequence[str]) -> list[frozenset[str]]:
    """The 2^N − 1 missing sets, clean first, then by size and manifest order; all-missing excluded."""
    mods = _modalities(modalities)
    return [frozenset(c) for k in range(len(mods)) for c in combinations(mods, k)]


def set_label(missing: Iterable[str], modalities: Sequence[str]) -> str:
    """``"clean"`` or the names joined by ``+`` in manifest order, e.g. ``"depth+event"``."""
    s = set(missing)
    names = [m for m in modalities if m in s] + sorted(s - set(modalities))
    return "+".join(names) if names else "clean"


def _finite(value: object, what: str, where: str) -> float:
    try:
        if isinstance(value, (bool, str, bytes)):
            raise TypeError
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ResultsError(f"{where}: {what}: expected a number, got {value!r}") from None
    if not math.isfinite(v):
        raise ResultsError(f"{where}: {what}: expected a finite value, got {v}; fix or re-run that cell")
    return v


def _check_table(table: Mapping[frozenset[str], float], mods: tuple[str, ...], where: str) -> dict[frozenset[str], float]:
    """The table as a plain dict after checking it holds exactly the 2^N − 1 allowed sets."""
    if not isinstance(table, Mapping):
        raise ResultsError(f"{where}: expected a mapping frozenset(missing) -> mIoU, got {type(table).__name__}")
    known, out = set(mods), {}
    for key, value in table.items():
        if not isinstance(key, (frozenset, set)):
            raise ResultsError(f"{where}: key {key!r} is not a set of missing modality names (use frozenset({{...}}))")
        label = set_label(key, mods)
        if not key <= known:
            raise ResultsError(
                f"{where}: missing set {{{label}}} names unknown modalities {sorted(key - known)} (modalities: {', '.join(mods)})"
            )
        if len(key) == len(mods):
            raise ResultsError(
                f"{where}: holds the all-missing set {{{label}}}, which the EMM/RMM tables exclude (docs/metrics.md); drop that cell from the table"
            )
        out[frozenset(key)] = _finite(value, f"missing set {{{label}}}", where)
    absent = [s for s in missing_sets(mods) if s not in out]
    if absent:
        names = ", ".join("{" + set_label(s, mods) + "}" for s in absent[:4])
        more = f" and {len(absent) - 4} more" if len(absent) > 4 else ""
        raise ResultsError(
            f"{where}: no mIoU for missing set {names}{more}; all 2^{len(mods)} - 1 = {2 ** len(mods) - 1} sets "
            f"over ({', '.join(mods)}) are needed — run those cells"
        )
    return out


def _check_p(p: object) -> float:
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= float(p) < 1.0:
        raise ConfigError(f"failure probability p must be a number in [0, 1), got {p!r}")
    return float(p)


def aggregate(
    table: Mapping[frozenset[str], float],
    modalities: Sequence[str],
    ps: Sequence[float] = DEFAULT_PS,
    *,
    paper_rounding: bool = False,
    where: str = "robustness table",
) -> dict[str, object]:
    """``{"avg": mIoU^Avg, "E": {p: mIoU^E(p)}}`` over a missing-set table (percent in, percent out).

    mIoU^Avg = (1/|C|) Σ_S mIoU(S), the clean set included.
    mIoU^E(p) = Σ_S w_S mIoU(S) / Σ_S w_S with w_S = p^|S| (1 − p)^(N − |S|): every modality
    fails independently with probability p, conditioned on one surviving (Σ w_S = 1 − p^N).
    ``paper_rounding`` rounds each cell to 2 decimals first and the results after, as the
    reference tables do. Works for any N >= 1 (N = 1: both equal the clean mIoU).
    """
    mods = _modalities(modalities)
    cells = _check_table(table, mods, where)
    if paper_rounding:
        cells = {k: paper_round(v) for k, v in cells.items()}
    order = missing_sets(mods)
    avg = math.fsum(cells[s] for s in order) / len(order)
    n = len(mods)
    expected: dict[float, float] = {}
    for p in map(_check_p, ps):
        weights = [p ** len(s) * (1.0 - p) ** (n - len(s)) for s in order]
        expected[p] = math.fsum(w * cells[s] for w, s in zip(weights, order)) / math.fsum(weights)
    if paper_rounding:
        avg, expected = paper_round(avg), {p: paper_round(v) for p, v in expected.items()}
    return {"avg": avg, "E": expected}


def shapley(
    table: Mapping[frozenset[str], float],
    modalities: Sequence[str],
    empty_value: float = 0.0,
    *,
    where: str = "robustness table",
) -> dict[str, float]:
    """Shapley value of each modality over the EMM table (harness extension, docs/metrics.md).

    φ_m = Σ_{T ⊆ M∖{m}} |T|! (N − |T| − 1)! / N! · [v(T ∪ {m}) − v(T)], where v(T) is the mIoU
    with only T present (= the table entry for missing set M ∖ T) and v(∅) = ``empty_value``
    (0 by default: no input, no correct pixel — state it when reporting). Σ_m φ_m = v(M) − v(∅).
    """
    mods = _modalities(modalities)
    cells = _check_table(table, mods, where)
    empty = _finite(empty_value, "empty_value", where)
    everything, n = frozenset(mods), len(mods)

    def v(present: frozenset[str]) -> float:
        return cells[everything - present] if present else empty

    out: dict[str, float] = {}
    for m in mods:
        others = [o for o in mods if o != m]
        terms = []
        for k in range(n):
            weight = math.factorial(k) * math.factorial(n - k - 1) / math.factorial(n)
            for t in combinations(others, k):
                present = frozenset(t)
                terms.append(weight * (v(present | {m}) - v(present)))
        out[m] = math.fsum(terms)
    return out


def relative_robustness(clean: float, corrupted: Mapping[int, float] | Sequence[float], *, where: str = "NM") -> float:
    """mIoU(corrupted) / mIoU(clean) averaged over severities: a fraction (1.0 = unaffected).

    ``corrupted`` maps severity -> mIoU or lists the mIoU per severity; both in percent.
    """
    c = _finite(clean, "clean mIoU", where)
    if c <= 0.0:
        raise ResultsError(f"{where}: clean mIoU is {c}; relative robustness needs a positive clean mIoU")
    values = list(corrupted.values()) if isinstance(corrupted, Mapping) else list(corrupted)
    if not values:
        raise ResultsError(f"{where}: no corrupted mIoU given (expected one per severity)")
    return math.fsum(_finite(v, "corrupted mIoU", where) / c for v in values) / len(values)


def mean_relative_robustness(
    clean: float, table: Mapping[str, Mapping[int, float] | Sequence[float]], *, where: str = "NM"
) -> dict[str, object]:
    """``{"per_corruption": {name: RR}, "mean": mean RR}`` — an mRR-style figure over corruptions."""
    if not table:
        raise ResultsError(f"{where}: no corruptions in the table")
    per = {name: relative_robustness(clean, sev, where=f"{where} {name}") for name, sev in table.items()}
    return {"per_corruption": per, "mean": math.fsum(per.values()) / len(per)}
