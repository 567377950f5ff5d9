"""ConfusionMatrix at the edges (issue 19): class ids at the limits of their ranges on every
binning path (wide histogram, masking, negative ignore_index beyond the wide limit), each bad
set-up and bad input by its message, and from_matrix's refusals."""

from __future__ import annotations

import numpy as np
import pytest

from harness.errors import DataError
from harness.metrics.confusion import ConfusionMatrix



@pytest.mark.parametrize("ignore", [255, 3, -1, None, 70000])  # 70000: the masking path
def test_class_ids_at_the_edges(ignore):
    """C - 1 is a class and counts; C is refused (pred) or ignored only when it is ignore_index."""
    cm = ConfusionMatrix(3, ignore)
    cm.update([0, 2], [2, 0])
    np.testing.assert_array_equal(cm.matrix, [[0, 0, 1], [0, 0, 0], [1, 0, 0]])
    with pytest.raises(DataError, match=r"^pred holds class ids outside \[0, 3\): 3 \(1 pixel\); "):
        cm.update([3, 0], [0, 0])
    with pytest.raises(DataError, match=r"^pred holds class ids outside \[0, 3\): -1 \(1 pixel\); "):
        cm.update([-1, 0], [0, 0])
    if ignore == 3:
        cm.update([1], [3])  # ignored
    else:
        with pytest.raises(DataError, match=r"^label holds values outside \[0, 3\).*: 3 \(1 pixel\); "):
            cm.update([1], [3])
    if ignore != -1:
        with pytest.raises(DataError, match=r"^label holds values outside \[0, 3\).*: -1 \(1 pixel\); "):
            cm.update([1], [-1])
    assert cm.total == 2  # nothing refused was counted


@pytest.mark.parametrize(("num_classes", "ignore", "message"), [
    (0, 255, r"^num_classes must be a positive int, got 0$"),
    (True, 255, r"^num_classes must be a positive int, got True$"),
    (3, 2, r"^ignore_index 2 is a valid class id for num_classes=3; use a value outside \[0, 3\) \(e\.g\. 255\) or None$"),
    (3, 0, r"^ignore_index 0 is a valid class id"),
    (3, 2.0, r"^ignore_index must be an int or None, got 2\.0$"),
])
def test_bad_set_ups_are_refused(num_classes, ignore, message):
    with pytest.raises(ValueError, match=message):
        ConfusionMatrix(num_classes, ignore)
    assert ConfusionMatrix(1, 1).num_classes == 1 and ConfusionMatrix(3, -1).ignore_index == -1


def test_a_negative_ignore_index_beyond_the_wide_histogram_counts_exactly():
    """300 classes with ignore_index -1: too many bins for the wide histogram, so ignored pixels are masked."""
    rng = np.random.default_rng(0)
    label = rng.integers(-1, 300, 5000)
    pred = rng.integers(0, 300, 5000)
    cm = ConfusionMatrix(300, -1)
    cm.update(pred, label)
    keep = label != -1
    expected = np.zeros((300, 300), np.int64)
    np.add.at(expected, (label[keep], pred[keep]), 1)
    np.testing.assert_array_equal(cm.matrix, expected)


def test_offending_values_are_listed_up_to_eight():
    cm = ConfusionMatrix(3)
    with pytest.raises(DataError, match=r"^pred holds class ids outside \[0, 3\): 3, 4, 5, 6, 7, 8, 9, 10 \(8 pixels\); "):
        cm.update(np.arange(3, 11), np.zeros(8, np.int64))
    with pytest.raises(DataError, match=r"^pred holds class ids outside \[0, 3\): 3, 4, 5, 6, 7, 8, 9, 10 and 1 more \(10 pixels\); "):
        cm.update(np.r_[np.arange(3, 12), 3], np.zeros(10, np.int64))


@pytest.mark.parametrize(("logits", "axis", "message"), [
    (np.zeros((2, 3), bool), 1, r"^logits must be a real numeric array, got dtype bool, shape \(2, 3\)$"),
    (np.float32(1.0), 0, r"^logits must be a real numeric array, got dtype float32, shape \(\)$"),
    (np.zeros((2, 3)), 2, r"^logits axis 2 is out of range for logits of shape \(2, 3\)$"),
    (np.zeros((2, 3)), -3, r"^logits axis -3 is out of range"),
])
def test_bad_logits_are_refused_with_their_message(logits, axis, message):
    with pytest.raises(DataError, match=message):
        ConfusionMatrix(3).update_logits(logits, np.zeros(2, np.int64), axis=axis)
    cm = ConfusionMatrix(3)
    cm.update_logits(np.eye(3)[[2, 0]], [2, 0], axis=-1)  # the last axis, given as -1
    np.testing.assert_array_equal(cm.matrix, [[1, 0, 0], [0, 0, 0], [0, 0, 1]])
    cm.update_logits(np.eye(3)[[1, 1]].T, [0, 1], axis=-2)  # axis -ndim is the first axis
    np.testing.assert_array_equal(cm.matrix, [[1, 1, 0], [0, 1, 0], [0, 0, 1]])
    one = ConfusionMatrix(2)
    one.update_logits(np.array([0.1, 0.9]), np.array(1), axis=0)  # 1-D scores of one pixel
    np.testing.assert_array_equal(one.matrix, [[0, 0], [0, 1]])


def test_a_label_of_another_shape_than_the_logits_is_refused_naming_both():
    with pytest.raises(DataError, match=r"^label shape \(2, 4\) does not match logits shape \(2, 3, 5\) without axis 1 \(expected \(2, 5\)\)$"):
        ConfusionMatrix(3).update_logits(np.zeros((2, 3, 5)), np.zeros((2, 4), np.int64), axis=1)


@pytest.mark.parametrize(("matrix", "message"), [
    (np.zeros(3, np.int64), r"^a confusion matrix must be a non-empty square 2-D array, got shape \(3,\)$"),
    (np.zeros((2, 3), np.int64), r"^a confusion matrix must be a non-empty square 2-D array, got shape \(2, 3\)$"),
    (np.zeros((0, 0), np.int64), r"^a confusion matrix must be a non-empty square 2-D array, got shape \(0, 0\)$"),
    (np.zeros((2, 2)), r"^a confusion matrix holds integer counts, got dtype float64$"),
    (np.array([[1, -1], [0, 0]]), r"^a confusion matrix holds non-negative counts, got minimum -1$"),
])
def test_from_matrix_refusals(matrix, message):
    with pytest.raises(ValueError, match=message):
        ConfusionMatrix.from_matrix(matrix)


def test_from_matrix_at_its_limits():
    one = ConfusionMatrix.from_matrix([[0]])  # 1 x 1, all zero: allowed
    assert one.num_classes == 1 and one.total == 0
    m = np.array([[3, 0], [1, 2]], np.uint8)
    cm = ConfusionMatrix.from_matrix(m, ignore_index=None)
    np.testing.assert_array_equal(cm.matrix, m)
    assert cm.matrix.dtype == np.int64 and cm.ignore_index is None and cm.total == 6
    m[0, 0] = 9
    assert cm.total == 6  # copied
