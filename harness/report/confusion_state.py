"""The ``confusion`` cell state: ``ConfusionMatrix.to_dict()`` of the int64 matrix (rows =
ground truth, columns = prediction) accumulated over the whole dataset, and the percent
figures the metric core derives from it (DELIVER/Liao mIoU as ``miou``; mmsegmentation's
nan-mean as ``miou_absent_nan``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from harness.metrics.confusion import ConfusionMatrix
from harness.metrics.segmentation import scores
from harness.report.states import StateKind

Matrix = npt.NDArray[np.int64]


def matrix_of(state: Mapping[str, Any], where: str = "confusion state") -> Matrix:
    """The state's matrix as an ``(C, C)`` int64 array (a corrupt state is a ResultsError)."""
    return ConfusionMatrix.from_dict(state, where=where).matrix


def state_of(matrix: Matrix, ignore_index: int | None) -> dict[str, Any]:
    """The JSON state (``ConfusionMatrix.to_dict``) of an ``(C, C)`` count matrix."""
    return ConfusionMatrix.from_matrix(matrix, ignore_index=ignore_index).to_dict()


def _merge(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    return ConfusionMatrix.from_dict(a).merge(ConfusionMatrix.from_dict(b)).to_dict()


def _validate(state: Mapping[str, Any]) -> None:
    ConfusionMatrix.from_dict(state)


def _figures(state: Mapping[str, Any], context: Mapping[str, Any]) -> dict[str, Any]:
    """Percent figures of the metric core; ``miou`` is the DELIVER/Liao convention (absent = 0)."""
    figures = scores(ConfusionMatrix.from_dict(state)).to_dict()
    return {"miou": figures.pop("miou_absent_zero"), **figures}


CONFUSION = StateKind(name="confusion", merge=_merge, figures=_figures, validate=_validate, primary="miou")
