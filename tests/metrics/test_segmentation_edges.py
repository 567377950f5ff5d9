"""Segmentation figures at the edges of their inputs (issue 19): the smallest and batched
matrices, every malformed one refused by its message, and the two absent-class conventions on
a matrix whose figures are written out by hand."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from harness.metrics.confusion import ConfusionMatrix
from harness.metrics.segmentation import mean_accuracy, mean_f1, mean_iou, per_class_iou, pixel_accuracy

# rows = label, columns = prediction; class 2 never labelled nor predicted (absent)
M = np.array([[3, 1, 0], [1, 1, 0], [0, 0, 0]])
# IoU: 3/(4+4-3) = 60 %, 1/(2+2-1) = 33.33 %, absent; accuracy: 3/4 = 75 %, 1/2 = 50 %; F1: 6/8 = 75 %, 2/4 = 50 %


def test_figures_of_a_hand_computed_matrix_under_both_conventions():
    np.testing.assert_allclose(per_class_iou(M), [60.0, 100 / 3, 0.0])
    assert mean_iou(M) == pytest.approx((60.0 + 100 / 3) / 3)
    assert mean_iou(M, absent="nan") == pytest.approx((60.0 + 100 / 3) / 2)
    assert math.isnan(per_class_iou(M, absent="nan")[2])
    assert mean_accuracy(M) == pytest.approx(125 / 3) and mean_accuracy(M, absent="nan") == pytest.approx(62.5)
    assert mean_f1(M) == pytest.approx(125 / 3) and mean_f1(M, absent="nan") == pytest.approx(62.5)
    assert pixel_accuracy(M) == pytest.approx(400 / 6)
    assert mean_iou(ConfusionMatrix.from_matrix(M)) == mean_iou(M)


def test_the_smallest_and_batched_matrices():
    assert mean_iou(np.array([[5]])) == 100.0 and pixel_accuracy(np.array([[5]])) == 100.0
    assert mean_iou(np.array([[1]])) == 100.0 and mean_iou(np.array([[1, 0], [0, 0]])) == 50.0  # a union of exactly 1 pixel
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every class absent: NaN is the answer, not a warning
        assert mean_iou(np.array([[0]])) == 0.0 and math.isnan(mean_iou(np.array([[0]]), absent="nan"))
    assert math.isnan(pixel_accuracy(np.zeros((2, 2), np.int64)))
    batch = np.stack([M, np.eye(3, dtype=np.int64)])
    np.testing.assert_allclose(mean_iou(batch), [mean_iou(M), 100.0])
    np.testing.assert_allclose(pixel_accuracy(batch), [400 / 6, 100.0])


@pytest.mark.parametrize(("matrix", "message"), [
    (np.zeros(3, np.int64), r"^expected a ConfusionMatrix or an array of shape \(\.\.\., C, C\), got shape \(3,\)$"),
    (np.zeros((2, 3), np.int64), r"^expected a ConfusionMatrix or an array of shape \(\.\.\., C, C\), got shape \(2, 3\)$"),
    (np.zeros((0, 0), np.int64), r"^expected a ConfusionMatrix or an array of shape \(\.\.\., C, C\), got shape \(0, 0\)$"),
    (np.zeros((2, 2)), r"^confusion counts must be integers, got dtype float64$"),
])
def test_malformed_matrices_are_refused_with_their_message(matrix, message):
    with pytest.raises(ValueError, match=message):
        mean_iou(matrix)


def test_an_unknown_absent_convention_is_refused():
    with pytest.raises(ValueError, match=r"^absent must be 'zero' \(DELIVER/Liao\) or 'nan' \(mmsegmentation\), got 'skip'$"):
        mean_iou(M, absent="skip")  # type: ignore[arg-type]


def test_deeper_batches_equal_their_matrices_and_an_empty_class_axis_is_refused():
    stack = np.random.default_rng(5).integers(0, 9, (1, 2, 3, 4, 4))  # batch axes of lengths 2 and 3 differ from C = 4
    np.testing.assert_allclose(mean_iou(stack), [[[mean_iou(m) for m in row] for row in stack[0]]])
    with pytest.raises(ValueError, match=r"^expected a ConfusionMatrix or an array of shape \(\.\.\., C, C\), got shape \(1, 2, 0, 0\)$"):
        mean_iou(np.zeros((1, 2, 0, 0), np.int64))
