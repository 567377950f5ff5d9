"""ConfusionMatrix at the edges (issue 19): class ids at the limits of their ranges on every
binning path (wide histogram, masking, negative ignore_index beyond the wide limit), each bad
set-up and bad input by its message, and from_matrix's refusals."""

from __future__ import annotations

import re

import numpy as np
import pytest

from harness.errors import DataError, ResultsError
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


def _dict(**changes):
    base = {"format": "mmharness.confusion/1", "num_classes": 3, "ignore_index": 255, "index": [0, 8], "count": [1, 2]}
    return {**base, **changes}


@pytest.mark.parametrize("changes", [
    {"num_classes": 1, "index": [0]}, {"ignore_index": 3}, {"ignore_index": -1}, {"ignore_index": None},
    {"index": [0, 8]}, {"count": [1, 2**63 - 1]}, {"index": [], "count": []},
])
def test_from_dict_accepts_every_value_at_the_edge_of_its_range(changes):
    data = _dict(**changes)
    if "count" not in changes:
        data["count"] = [1] * len(data["index"])
    cm = ConfusionMatrix.from_dict(data)
    assert cm.to_dict() == data


@pytest.mark.parametrize(("changes", "message"), [
    ({"num_classes": 0}, r"field 'num_classes': expected a positive integer, got 0"),
    ({"ignore_index": 2}, r"field 'ignore_index': expected null or an integer outside \[0, 3\), got 2"),
    ({"ignore_index": 0}, r"field 'ignore_index': expected null or an integer outside \[0, 3\), got 0"),
    ({"ignore_index": "255"}, r"field 'ignore_index': expected null or an integer outside \[0, 3\), got '255'"),
    ({"index": [0, 9]}, r"field 'index': expected strictly increasing flat indices in \[0, 9\)"),
    ({"index": [-1, 0]}, r"field 'index': expected strictly increasing flat indices in \[0, 9\)"),
    ({"index": [4, 4]}, r"field 'index': expected strictly increasing flat indices in \[0, 9\)"),
    ({"count": [1, 0]}, r"field 'count': expected positive counts, got 0"),
    ({"count": [1, 2**63]}, r"field 'count': expected a list of 64-bit integers"),
    ({"index": [-(2**63) - 1, 0]}, r"field 'index': expected a list of 64-bit integers"),
    ({"index": [-(2**63), 0]}, r"field 'index': expected strictly increasing flat indices in \[0, 9\)"),  # a 64-bit integer, out of range
])
def test_from_dict_refuses_every_value_just_outside_its_range(changes, message):
    with pytest.raises(ResultsError, match=r"^cell x: " + message + r"; the results file is corrupt or foreign — re-run the cell$"):
        ConfusionMatrix.from_dict(_dict(**changes), where="cell x")


def test_from_dict_refuses_a_non_object_and_equality_needs_the_same_set_up():
    with pytest.raises(ResultsError, match=r"^confusion matrix: expected a JSON object, got list; the results file is corrupt$"):
        ConfusionMatrix.from_dict([1, 2])
    assert ConfusionMatrix(3, 255) != ConfusionMatrix(3, None)  # equal (zero) matrices, other set-up
    assert ConfusionMatrix(3) != ConfusionMatrix(4) and ConfusionMatrix(3) == ConfusionMatrix(3)
    assert (ConfusionMatrix(3) == "x") is False and ConfusionMatrix(3).__eq__("x") is NotImplemented


