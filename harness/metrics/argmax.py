"""Class-axis argmax that is several times faster than ``np.argmax`` for segmentation logits.

``np.argmax(logits, axis=1)`` on N×C×H×W scores reduces along a strided axis and, for the
few classes segmentation models have, costs about as much as a small model's inference
(measured in ``benchmarks/bench_run.py``). Walking the C class planes with running max and
index arrays touches each score once with contiguous, vectorized operations. The result is
identical to ``np.argmax``, ties (first maximum wins) and NaN (first NaN wins) included.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

# Beyond this many classes the per-plane loop loses to numpy's own reduction.
_MAX_PLANES = 64


def class_argmax(scores: npt.NDArray[Any], axis: int = 1) -> npt.NDArray[np.intp]:
    """Index of the largest score along ``axis`` (the class axis); same result as ``np.argmax``."""
    scores = np.asarray(scores)
    axis = axis % scores.ndim
    planes = scores.shape[axis]
    if planes > _MAX_PLANES or planes < 2 or axis == scores.ndim - 1 or scores.dtype.kind not in "fiu":
        # a contiguous last axis is already numpy's fast case
        return np.argmax(scores, axis=axis)
    plane = [slice(None)] * scores.ndim

    def at(c: int) -> npt.NDArray[Any]:
        plane[axis] = c
        return scores[tuple(plane)]

    best = at(0).copy()
    index = np.zeros(best.shape, dtype=np.intp)
    larger = np.empty(best.shape, dtype=bool)
    for c in range(1, planes):
        np.greater(at(c), best, out=larger)
        np.maximum(best, at(c), out=best)  # NaN propagates into ``best``: detected below
        np.putmask(index, larger, c)
    if best.dtype.kind == "f" and np.isnan(best).any():
        return np.argmax(scores, axis=axis)  # numpy's NaN semantics, rare and already an error upstream
    return index
