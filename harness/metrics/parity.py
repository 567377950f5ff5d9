"""Output parity between a candidate (FP16/INT8 build, another backend) and a reference run.

The semantics follow NVIDIA Polygraphy's ``CompareFunc.simple`` so numbers mean what a
TensorRT user expects: ``absdiff = |candidate - reference|``, ``reldiff = absdiff / |reference|``
(relative to the *reference*, the second argument); with ``check="elemwise"`` an element
fails only when it exceeds **both** tolerances (``absdiff > atol and reldiff > rtol``); with
a statistic (``max``/``mean``/``median``/``quantile``) the output fails when that statistic of
``absdiff`` exceeds ``atol`` and the same statistic of ``reldiff`` exceeds ``rtol`` (or is NaN).
Beyond Polygraphy: cosine similarity, and for segmentation the class-map agreement (fraction
of pixels whose arg-max class is the same in both outputs).

Two entry points: :func:`parity` is the exact answer for one pair of arrays;
:class:`ParityState` accumulates batches of a sweep cell into a mergeable value (sums, counts,
maxima are exact; the median and quantiles come from a fixed log-spaced histogram, exact to
one bin, i.e. within :data:`HIST_REL_WIDTH` relative). Pure NumPy.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from harness.metrics.argmax import class_argmax

CheckStat = Literal["elemwise", "max", "mean", "median", "quantile"]
CHECK_STATS: tuple[str, ...] = ("elemwise", "max", "mean", "median", "quantile")

DEFAULT_ATOL = 1e-5  # Polygraphy's defaults
DEFAULT_RTOL = 1e-5
DEFAULT_QUANTILE = 0.99

# Histogram of errors for mergeable median/quantiles: bin 0 holds exact zeros, bins 1..N cover
# [HIST_MIN, HIST_MAX) log-spaced, the last bin holds everything >= HIST_MAX (and +inf).
HIST_MIN = 1e-12
HIST_MAX = 1e8
HIST_BINS = 4000
HIST_REL_WIDTH = (HIST_MAX / HIST_MIN) ** (1.0 / HIST_BINS) - 1.0  # ~1.2% per bin


@dataclass(frozen=True)
class Tolerance:
    """What "close enough" means for one output (Polygraphy's ``rtol``/``atol``/``check_error_stat``)."""

    atol: float = DEFAULT_ATOL
    rtol: float = DEFAULT_RTOL
    check: CheckStat = "elemwise"
    quantile: float = DEFAULT_QUANTILE

    def __post_init__(self) -> None:
        if self.check not in CHECK_STATS:
            raise ValueError(f"parity check {self.check!r} is not one of {', '.join(CHECK_STATS)}")
        if not (self.atol >= 0 and self.rtol >= 0):
            raise ValueError(f"parity tolerances must be >= 0, got atol={self.atol}, rtol={self.rtol}")
        if not 0.0 < self.quantile < 1.0:
            raise ValueError(f"parity quantile must lie in (0, 1), got {self.quantile}")


def _as_pair(
    candidate: npt.ArrayLike, reference: npt.ArrayLike, name: str
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    a = np.asarray(candidate)
    b = np.asarray(reference)
    if a.shape != b.shape:
        raise ValueError(f"parity of {name!r}: candidate shape {a.shape} differs from reference shape {b.shape}")
    return a.astype(np.float64, copy=False), b.astype(np.float64, copy=False)


def _errors(a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """absdiff and reldiff (relative to |reference|; x/0 is inf, 0/0 is nan, as in Polygraphy)."""
    absdiff = np.abs(a - b)
    with np.errstate(divide="ignore", invalid="ignore"):
        reldiff = absdiff / np.abs(b)
    return absdiff, reldiff


def _nan_stat(values: npt.NDArray[np.float64], stat: str, q: float) -> float:
    """A statistic over the non-NaN values (NaN when there are none)."""
    kept = values[~np.isnan(values)]
    if kept.size == 0:
        return math.nan
    if stat == "max":
        return float(np.max(kept))
    if stat == "mean":
        return float(np.mean(kept))
    if stat == "median":
        return float(np.median(kept))
    return float(np.quantile(kept, q))


def _stat_fails(abs_stat: float, rel_stat: float, tol: Tolerance) -> bool:
    return bool(abs_stat > tol.atol and (math.isnan(rel_stat) or rel_stat > tol.rtol))


def cosine_similarity(candidate: npt.ArrayLike, reference: npt.ArrayLike) -> float:
    """cos(angle) between the flattened arrays, in float64; 1.0 when both are all zero, 0.0 when one is."""
    a, b = _as_pair(candidate, reference, "cosine")
    return _cosine(float(np.dot(a.ravel(), b.ravel())), float(np.dot(a.ravel(), a.ravel())), float(np.dot(b.ravel(), b.ravel())))


def _cosine(dot: float, aa: float, bb: float) -> float:
    if aa == 0.0 and bb == 0.0:
        return 1.0
    if aa == 0.0 or bb == 0.0:
        return 0.0
    return dot / math.sqrt(aa * bb)


def parity(
    candidate: npt.ArrayLike,
    reference: npt.ArrayLike,
    tolerance: Tolerance = Tolerance(),
    *,
    class_axis: int | None = None,
    name: str = "output",
) -> dict[str, Any]:
    """Exact parity figures of one output pair (JSON-safe dict).

    ``candidate`` and ``reference`` have the same shape (any dtype; compared in float64).
    ``class_axis`` (e.g. 1 for N x C x H x W logits) adds ``class_agreement``: the fraction of
    positions whose arg-max over that axis is the same. Keys: ``passed``, ``check``, ``atol``,
    ``rtol``, ``numel``, ``mismatches`` (elements failing both tolerances), ``abs``/``rel``
    (``max``, ``mean``, ``median``, ``quantile``), ``quantile`` (the q used), ``cosine``,
    ``nonfinite`` (elements where either side is NaN/Inf) and optionally ``class_agreement``.
    """
    a, b = _as_pair(candidate, reference, name)
    absdiff, reldiff = _errors(a, b)
    q = tolerance.quantile
    abs_stats = {s: _nan_stat(absdiff.ravel(), s, q) for s in ("max", "mean", "median", "quantile")}
    rel_stats = {s: _nan_stat(reldiff.ravel(), s, q) for s in ("max", "mean", "median", "quantile")}
    with np.errstate(invalid="ignore"):
        mismatched = (absdiff > tolerance.atol) & (reldiff > tolerance.rtol)
    nonfinite = int(np.count_nonzero(~(np.isfinite(a) & np.isfinite(b))))
    if tolerance.check == "elemwise":
        passed = not bool(np.any(mismatched)) and nonfinite == 0
    else:
        passed = not _stat_fails(abs_stats[tolerance.check], rel_stats[tolerance.check], tolerance) and nonfinite == 0
    out: dict[str, Any] = {
        "passed": passed,
        "check": tolerance.check,
        "atol": tolerance.atol,
        "rtol": tolerance.rtol,
        "quantile": q,
        "numel": int(a.size),
        "mismatches": int(np.count_nonzero(mismatched)),
        "nonfinite": nonfinite,
        "abs": abs_stats,
        "rel": rel_stats,
        "cosine": cosine_similarity(a, b),
    }
    if class_axis is not None:
        agree, total = _class_agreement_counts(a, b, class_axis)
        out["class_agreement"] = agree / total if total else math.nan
    return out


def _class_agreement_counts(a: npt.NDArray[Any], b: npt.NDArray[Any], class_axis: int) -> tuple[int, int]:
    """(#positions with equal arg-max over ``class_axis``, #positions)."""
    pa = class_argmax(a, axis=class_axis)
    pb = class_argmax(b, axis=class_axis)
    return int(np.count_nonzero(pa == pb)), int(pa.size)


def class_map_agreement(candidate: npt.ArrayLike, reference: npt.ArrayLike, ignore: npt.ArrayLike | None = None) -> float:
    """Fraction of equal class ids between two integer class maps (``--argmax`` outputs);
    positions where the boolean ``ignore`` mask is True are left out."""
    a = np.asarray(candidate)
    b = np.asarray(reference)
    if a.shape != b.shape:
        raise ValueError(f"class maps differ in shape: candidate {a.shape}, reference {b.shape}")
    keep = np.ones(a.shape, dtype=bool) if ignore is None else ~np.asarray(ignore, dtype=bool)
    total = int(np.count_nonzero(keep))
    return float(np.count_nonzero((a == b) & keep)) / total if total else math.nan


def _histogram(values: npt.NDArray[np.float64]) -> npt.NDArray[np.int64]:
    """Counts of finite-or-inf non-NaN ``values`` (all >= 0) in the fixed log bins."""
    v = values[~np.isnan(values)]
    hist = np.zeros(HIST_BINS + 2, dtype=np.int64)
    zero = v == 0.0
    hist[0] = int(np.count_nonzero(zero))
    pos = v[~zero]
    with np.errstate(divide="ignore", invalid="ignore"):
        position = np.floor(np.log(pos / HIST_MIN) / math.log(HIST_MAX / HIST_MIN) * HIST_BINS) + 1
    # below HIST_MIN -> first bin, at/above HIST_MAX (and inf) -> last; clip before the int cast
    idx = np.clip(position, 1, HIST_BINS + 1).astype(np.int64)
    hist += np.bincount(idx, minlength=HIST_BINS + 2).astype(np.int64)
    return hist


def _hist_quantile(hist: npt.NDArray[np.int64], q: float) -> float:
    """The geometric centre of the bin holding the q-quantile (0.0 for the zero bin)."""
    total = int(hist.sum())
    if total == 0:
        return math.nan
    rank = q * (total - 1)
    k = int(np.searchsorted(np.cumsum(hist), math.floor(rank) + 1))
    if k == 0:
        return 0.0
    if k > HIST_BINS:
        return HIST_MAX
    lo = HIST_MIN * (HIST_MAX / HIST_MIN) ** ((k - 1) / HIST_BINS)
    return lo * math.sqrt(1.0 + HIST_REL_WIDTH)


@dataclass
class ParityState:
    """Mergeable parity of one output over many batches (one sweep cell).

    Sums, counts and maxima are exact; ``median``/``quantile`` come from log histograms
    (within one bin, :data:`HIST_REL_WIDTH`). Merge with ``+``; serialise with ``to_dict``.
    """

    tolerance: Tolerance = field(default_factory=Tolerance)
    class_axis: int | None = None
    numel: int = 0
    mismatches: int = 0
    nonfinite: int = 0
    abs_max: float = 0.0
    rel_max: float = 0.0
    abs_sum: float = 0.0
    rel_sum: float = 0.0
    rel_count: int = 0  # non-NaN relative errors (0/0 is NaN and is left out, as Polygraphy does)
    dot: float = 0.0
    aa: float = 0.0
    bb: float = 0.0
    agree: int = 0
    positions: int = 0
    abs_hist: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(HIST_BINS + 2, dtype=np.int64))
    rel_hist: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(HIST_BINS + 2, dtype=np.int64))

    def update(self, candidate: npt.ArrayLike, reference: npt.ArrayLike) -> None:
        """Add one batch (same shape on both sides)."""
        a, b = _as_pair(candidate, reference, "batch")
        absdiff, reldiff = _errors(a, b)
        finite = np.isfinite(a) & np.isfinite(b)
        self.nonfinite += int(a.size - np.count_nonzero(finite))
        with np.errstate(invalid="ignore"):
            self.mismatches += int(np.count_nonzero((absdiff > self.tolerance.atol) & (reldiff > self.tolerance.rtol)))
        self.numel += int(a.size)
        ad = absdiff[~np.isnan(absdiff)]
        rd = reldiff[~np.isnan(reldiff)]
        if ad.size:
            self.abs_max = max(self.abs_max, float(ad.max()))
            self.abs_sum += float(ad.sum())
        if rd.size:
            self.rel_max = max(self.rel_max, float(rd.max()))
            self.rel_sum += float(rd.sum())
        self.rel_count += int(rd.size)
        af, bf = np.where(finite, a, 0.0).ravel(), np.where(finite, b, 0.0).ravel()
        self.dot += float(np.dot(af, bf))
        self.aa += float(np.dot(af, af))
        self.bb += float(np.dot(bf, bf))
        self.abs_hist += _histogram(absdiff.ravel())
        self.rel_hist += _histogram(reldiff.ravel())
        if self.class_axis is not None:
            agree, total = _class_agreement_counts(a, b, self.class_axis)
            self.agree += agree
            self.positions += total

    def __add__(self, other: ParityState) -> ParityState:
        if (self.tolerance, self.class_axis) != (other.tolerance, other.class_axis):
            raise ValueError("cannot merge parity states with different tolerances or class axes")
        return ParityState(
            tolerance=self.tolerance,
            class_axis=self.class_axis,
            numel=self.numel + other.numel,
            mismatches=self.mismatches + other.mismatches,
            nonfinite=self.nonfinite + other.nonfinite,
            abs_max=max(self.abs_max, other.abs_max),
            rel_max=max(self.rel_max, other.rel_max),
            abs_sum=self.abs_sum + other.abs_sum,
            rel_sum=self.rel_sum + other.rel_sum,
            rel_count=self.rel_count + other.rel_count,
            dot=self.dot + other.dot,
            aa=self.aa + other.aa,
            bb=self.bb + other.bb,
            agree=self.agree + other.agree,
            positions=self.positions + other.positions,
            abs_hist=self.abs_hist + other.abs_hist,
            rel_hist=self.rel_hist + other.rel_hist,
        )

    def summary(self) -> dict[str, Any]:
        """The same keys as :func:`parity` (median/quantile from the histograms)."""
        tol = self.tolerance
        n_abs = int(self.abs_hist.sum())
        abs_stats = {
            "max": self.abs_max if n_abs else math.nan,
            "mean": self.abs_sum / n_abs if n_abs else math.nan,
            "median": _hist_quantile(self.abs_hist, 0.5),
            "quantile": _hist_quantile(self.abs_hist, tol.quantile),
        }
        rel_stats = {
            "max": self.rel_max if self.rel_count else math.nan,
            "mean": self.rel_sum / self.rel_count if self.rel_count else math.nan,
            "median": _hist_quantile(self.rel_hist, 0.5),
            "quantile": _hist_quantile(self.rel_hist, tol.quantile),
        }
        if tol.check == "elemwise":
            passed = self.mismatches == 0
        else:
            passed = not _stat_fails(abs_stats[tol.check], rel_stats[tol.check], tol)
        out: dict[str, Any] = {
            "passed": passed and self.nonfinite == 0,
            "check": tol.check,
            "atol": tol.atol,
            "rtol": tol.rtol,
            "quantile": tol.quantile,
            "numel": self.numel,
            "mismatches": self.mismatches,
            "nonfinite": self.nonfinite,
            "abs": abs_stats,
            "rel": rel_stats,
            "cosine": _cosine(self.dot, self.aa, self.bb),
        }
        if self.class_axis is not None:
            out["class_agreement"] = self.agree / self.positions if self.positions else math.nan
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe state (histograms stored sparsely as [bin, count] pairs); exact round trip."""
        def sparse(h: npt.NDArray[np.int64]) -> list[list[int]]:
            nz = np.flatnonzero(h)
            return [[int(i), int(h[i])] for i in nz]

        return {
            "tolerance": {"atol": self.tolerance.atol, "rtol": self.tolerance.rtol, "check": self.tolerance.check,
                          "quantile": self.tolerance.quantile},
            "class_axis": self.class_axis,
            "numel": self.numel, "mismatches": self.mismatches, "nonfinite": self.nonfinite,
            "abs_max": self.abs_max, "rel_max": self.rel_max, "abs_sum": self.abs_sum, "rel_sum": self.rel_sum,
            "rel_count": self.rel_count, "dot": self.dot, "aa": self.aa, "bb": self.bb,
            "agree": self.agree, "positions": self.positions,
            "abs_hist": sparse(self.abs_hist), "rel_hist": sparse(self.rel_hist),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ParityState:
        def dense(pairs: list[list[int]]) -> npt.NDArray[np.int64]:
            h = np.zeros(HIST_BINS + 2, dtype=np.int64)
            for i, c in pairs:
                h[int(i)] = int(c)
            return h

        t = data["tolerance"]
        return cls(
            tolerance=Tolerance(atol=float(t["atol"]), rtol=float(t["rtol"]), check=t["check"], quantile=float(t["quantile"])),
            class_axis=data["class_axis"],
            numel=int(data["numel"]), mismatches=int(data["mismatches"]), nonfinite=int(data["nonfinite"]),
            abs_max=float(data["abs_max"]), rel_max=float(data["rel_max"]),
            abs_sum=float(data["abs_sum"]), rel_sum=float(data["rel_sum"]), rel_count=int(data["rel_count"]),
            dot=float(data["dot"]), aa=float(data["aa"]), bb=float(data["bb"]),
            agree=int(data["agree"]), positions=int(data["positions"]),
            abs_hist=dense(data["abs_hist"]), rel_hist=dense(data["rel_hist"]),
        )