def test_per_image_confusion_limits_and_messages_on_both_paths():
    from harness.metrics.confusion import per_image_confusion

    one_pixel = per_image_confusion(np.array([0, 1]), np.array([0, 1]), 2)  # 1-D: two images of one pixel
    np.testing.assert_array_equal(one_pixel, [[[1, 0], [0, 0]], [[0, 0], [0, 1]]])
    with pytest.raises(DataError, match=r"^per-image matrices need a leading batch axis, got a scalar$"):
        per_image_confusion(np.int64(1), np.int64(1), 3)
    with pytest.raises(ValueError, match=r"^num_classes must be a positive int, got 0$"):
        per_image_confusion(np.zeros((1, 2), np.int64), np.zeros((1, 2), np.int64), 0)
    # small batches: one pass over the batch; its errors name no image
    small = (np.zeros((2, 4), np.int64), np.zeros((2, 4), np.int64))
    for pred_value, label_value, message in ((3, 0, r"^pred holds class ids outside \[0, 3\): 3 \(1 pixel\)"),
                                             (0, 254, r"^label holds values outside \[0, 3\) other than ignore_index 255: 254 \(1 pixel\)"),
                                             (0, 256, r"^label holds values outside \[0, 3\) other than ignore_index 255: 256 \(1 pixel\)"),
                                             (0, -1, r"^label holds values outside \[0, 3\) other than ignore_index 255: -1 \(1 pixel\)")):
        pred, label = small[0].copy(), small[1].copy()
        pred[1, 2], label[1, 3] = pred_value, label_value
        with pytest.raises(DataError, match=message):
            per_image_confusion(pred, label, 3)
    # beyond the wide histogram (300 classes, ignore -1): one count per image, errors name it
    pred, label = np.zeros((2, 4), np.int64), np.zeros((2, 4), np.int64)
    pred[1, 0] = 300
    with pytest.raises(DataError, match=r"^image 1: pred holds class ids outside \[0, 300\): 300 \(1 pixel\)"):
        per_image_confusion(pred, label, 300, -1)
    label[0, 0], pred[1, 0] = -1, 299
    np.testing.assert_array_equal(per_image_confusion(pred, label, 300, -1).sum(axis=(1, 2)), [3, 4])


def test_a_label_below_a_negative_ignore_index_in_a_later_image_is_refused_not_counted_in_an_earlier_one():
    from harness.metrics.confusion import per_image_confusion

    label = np.array([[0, 1], [-2, 0]])  # ignore_index -1: -2 lies below even the wide histogram's rows
    with pytest.raises(DataError, match=r"^label holds values outside \[0, 3\) other than ignore_index -1: -2 \(1 pixel\)"):
        per_image_confusion(np.zeros((2, 2), np.int64), label, 3, -1)
    beyond = np.array([[256, 0], [0, 1]])  # ignore_index 255: 256 is one past the wide histogram's last row
    with pytest.raises(DataError, match=r"^label holds values outside \[0, 3\) other than ignore_index 255: 256 \(1 pixel\)"):
        per_image_confusion(np.zeros((2, 2), np.int64), beyond, 3)
    above = np.array([[3, 0], [0, 1]])  # ignore_index -1: rows -1..2, so 3 is one past the last row
    with pytest.raises(DataError, match=r"^label holds values outside \[0, 3\) other than ignore_index -1: 3 \(1 pixel\)"):
        per_image_confusion(np.zeros((2, 2), np.int64), above, 3, -1)


def test_repr_names_the_set_up_and_the_total():
    cm = ConfusionMatrix(3, 255)
    cm.update(np.array([0, 1]), np.array([0, 2]))
    assert repr(cm) == "ConfusionMatrix(num_classes=3, ignore_index=255, total=2)"


@pytest.mark.parametrize(("images", "prefix"), [(1024, ""), (1025, "image 3: ")])
def test_per_image_batches_up_to_2_to_the_20_bins_are_counted_in_one_pass(images, prefix):
    """4 classes, ignore 255: 256 label rows x 4 = 1024 bins per image, so 1024 images fill
    2^20 bins (one pass, whose errors name no image) and 1025 go image by image (errors name it)."""
    from harness.metrics.confusion import per_image_confusion

    pred, label = np.zeros((images, 1), np.int64), np.zeros((images, 1), np.int64)
    pred[3, 0] = 4
    with pytest.raises(DataError, match="^" + re.escape(prefix) + r"pred holds class ids outside \[0, 4\): 4 \(1 pixel\)"):
        per_image_confusion(pred, label, 4)
