"""Segmentation figures against scikit-learn, hand-made matrices and relabelling properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import accuracy_score, f1_score, jaccard_score, recall_score

from harness.metrics.confusion import ConfusionMatrix
from harness.metrics.segmentation import (
    mean_accuracy,
    mean_f1,
    mean_iou,
    paper_round,
    per_class_accuracy,
    per_class_f1,
    per_class_iou,
    pixel_accuracy,
    scores,
)


def pixels(seed, c=6, n=3000, absent=(4,)):
    """Labels and predictions over ``c`` classes where the ``absent`` classes never occur."""
    rng = np.random.default_rng(seed)
    present = [k for k in range(c) if k not in absent]
    label = rng.choice(present, n)
    pred = np.where(rng.random(n) < 0.6, label, rng.choice(present, n))
    return pred, label


def test_iou_f1_recall_accuracy_match_sklearn_with_absent_class_as_zero():
    pred, label = pixels(0)
    pred[:5] = 5  # class 5 predicted a little; class 4 absent from both
    cm = ConfusionMatrix(6)
    cm.update(pred, label)
    labels = list(range(6))
    np.testing.assert_allclose(per_class_iou(cm), 100 * jaccard_score(label, pred, labels=labels, average=None, zero_division=0))
    np.testing.assert_allclose(per_class_f1(cm), 100 * f1_score(label, pred, labels=labels, average=None, zero_division=0))
    np.testing.assert_allclose(
        per_class_accuracy(cm), 100 * recall_score(label, pred, labels=labels, average=None, zero_division=0)
    )
    assert pixel_accuracy(cm) == pytest.approx(100 * accuracy_score(label, pred))
    assert mean_iou(cm, absent="zero") == pytest.approx(
        100 * jaccard_score(label, pred, labels=labels, average="macro", zero_division=0)
    )


def test_conventions_differ_only_on_classes_absent_from_labels_and_predictions():
    # rows = truth, cols = prediction; class 2 absent everywhere, class 3 predicted but never labelled
    m = np.array([[3, 1, 0, 0], [0, 4, 0, 2], [0, 0, 0, 0], [0, 0, 0, 0]])
    # IoU0 = 3/(4+3-3) = 3/4 ; IoU1 = 4/(6+5-4) = 4/7 ; IoU2 undefined ; IoU3 = 0/(0+2-0) = 0
    iou_zero = [75.0, 400 / 7, 0.0, 0.0]
    np.testing.assert_allclose(per_class_iou(m, absent="zero"), iou_zero)
    nan = per_class_iou(m, absent="nan")
    assert math.isnan(nan[2]) and nan[3] == 0.0
    assert mean_iou(m, absent="zero") == pytest.approx((75 + 400 / 7) / 4)
    assert mean_iou(m, absent="nan") == pytest.approx((75 + 400 / 7) / 3)
    # accuracy is undefined for classes without labels: 2 and 3
    assert mean_accuracy(m, absent="zero") == pytest.approx((75 + 400 / 6) / 4)
    assert mean_accuracy(m, absent="nan") == pytest.approx((75 + 400 / 6) / 2)
    # F1 = 2 tp / (row + col): 6/7, 8/11, undefined, 0
    assert mean_f1(m, absent="zero") == pytest.approx((600 / 7 + 800 / 11) / 4)
    assert pixel_accuracy(m) == pytest.approx(700 / 10)


def test_empty_matrix_and_bad_arguments():
    empty = np.zeros((3, 3), np.int64)
    assert mean_iou(empty, absent="zero") == 0.0
    assert math.isnan(mean_iou(empty, absent="nan"))
    assert math.isnan(pixel_accuracy(empty))
    with pytest.raises(ValueError, match="absent must be 'zero'"):
        mean_iou(empty, absent="ignore")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"shape \(\.\.\., C, C\)"):
        mean_iou(np.zeros((3, 4), np.int64))
    with pytest.raises(ValueError, match="integers"):
        mean_iou(np.zeros((3, 3)))


def test_stacks_of_matrices_give_stacks_of_figures():
    rng = np.random.default_rng(1)
    stack = rng.integers(0, 50, (5, 4, 4))
    stack[2, 1, :] = 0
    stack[2, :, 1] = 0
    for fn in (mean_iou, mean_accuracy, mean_f1):
        for absent in ("zero", "nan"):
            batched = fn(stack, absent=absent)
            assert batched.shape == (5,)
            np.testing.assert_allclose(batched, [fn(m, absent=absent) for m in stack])
    np.testing.assert_allclose(pixel_accuracy(stack), [pixel_accuracy(m) for m in stack])


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**31 - 1), st.permutations(list(range(5))))
def test_relabelling_permutes_per_class_iou(seed, perm):
    pred, label = pixels(seed, c=5, n=400, absent=(3,))
    perm = np.array(perm)
    a, b = ConfusionMatrix(5), ConfusionMatrix(5)
    a.update(pred, label)
    b.update(perm[pred], perm[label])
    for absent in ("zero", "nan"):
        iou_a, iou_b = per_class_iou(a, absent=absent), per_class_iou(b, absent=absent)
        np.testing.assert_array_equal(iou_b[perm], iou_a)
        assert mean_iou(b, absent=absent) == pytest.approx(mean_iou(a, absent=absent))


def test_paper_round_two_decimals_and_scores():
    assert paper_round(45.678) == 45.68
    assert paper_round(0.125) == 0.12  # NumPy/DELIVER round half to even
    # scalars like DELIVER's round(miou, 2), arrays like its .numpy().round(2): 0.015 is stored
    # as 0.01499999..., which Python rounds down while NumPy's x*100 = 1.5 -> rint rounds up
    assert paper_round(0.015) == round(0.015, 2) == 0.01
    np.testing.assert_array_equal(paper_round(np.array([0.015, 1.234])), [0.02, 1.23])
    m = ConfusionMatrix.from_matrix(np.array([[3, 1, 0], [0, 4, 0], [0, 0, 0]]))
    s = scores(m)
    assert s.miou_absent_zero == pytest.approx((75 + 80) / 3)
    assert s.miou_absent_nan == pytest.approx((75 + 80) / 2)
    assert s.pixels == 8
    r = scores(m, paper_rounding=True)
    assert r.miou_absent_zero == 51.67 and r.iou_absent_zero == (75.0, 80.0, 0.0)
    d = scores(ConfusionMatrix(2)).to_dict()
    assert d["miou_absent_nan"] is None and d["pixel_accuracy"] is None and d["miou_absent_zero"] == 0.0
