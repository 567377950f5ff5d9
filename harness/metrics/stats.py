"""Seeded percentile-bootstrap confidence intervals over images (segmentation) or samples (VQA).

Segmentation figures are ratios of dataset-wide sums, so a resample is the *sum* of the
per-image confusion matrices drawn with replacement, never a mean of per-image mIoUs. It is
computed for a whole block of resamples at once as ``counts @ matrices`` (counts: how often
each image was drawn). Paired variants apply the same draws to two cells evaluated on the
same images, which is what a gate needs to call a drop "larger than its CI".

A replicate that is NaN (e.g. a figure undefined on some resample) makes the interval NaN:
the interval is then not trustworthy, and saying so beats silently dropping resamples.

Determinism: the draws depend only on (seed, number of items, n_boot); they are taken in
fixed blocks of resamples from one ``numpy.random.Generator``, and resampled sums are exact
integers, so results are bit-identical across runs for the same inputs and NumPy version.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from harness.metrics.segmentation import mean_iou

__all__ = [
    "ConfidenceInterval",
    "bootstrap_samples",
    "bootstrap_segmentation",
    "joint_bootstrap_replicates",
    "paired_bootstrap_segmentation",
]

_BLOCK = 100  # resamples drawn (and scored) per block: bounds memory; the draws are one stream, so results do not depend on it
_EXACT = float(2**53)  # float64 sums of integers below this are exact

MatrixMetric = Callable[[NDArray[np.int64]], Any]


@dataclass(frozen=True)
class ConfidenceInterval:
    """Point estimate on the full data and the percentile interval of the bootstrap replicates."""

    estimate: float
    low: float
    high: float
    level: float
    n_boot: int
    seed: int

    @property
    def is_defined(self) -> bool:
        """False when a bound is NaN (some replicate was undefined): the interval says nothing."""
        return not (np.isnan(self.low) or np.isnan(self.high))

    def excludes(self, value: float = 0.0) -> bool:
        """True when ``value`` lies outside [low, high] (e.g. a paired drop whose CI excludes 0).

        An undefined interval excludes nothing (False); callers that gate should check
        :attr:`is_defined` and report it.
        """
        return self.is_defined and not self.low <= value <= self.high

    def to_dict(self) -> dict[str, Any]:
        return {
            "estimate": self.estimate,
            "low": self.low,
            "high": self.high,
            "level": self.level,
            "n_boot": self.n_boot,
            "seed": self.seed,
            "method": "percentile",
        }


def _check(n: int, n_boot: int, level: float, seed: int) -> None:
    if n < 1:
        raise ValueError("bootstrap needs at least one image/sample, got 0")
    if isinstance(n_boot, bool) or not isinstance(n_boot, int) or n_boot < 1:
        raise ValueError(f"n_boot must be a positive int, got {n_boot!r}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), e.g. 0.95, got {level!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")


def _draws(n: int, n_boot: int, seed: int) -> Iterator[NDArray[np.int64]]:
    """Blocks of (b, n) indices drawn with replacement; b = _BLOCK except the last block."""
    rng = np.random.default_rng(seed)
    for start in range(0, n_boot, _BLOCK):
        yield rng.integers(0, n, size=(min(_BLOCK, n_boot - start), n), dtype=np.int64)


def _counts(idx: NDArray[np.int64], n: int) -> NDArray[np.int64]:
    """(b, n) how many times each item appears in each resample."""
    b = idx.shape[0]
    flat = (idx + (np.arange(b, dtype=np.int64) * n)[:, None]).reshape(-1)
    return np.bincount(flat, minlength=b * n).reshape(b, n)


def _interval(estimate: float, replicates: NDArray[np.float64], level: float, n_boot: int, seed: int) -> ConfidenceInterval:
    tail = 100.0 * (1.0 - level) / 2.0
    low, high = np.percentile(replicates, [tail, 100.0 - tail])
    return ConfidenceInterval(float(estimate), float(low), float(high), float(level), n_boot, seed)


def _stack(per_image: ArrayLike, name: str) -> NDArray[np.int64]:
    m = np.asarray(per_image)
    if m.ndim != 3 or m.shape[1] != m.shape[2] or m.dtype.kind not in "iu":
        raise ValueError(
            f"{name}: expected integer per-image confusion matrices of shape (n_images, C, C), got {m.dtype} {m.shape}"
        )
    if m.size and m.min() < 0:
        raise ValueError(f"{name}: confusion counts must be non-negative")
    return m.astype(np.int64, copy=False)


class _Summer:
    """Resampled sums ``counts @ flat`` of one stack of per-image matrices, flat (n, C*C).

    A count is at most n, so every partial sum is at most n * total: below 2^53 float64 BLAS
    is exact (and much faster than NumPy's integer matmul), above it the integer path is used.
    """

    def __init__(self, flat: NDArray[np.int64]) -> None:
        n, total = flat.shape[0], int(flat.sum())
        self.exact_float = float(n) * float(total) < _EXACT
        self.flat = flat
        self.flat_float = flat.astype(np.float64) if self.exact_float else None

    def __call__(self, counts: NDArray[np.int64]) -> NDArray[np.int64]:
        if self.flat_float is not None:
            return np.rint(counts.astype(np.float64) @ self.flat_float).astype(np.int64)
        return np.asarray(counts @ self.flat, dtype=np.int64)


def _scores(metric: MatrixMetric, stack: NDArray[np.int64]) -> NDArray[np.float64]:
    out = np.asarray(metric(stack), dtype=np.float64)
    if out.shape != stack.shape[:1]:
        raise ValueError(
            f"the metric must accept a stack (b, C, C) and return shape (b,), returned shape {out.shape} "
            f"(the functions of harness.metrics.segmentation do)"
        )
    return out


def paired_bootstrap_segmentation(
    per_image_a: ArrayLike,
    per_image_b: ArrayLike,
    metric: MatrixMetric = mean_iou,
    *,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> ConfidenceInterval:
    """CI of metric(A) − metric(B) for two cells scored on the same images (same draws for both).

    ``per_image_*``: int (n_images, C, C), image i of A and B being the same image. ``metric``
    maps a stack (b, C, C) to (b,), e.g. :func:`~harness.metrics.segmentation.mean_iou`
    (the default, DELIVER convention) or ``functools.partial(mean_iou, absent="nan")``.
    """
    a, b = _stack(per_image_a, "per_image_a"), _stack(per_image_b, "per_image_b")
    if a.shape != b.shape:
        raise ValueError(f"paired bootstrap needs the same images in both cells: shapes {a.shape} vs {b.shape}")
    n = a.shape[0]
    _check(n, n_boot, level, seed)
    c = a.shape[1]
    estimate = float(_scores(metric, a.sum(0)[None])[0] - _scores(metric, b.sum(0)[None])[0])
    sum_a, sum_b = _Summer(a.reshape(n, -1)), _Summer(b.reshape(n, -1))
    reps = []
    for idx in _draws(n, n_boot, seed):
        counts = _counts(idx, n)
        reps.append(_scores(metric, sum_a(counts).reshape(-1, c, c)) - _scores(metric, sum_b(counts).reshape(-1, c, c)))
    return _interval(estimate, np.concatenate(reps), level, n_boot, seed)


def joint_bootstrap_replicates(
    per_image_by_cell: Mapping[str, ArrayLike],
    metric: MatrixMetric = mean_iou,
    *,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, NDArray[np.float64]]:
    """``metric`` of every cell on the SAME ``n_boot`` image resamples: cell -> (n_boot,) replicates.

    All cells must hold the same images in the same order. Sharing the draws keeps the
    replicates of different cells aligned, so any function of several cells (mIoU^Avg,
    mIoU^E, Shapley, a difference) gets its percentile CI from the per-resample values.
    """
    stacks = {name: _stack(m, f"per_image[{name!r}]") for name, m in per_image_by_cell.items()}
    shapes = {m.shape for m in stacks.values()}
    if len(shapes) > 1:
        raise ValueError(f"joint bootstrap needs the same images in every cell, got shapes {sorted(shapes)}")
    if not stacks:
        return {}
    n, c = next(iter(shapes))[:2]
    _check(n, n_boot, 0.95, seed)
    summers = {name: _Summer(m.reshape(n, -1)) for name, m in stacks.items()}
    reps: dict[str, list[NDArray[np.float64]]] = {name: [] for name in stacks}
    for idx in _draws(n, n_boot, seed):
        counts = _counts(idx, n)
        for name, summer in summers.items():
            reps[name].append(_scores(metric, summer(counts).reshape(-1, c, c)))
    return {name: np.concatenate(parts) for name, parts in reps.items()}


def bootstrap_segmentation(
    per_image: ArrayLike,
    metric: MatrixMetric = mean_iou,
    *,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> ConfidenceInterval:
    """CI of ``metric`` of the dataset-wide matrix by resampling images (per-image matrices summed).

    ``per_image``: int (n_images, C, C), e.g. from
    :func:`~harness.metrics.confusion.per_image_confusion`. The estimate is ``metric`` of the
    plain sum; the interval the ``level`` percentile interval of ``n_boot`` resamples.
    """
    m = _stack(per_image, "per_image")
    n, c = m.shape[0], m.shape[1]
    _check(n, n_boot, level, seed)
    estimate = float(_scores(metric, m.sum(0)[None])[0])
    summer = _Summer(m.reshape(n, -1))
    reps = [_scores(metric, summer(_counts(idx, n)).reshape(-1, c, c)) for idx in _draws(n, n_boot, seed)]
    return _interval(estimate, np.concatenate(reps), level, n_boot, seed)


def bootstrap_samples(
    columns: Mapping[str, ArrayLike],
    statistic: Callable[[Mapping[str, NDArray[Any]]], float],
    *,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
) -> ConfidenceInterval:
    """CI of ``statistic`` by resampling samples jointly across ``columns`` (VQA probes).

    ``columns`` maps a name (e.g. ``"clean"``, ``"image=removed"``) to a per-sample array,
    all of the same length and sample order; each resample draws the same sample indices in
    every column, so differences between probes (MG, perceptual score) stay paired.
    ``statistic`` takes such a mapping and returns a float, e.g.
    ``lambda c: bias.multimodal_gain(c["clean"], c["image=removed"])``.
    """
    cols = {k: np.asarray(v) for k, v in columns.items()}
    if not cols:
        raise ValueError("bootstrap_samples needs at least one column")
    lengths = {k: (v.shape[0] if v.ndim else -1) for k, v in cols.items()}
    if len(set(lengths.values())) != 1 or -1 in lengths.values():
        raise ValueError(f"every column must be an array over the same samples; lengths: {lengths}")
    n = next(iter(lengths.values()))
    _check(n, n_boot, level, seed)
    estimate = float(statistic(cols))
    reps = np.empty(n_boot, dtype=np.float64)
    i = 0
    for idx in _draws(n, n_boot, seed):
        for row in idx:
            reps[i] = statistic({k: v[row] for k, v in cols.items()})
            i += 1
    return _interval(estimate, reps, level, n_boot, seed)
