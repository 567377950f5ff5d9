"""Segmentation figures derived from confusion-matrix counts, in percent (0–100), as papers report.

Every function takes a :class:`~harness.metrics.confusion.ConfusionMatrix` or an integer array
of shape (..., C, C) (rows ground truth, columns prediction); leading axes are a stack of
matrices (e.g. bootstrap resamples) and come back as leading axes of the result.

A class whose figure is undefined (IoU: absent from both labels and predictions; accuracy:
absent from labels; F1: absent from both) is handled by a convention that is always named:

- ``absent="zero"`` — DELIVER / Liao et al.: counts as 0 and stays in the mean over all C
  classes. The default, because the robustness papers we reproduce use it.
- ``absent="nan"`` — mmsegmentation: NaN, and means are NaN-means over the defined classes.

Values are never rounded unless asked: :func:`paper_round` rounds to 2 decimals, as the
reference code does.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from harness.metrics.confusion import ConfusionMatrix

__all__ = [
    "Absent",
    "SegmentationScores",
    "mean_accuracy",
    "mean_f1",
    "mean_iou",
    "paper_round",
    "per_class_accuracy",
    "per_class_f1",
    "per_class_iou",
    "pixel_accuracy",
    "scores",
]

Absent = Literal["zero", "nan"]
MatrixLike = ConfusionMatrix | ArrayLike
Figure = float | NDArray[np.float64]


def _counts(cm: MatrixLike) -> NDArray[np.float64]:
    """(..., C, C) float64 counts (exact for counts below 2^53)."""
    m = cm.matrix if isinstance(cm, ConfusionMatrix) else np.asarray(cm)
    if m.ndim < 2 or m.shape[-1] != m.shape[-2] or m.shape[-1] < 1:
        raise ValueError(f"expected a ConfusionMatrix or an array of shape (..., C, C), got shape {m.shape}")
    if m.dtype.kind not in "iu":
        raise ValueError(f"confusion counts must be integers, got dtype {m.dtype}")
    return m.astype(np.float64)


def _ratio(num: NDArray[np.float64], den: NDArray[np.float64], absent: Absent) -> NDArray[np.float64]:
    """100 · num / den, with den == 0 mapped by the named convention."""
    if absent not in ("zero", "nan"):
        raise ValueError(f"absent must be 'zero' (DELIVER/Liao) or 'nan' (mmsegmentation), got {absent!r}")
    out = np.full(np.broadcast(num, den).shape, 0.0 if absent == "zero" else np.nan)
    np.divide(100.0 * num, den, out=out, where=den > 0)
    return out


def _mean(per_class: NDArray[np.float64], absent: Absent) -> Figure:
    if absent == "zero":
        result = per_class.mean(axis=-1)
    else:
        with warnings.catch_warnings():  # all classes undefined -> NaN, which is the answer
            warnings.simplefilter("ignore", RuntimeWarning)
            result = np.nanmean(per_class, axis=-1)
    return float(result) if np.ndim(result) == 0 else result


def _parts(cm: MatrixLike) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """(diagonal, row sums = label counts, column sums = prediction counts), each (..., C)."""
    m = _counts(cm)
    return np.diagonal(m, axis1=-2, axis2=-1), m.sum(axis=-1), m.sum(axis=-2)


def per_class_iou(cm: MatrixLike, *, absent: Absent = "zero") -> NDArray[np.float64]:
    """IoU_c = H[c,c] / (rowsum_c + colsum_c − H[c,c]) in percent, shape (..., C)."""
    tp, rows, cols = _parts(cm)
    return _ratio(tp, rows + cols - tp, absent)


def mean_iou(cm: MatrixLike, *, absent: Absent = "zero") -> Figure:
    """mIoU in percent: mean over all C classes (``"zero"``) or NaN-mean over defined ones (``"nan"``)."""
    return _mean(per_class_iou(cm, absent=absent), absent)


def per_class_accuracy(cm: MatrixLike, *, absent: Absent = "zero") -> NDArray[np.float64]:
    """Recall per class, H[c,c] / rowsum_c, in percent; undefined when class c has no label pixel."""
    tp, rows, _ = _parts(cm)
    return _ratio(tp, rows, absent)


def mean_accuracy(cm: MatrixLike, *, absent: Absent = "zero") -> Figure:
    """Mean of :func:`per_class_accuracy` under the named convention, in percent."""
    return _mean(per_class_accuracy(cm, absent=absent), absent)


def pixel_accuracy(cm: MatrixLike) -> Figure:
    """trace / total in percent; NaN for an empty matrix (no counted pixel)."""
    tp, rows, _ = _parts(cm)
    result = _ratio(tp.sum(axis=-1), rows.sum(axis=-1), "nan")
    return float(result) if np.ndim(result) == 0 else result


def per_class_f1(cm: MatrixLike, *, absent: Absent = "zero") -> NDArray[np.float64]:
    """F1_c = 2 H[c,c] / (rowsum_c + colsum_c) in percent (the Dice score), shape (..., C)."""
    tp, rows, cols = _parts(cm)
    return _ratio(2.0 * tp, rows + cols, absent)


def mean_f1(cm: MatrixLike, *, absent: Absent = "zero") -> Figure:
    """Mean of :func:`per_class_f1` under the named convention, in percent."""
    return _mean(per_class_f1(cm, absent=absent), absent)


def paper_round(x: Any) -> Any:
    """Round percent values to 2 decimals as DELIVER's ``Metrics`` does.

    Scalars go through Python's ``round(x, 2)`` (DELIVER's ``round(miou, 2)``: correctly
    rounded, half to even) and come back as ``float``; arrays through ``np.round(x, 2)``
    (DELIVER's ``.numpy().round(2)`` for per-class values).
    """
    a = np.asarray(x, dtype=np.float64)
    return round(float(a), 2) if a.ndim == 0 else np.round(a, 2)


@dataclass(frozen=True)
class SegmentationScores:
    """The figures of one cell, all in percent. Field names carry the convention."""

    miou_absent_zero: float
    miou_absent_nan: float
    pixel_accuracy: float
    macc_absent_zero: float
    mf1_absent_zero: float
    iou_absent_zero: tuple[float, ...]
    pixels: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe dict (NaN becomes None)."""

        def clean(v: float) -> float | None:
            return None if np.isnan(v) else v

        return {
            "miou_absent_zero": self.miou_absent_zero,
            "miou_absent_nan": clean(self.miou_absent_nan),
            "pixel_accuracy": clean(self.pixel_accuracy),
            "macc_absent_zero": self.macc_absent_zero,
            "mf1_absent_zero": self.mf1_absent_zero,
            "iou_absent_zero": list(self.iou_absent_zero),
            "pixels": self.pixels,
        }


def scores(cm: ConfusionMatrix, *, paper_rounding: bool = False) -> SegmentationScores:
    """All figures of one matrix; ``paper_rounding`` rounds each to 2 decimals."""
    fix = paper_round if paper_rounding else (lambda v: v)
    iou = per_class_iou(cm, absent="zero")
    return SegmentationScores(
        miou_absent_zero=fix(float(iou.mean())),
        miou_absent_nan=fix(mean_iou(cm, absent="nan")),
        pixel_accuracy=fix(pixel_accuracy(cm)),
        macc_absent_zero=fix(mean_accuracy(cm, absent="zero")),
        mf1_absent_zero=fix(mean_f1(cm, absent="zero")),
        iou_absent_zero=tuple(float(v) for v in fix(iou)),
        pixels=cm.total,
    )
