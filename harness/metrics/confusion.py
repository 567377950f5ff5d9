"""The mergeable state of a segmentation cell: an int64 confusion matrix.

Rows are ground-truth classes, columns are predictions. Only counts are
stored, never running means, so shards of a sweep merge exactly by summing and every figure
(mIoU under either convention, accuracies, bootstrap CIs) is derived later from the counts.

Accumulation is one ``np.bincount`` over ``label * C + pred`` per chunk of 64 Ki pixels. The
chunking is deliberate: ``np.bincount`` converts its input to ``intp`` (a full-size copy
when the index is built in a narrow dtype), so the index is written straight into a
cache-resident ``intp`` buffer, and the range checks (one min/max per chunk) read data that
is already in cache. Ignored pixels need no mask in the common case: labels are binned into
a "wide" histogram whose rows cover every valid label value *and* ``ignore_index``; the
ignore row is dropped and any other out-of-range row is reported by value.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from harness.errors import DataError, ResultsError
from harness.metrics.argmax import class_argmax

__all__ = ["FORMAT", "ConfusionMatrix", "per_image_confusion"]

FORMAT = "mmharness.confusion/1"
_CHUNK = 1 << 16  # pixels per pass: intp temporaries of 512 KiB stay in L2
_MAX_WIDE_BINS = 1 << 16  # above this the wide histogram costs more than masking ignored pixels
_MAX_BATCH_BINS = 1 << 20  # per-image matrices of a batch in one bincount up to this many bins


def _prefix(where: str) -> str:
    return f"{where}: " if where else ""


def _class_ids(x: ArrayLike, name: str, where: str) -> NDArray[np.integer]:
    """``x`` as an integer array; floats and bools are refused, not rounded or cast."""
    a = np.asarray(x)
    if a.dtype.kind not in "iu":
        raise DataError(
            f"{_prefix(where)}{name} has dtype {a.dtype}; expected an integer array of class ids "
            f"(floats/bools are not class ids: convert explicitly, e.g. .astype(np.int64), after checking them)"
        )
    return a


def _describe_bad(values: NDArray[np.integer], bad: NDArray[np.bool_]) -> str:
    """'25, 31 (4 pixels)' — the distinct offending values (first 8) and how many pixels hold them."""
    offending = np.unique(values[bad])
    shown = ", ".join(str(int(v)) for v in offending[:8])
    more = f" and {offending.size - 8} more" if offending.size > 8 else ""
    n = int(bad.sum())
    return f"{shown}{more} ({n} pixel{'' if n == 1 else 's'})"


class _Binner:
    """Validation and binning for one (num_classes, ignore_index) pair; no state between calls."""

    def __init__(self, num_classes: int, ignore_index: int | None) -> None:
        self.c = num_classes
        self.ignore = ignore_index
        if ignore_index is None:
            self.lo, hi = 0, num_classes - 1
        else:
            self.lo, hi = min(0, ignore_index), max(num_classes - 1, ignore_index)
        self.rows = hi - self.lo + 1
        self.wide = self.rows * num_classes <= _MAX_WIDE_BINS

    def pred_error(self, pred: NDArray[np.integer], where: str) -> DataError:
        bad = (pred < 0) | (pred >= self.c)
        return DataError(
            f"{_prefix(where)}pred holds class ids outside [0, {self.c}): {_describe_bad(pred, bad)}; "
            f"the model output must be class ids < num_classes (check the manifest's classes list)"
        )

    def label_error(self, label: NDArray[np.integer], where: str) -> DataError:
        bad = (label < 0) | (label >= self.c)
        if self.ignore is not None:
            bad &= label != self.ignore
        ign = f" other than ignore_index {self.ignore}" if self.ignore is not None else " (ignore_index is None)"
        return DataError(
            f"{_prefix(where)}label holds values outside [0, {self.c}){ign}: {_describe_bad(label, bad)}; "
            f"fix the dataset's label maps or its num_classes/ignore_index"
        )

    def count(self, pred: NDArray[np.integer], label: NDArray[np.integer], where: str) -> NDArray[np.int64]:
        """(C, C) int64 counts of flat ``pred``/``label``; raises before returning anything partial."""
        c, lo = self.c, self.lo
        bins = self.rows * c if self.wide else c * c
        acc = np.zeros(bins, dtype=np.int64)
        buf = np.empty(min(pred.size, _CHUNK), dtype=np.intp)
        # Unsigned views: a negative value wraps to a huge one, so one max() checks [0, bound).
        upred, ulabel = _unsigned(pred), _unsigned(label)
        for start in range(0, pred.size, _CHUNK):
            chunk = slice(start, start + _CHUNK)
            p, lab = pred[chunk], label[chunk]
            if upred[chunk].max() >= c:
                raise self.pred_error(pred, where)
            top = ulabel[chunk].max()
            if top >= c:  # ignored pixels, or invalid labels, in this chunk
                if self.wide:
                    beyond = top >= self.rows if lo == 0 else (lab.min() < lo or lab.max() >= lo + self.rows)
                    if beyond:  # outside even the wide histogram's rows
                        raise self.label_error(label, where)
                else:
                    if self.ignore is None:
                        raise self.label_error(label, where)
                    keep = lab != self.ignore
                    p, lab = p[keep], lab[keep]
                    if lab.size and _unsigned(lab).max() >= c:
                        raise self.label_error(label, where)
            idx = buf[: lab.size]
            np.multiply(lab, c, out=idx, dtype=np.intp, casting="unsafe")
            np.add(idx, p, out=idx, dtype=np.intp, casting="unsafe")
            if self.wide and lo:
                idx -= lo * c
            acc += np.bincount(idx, minlength=bins)
        if not self.wide:
            return acc.reshape(c, c)
        wide = acc.reshape(self.rows, c)
        valid = wide[-lo : -lo + c]
        stray = wide.sum(axis=1)
        stray[-lo : -lo + c] = 0
        if self.ignore is not None:
            stray[self.ignore - lo] = 0
        if stray.any():  # a label strictly between the valid range and ignore_index
            raise self.label_error(label, where)
        return valid.copy()


def _unsigned(a: NDArray[np.integer]) -> NDArray[np.unsignedinteger]:
    """The same bytes seen as the unsigned type of the same size and byte order (no copy)."""
    return a.view(a.dtype.str.replace("i", "u"))  # type: ignore[return-value]


def _check_config(num_classes: Any, ignore_index: Any) -> None:
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
    if ignore_index is None:
        return
    if isinstance(ignore_index, bool) or not isinstance(ignore_index, (int, np.integer)):
        raise ValueError(f"ignore_index must be an int or None, got {ignore_index!r}")
    if 0 <= ignore_index < num_classes:
        raise ValueError(
            f"ignore_index {ignore_index} is a valid class id for num_classes={num_classes}; "
            f"use a value outside [0, {num_classes}) (e.g. 255) or None"
        )


def _pair(pred: ArrayLike, label: ArrayLike, where: str) -> tuple[NDArray[np.integer], NDArray[np.integer]]:
    p, lab = _class_ids(pred, "pred", where), _class_ids(label, "label", where)
    if p.shape != lab.shape:
        raise DataError(
            f"{_prefix(where)}pred shape {p.shape} does not match label shape {lab.shape}; "
            f"they must be the same (batch or single image) — resize the prediction to the label"
        )
    return p, lab


class ConfusionMatrix:
    """Mergeable int64 confusion matrix, rows = ground truth, columns = prediction.

    ``num_classes`` C >= 1; ``ignore_index`` (default 255, or None) must lie outside [0, C):
    pixels labelled with it are dropped. Labels must be in [0, C) or ``ignore_index``;
    predictions in [0, C) everywhere (ignored pixels too). Anything else is a ``DataError``
    (a ``ValueError``) naming the values, never a silent clip.
    """

    __slots__ = ("_binner", "_ignore_index", "_matrix", "_num_classes")

    def __init__(self, num_classes: int, ignore_index: int | None = 255) -> None:
        _check_config(num_classes, ignore_index)
        self._num_classes = int(num_classes)
        self._ignore_index = None if ignore_index is None else int(ignore_index)
        self._matrix = np.zeros((self._num_classes, self._num_classes), dtype=np.int64)
        self._binner = _Binner(self._num_classes, self._ignore_index)

    # -- construction -------------------------------------------------------------------
    @classmethod
    def from_matrix(cls, matrix: ArrayLike, ignore_index: int | None = 255) -> ConfusionMatrix:
        """Wrap an existing (C, C) array of non-negative integer counts (copied)."""
        m = np.asarray(matrix)
        if m.ndim != 2 or m.shape[0] != m.shape[1] or m.shape[0] < 1:
            raise ValueError(f"a confusion matrix must be a non-empty square 2-D array, got shape {m.shape}")
        if m.dtype.kind not in "iu":
            raise ValueError(f"a confusion matrix holds integer counts, got dtype {m.dtype}")
        if m.size and m.min() < 0:
            raise ValueError(f"a confusion matrix holds non-negative counts, got minimum {int(m.min())}")
        cm = cls(m.shape[0], ignore_index)
        cm._matrix[...] = m
        return cm

    def copy(self) -> ConfusionMatrix:
        return ConfusionMatrix.from_matrix(self._matrix, self._ignore_index)

    # -- read access --------------------------------------------------------------------
    @property
    def num_classes(self) -> int:
        return self._num_classes

    @property
    def ignore_index(self) -> int | None:
        return self._ignore_index

    @property
    def matrix(self) -> NDArray[np.int64]:
        """Read-only (C, C) int64 view: rows ground truth, columns prediction."""
        view = self._matrix.view()
        view.flags.writeable = False
        return view

    @property
    def total(self) -> int:
        """Number of counted (non-ignored) pixels."""
        return int(self._matrix.sum())

    # -- accumulation -------------------------------------------------------------------
    def update(self, pred: ArrayLike, label: ArrayLike, *, where: str = "") -> None:
        """Count integer ``pred`` against ``label`` (same shape, any rank: one image or a batch).

        ``where`` (e.g. ``"cell emm/missing=depth, batch 3"``) prefixes error messages. The
        state changes only when the whole input is valid.
        """
        p, lab = _pair(pred, label, where)
        self._matrix += self._binner.count(p.reshape(-1), lab.reshape(-1), where)

    def update_logits(self, logits: ArrayLike, label: ArrayLike, axis: int = 1, *, where: str = "") -> None:
        """Argmax ``logits`` along ``axis`` (class scores, e.g. N×C×H×W with axis=1), then update.

        NaN/Inf logits are not checked here (the runner reports them per cell); argmax would
        pick the first NaN.
        """
        s = np.asarray(logits)
        if s.dtype.kind not in "fiu" or s.ndim < 1:
            raise DataError(f"{_prefix(where)}logits must be a real numeric array, got dtype {s.dtype}, shape {s.shape}")
        if not -s.ndim <= axis < s.ndim:
            raise DataError(f"{_prefix(where)}logits axis {axis} is out of range for logits of shape {s.shape}")
        if s.shape[axis] != self._num_classes:
            raise DataError(
                f"{_prefix(where)}logits have {s.shape[axis]} scores along axis {axis} (shape {s.shape}); "
                f"expected num_classes={self._num_classes}"
            )
        lab = _class_ids(label, "label", where)
        expected = s.shape[: axis % s.ndim] + s.shape[axis % s.ndim + 1 :]
        if lab.shape != expected:
            raise DataError(
                f"{_prefix(where)}label shape {lab.shape} does not match logits shape {s.shape} "
                f"without axis {axis} (expected {expected})"
            )
        self.update(class_argmax(s, axis=axis), lab, where=where)

    # -- merging ------------------------------------------------------------------------
    def _check_compatible(self, other: object) -> ConfusionMatrix:
        if not isinstance(other, ConfusionMatrix):
            raise TypeError(f"cannot merge a ConfusionMatrix with {type(other).__name__}")
        if (other._num_classes, other._ignore_index) != (self._num_classes, self._ignore_index):
            raise ResultsError(
                f"cannot merge confusion matrices of different set-ups: num_classes/ignore_index "
                f"{self._num_classes}/{self._ignore_index} vs {other._num_classes}/{other._ignore_index}; "
                f"merge only shards of the same cell and model"
            )
        return other

    def merge(self, *others: ConfusionMatrix) -> ConfusionMatrix:
        """A new matrix holding the sum of ``self`` and ``others`` (exact; order does not matter)."""
        out = self.copy()
        for other in others:
            out._matrix += self._check_compatible(other)._matrix
        return out

    def __add__(self, other: ConfusionMatrix) -> ConfusionMatrix:
        return self.merge(other)

    def __iadd__(self, other: ConfusionMatrix) -> ConfusionMatrix:
        self._matrix += self._check_compatible(other)._matrix
        return self

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ConfusionMatrix):
            return NotImplemented
        return (self._num_classes, self._ignore_index) == (other._num_classes, other._ignore_index) and bool(
            np.array_equal(self._matrix, other._matrix)
        )

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return f"ConfusionMatrix(num_classes={self._num_classes}, ignore_index={self._ignore_index}, total={self.total})"

    # -- serialization ------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Compact JSON-safe form: the non-zero cells as flat indices (row * C + col) and counts."""
        flat = self._matrix.reshape(-1)
        nz = np.flatnonzero(flat)
        return {
            "format": FORMAT,
            "num_classes": self._num_classes,
            "ignore_index": self._ignore_index,
            "index": nz.tolist(),
            "count": flat[nz].tolist(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, where: str = "confusion matrix") -> ConfusionMatrix:
        """Inverse of :meth:`to_dict` (exact). A malformed dict is a one-line ``ResultsError``."""

        def bad(field: str, problem: str) -> ResultsError:
            return ResultsError(f"{where}: field '{field}': {problem}; the results file is corrupt or foreign — re-run the cell")

        if not isinstance(data, Mapping):
            raise ResultsError(f"{where}: expected a JSON object, got {type(data).__name__}; the results file is corrupt")
        expected = {"format", "num_classes", "ignore_index", "index", "count"}
        if set(data) != expected:
            missing, extra = sorted(expected - set(data)), sorted(set(data) - expected, key=str)
            raise ResultsError(f"{where}: keys missing {missing}, unexpected {extra}; the results file is corrupt or foreign")
        if data["format"] != FORMAT:
            raise bad("format", f"expected {FORMAT!r}, got {data['format']!r}")
        c, ign = data["num_classes"], data["ignore_index"]
        if type(c) is not int or c < 1:
            raise bad("num_classes", f"expected a positive integer, got {c!r}")
        if ign is not None and (type(ign) is not int or 0 <= ign < c):
            raise bad("ignore_index", f"expected null or an integer outside [0, {c}), got {ign!r}")
        index, count = data["index"], data["count"]
        for name, seq in (("index", index), ("count", count)):
            if not isinstance(seq, list) or any(type(v) is not int or not -(2**63) <= v < 2**63 for v in seq):
                raise bad(name, "expected a list of 64-bit integers")
        if len(index) != len(count):
            raise bad("count", f"has {len(count)} entries but 'index' has {len(index)}")
        idx = np.asarray(index, dtype=np.int64) if index else np.zeros(0, np.int64)
        cnt = np.asarray(count, dtype=np.int64) if count else np.zeros(0, np.int64)
        if idx.size and (idx.min() < 0 or idx.max() >= c * c or np.any(np.diff(idx) <= 0)):
            raise bad("index", f"expected strictly increasing flat indices in [0, {c * c})")
        if cnt.size and cnt.min() < 1:
            raise bad("count", f"expected positive counts, got {int(cnt.min())}")
        cm = cls(c, ign)
        cm._matrix.reshape(-1)[idx] = cnt
        return cm


def per_image_confusion(
    pred: ArrayLike, label: ArrayLike, num_classes: int, ignore_index: int | None = 255, *, where: str = ""
) -> NDArray[np.int64]:
    """One (C, C) int64 matrix per image of a batch: shape (N, C, C) for pred/label (N, ...).

    This is the input of the segmentation bootstrap (:mod:`harness.metrics.stats`); summing
    over axis 0 gives the batch's :class:`ConfusionMatrix` counts.
    """
    _check_config(num_classes, ignore_index)
    p, lab = _pair(pred, label, where)
    if p.ndim < 1:
        raise DataError(f"{_prefix(where)}per-image matrices need a leading batch axis, got a scalar")
    binner = _Binner(int(num_classes), ignore_index)
    if binner.wide and p.shape[0] * binner.rows * binner.c <= _MAX_BATCH_BINS:
        return _per_image_in_one_pass(binner, p.reshape(p.shape[0], -1), lab.reshape(lab.shape[0], -1), where)
    out = np.zeros((p.shape[0], num_classes, num_classes), dtype=np.int64)
    for i in range(p.shape[0]):
        out[i] = binner.count(p[i].reshape(-1), lab[i].reshape(-1), f"{where} image {i}".strip())
    return out


def _per_image_in_one_pass(
    binner: _Binner, pred: NDArray[np.integer], label: NDArray[np.integer], where: str
) -> NDArray[np.int64]:
    """(N, C, C) counts of (N, P) pred/label with ONE bincount over image-offset indices.

    A batch of small images is the runner's common case; one call per image costs more in
    Python overhead than in counting. Ignored pixels land in the wide histogram's extra
    rows, which are dropped; any other out-of-range label or pred raises as ``count`` does.
    """
    n, c, lo, rows = pred.shape[0], binner.c, binner.lo, binner.rows
    if pred.size and _unsigned(pred).max() >= c:
        raise binner.pred_error(pred, where)
    if label.size and (_unsigned(label).max() >= rows if lo == 0 else (label.min() < lo or label.max() >= lo + rows)):
        raise binner.label_error(label, where)
    idx = np.multiply(label, c, dtype=np.intp)
    if lo:
        idx -= lo * c
    idx += pred
    idx += (np.arange(n, dtype=np.intp) * (rows * c))[:, None]
    wide = np.bincount(idx.reshape(-1), minlength=n * rows * c).astype(np.int64, copy=False).reshape(n, rows, c)
    stray = wide.sum(axis=2)
    stray[:, -lo : -lo + c] = 0
    if binner.ignore is not None:
        stray[:, binner.ignore - lo] = 0
    if stray.any():  # a label strictly between the valid range and ignore_index
        raise binner.label_error(label, where)
    return np.ascontiguousarray(wide[:, -lo : -lo + c])
