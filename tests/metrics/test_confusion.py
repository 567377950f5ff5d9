"""ConfusionMatrix against scikit-learn and a per-pixel loop; merge/ignore properties; bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import confusion_matrix

from harness.errors import DataError, ResultsError
from harness.metrics.confusion import ConfusionMatrix, per_image_confusion


def loop_oracle(pred, label, num_classes, ignore_index):
    """The dumb reference: one Python step per pixel."""
    out = [[0] * num_classes for _ in range(num_classes)]
    for p, t in zip(np.asarray(pred).ravel().tolist(), np.asarray(label).ravel().tolist()):
        if ignore_index is not None and t == ignore_index:
            continue
        out[t][p] += 1
    return np.array(out, dtype=np.int64)


def random_pair(rng, shape, c, ignore, frac=0.15, dtype=np.int64):
    label = rng.integers(0, c, shape)
    pred = rng.integers(0, c, shape)
    if ignore is not None:
        label[rng.random(shape) < frac] = ignore
    return pred.astype(dtype), label.astype(np.int64 if ignore is not None and ignore < 0 else dtype)


@pytest.mark.filterwarnings("ignore:A single label was found")
@pytest.mark.parametrize("ignore", [255, -1, None, 70000])  # 70000: the masking path (wide histogram too big)
@pytest.mark.parametrize("c", [1, 2, 25])
def test_matches_loop_oracle_and_sklearn(ignore, c):
    rng = np.random.default_rng(c)
    pred, label = random_pair(rng, (2, 13, 17), c, ignore, dtype=np.int32 if ignore == 70000 else np.int64)
    cm = ConfusionMatrix(c, ignore)
    cm.update(pred, label)
    assert cm.matrix.dtype == np.int64
    np.testing.assert_array_equal(cm.matrix, loop_oracle(pred, label, c, ignore))
    keep = np.ones(label.shape, bool) if ignore is None else label != ignore
    np.testing.assert_array_equal(cm.matrix, confusion_matrix(label[keep], pred[keep], labels=list(range(c))))


@pytest.mark.parametrize(
    "dtype", [np.uint8, np.int8, np.uint16, np.int16, np.int32, np.uint32, np.int64, np.uint64, ">i4", ">u2"]
)
def test_all_integer_dtypes_agree_with_sklearn(dtype):
    rng = np.random.default_rng(3)
    label = rng.integers(0, 19, (3, 40, 50))
    pred = rng.integers(0, 19, label.shape)
    ignore = 255 if np.iinfo(np.dtype(dtype)).max >= 255 else -1
    label[rng.random(label.shape) < 0.1] = ignore
    cm = ConfusionMatrix(19, ignore)
    cm.update(pred.astype(dtype), label.astype(dtype))
    keep = label != ignore
    np.testing.assert_array_equal(cm.matrix, confusion_matrix(label[keep], pred[keep], labels=list(range(19))))


def test_spans_several_chunks_with_and_without_ignore():
    rng = np.random.default_rng(4)
    pred, label = random_pair(rng, (3, 300, 301), 25, 255, frac=0.02, dtype=np.uint8)
    label[0] = np.where(label[0] == 255, 3, label[0])  # first image has no ignored pixel: the no-mask path
    cm = ConfusionMatrix(25)
    cm.update(pred, label)
    keep = label != 255
    np.testing.assert_array_equal(cm.matrix, confusion_matrix(label[keep], pred[keep], labels=list(range(25))))


def test_update_logits_argmaxes_along_axis():
    rng = np.random.default_rng(5)
    logits = rng.normal(size=(2, 4, 6, 5)).astype(np.float32)
    label = rng.integers(0, 4, (2, 6, 5))
    label[0, 0, 0] = 255
    a = ConfusionMatrix(4)
    a.update_logits(logits, label, axis=1)
    b = ConfusionMatrix(4)
    b.update_logits(np.moveaxis(logits, 1, -1), label, axis=-1)
    pred = np.zeros(label.shape, np.int64)
    for idx in np.ndindex(*label.shape):  # argmax by hand
        n, y, x = idx
        scores = [logits[n, k, y, x] for k in range(4)]
        pred[idx] = scores.index(max(scores))
    np.testing.assert_array_equal(a.matrix, loop_oracle(pred, label, 4, 255))
    assert a == b
    with pytest.raises(DataError, match="expected num_classes=4"):
        ConfusionMatrix(4).update_logits(logits, label, axis=2)
    with pytest.raises(DataError, match="label shape"):
        ConfusionMatrix(4).update_logits(logits, label[:, :3], axis=1)


def test_per_image_confusion_sums_to_batch_matrix():
    rng = np.random.default_rng(6)
    pred, label = random_pair(rng, (5, 9, 11), 6, 255)
    per = per_image_confusion(pred, label, 6)
    assert per.shape == (5, 6, 6)
    for i in range(5):
        np.testing.assert_array_equal(per[i], loop_oracle(pred[i], label[i], 6, 255))
    cm = ConfusionMatrix(6)
    cm.update(pred, label)
    np.testing.assert_array_equal(per.sum(axis=0), cm.matrix)


batches = st.lists(st.tuples(st.integers(0, 2**31 - 1), st.integers(0, 60)), min_size=1, max_size=6)


@settings(max_examples=40, deadline=None)
@given(batches, st.randoms(use_true_random=False))
def test_merge_is_order_independent_and_equals_one_update(specs, shuffler):
    c = 7
    pairs = [random_pair(np.random.default_rng(seed), (n,), c, 255) for seed, n in specs]
    parts = []
    for p, lab in pairs:
        cm = ConfusionMatrix(c)
        cm.update(p, lab)
        parts.append(cm)
    whole = ConfusionMatrix(c)
    whole.update(np.concatenate([p for p, _ in pairs]), np.concatenate([lab for _, lab in pairs]))
    shuffled = parts[:]
    shuffler.shuffle(shuffled)
    assert parts[0].merge(*parts[1:]) == whole
    assert shuffled[0].merge(*shuffled[1:]) == whole
    total = ConfusionMatrix(c)
    for part in shuffled:
        total = total + part
    assert total == whole


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**31 - 1), st.integers(1, 200), st.sampled_from([255, -1, 70000]))
def test_ignored_pixels_change_nothing(seed, n, ignore):
    rng = np.random.default_rng(seed)
    pred, label = random_pair(rng, (n,), 5, None)
    base = ConfusionMatrix(5, ignore)
    base.update(pred, label)
    extra = rng.integers(0, 5, n)  # any prediction at ignored pixels
    more = ConfusionMatrix(5, ignore)
    more.update(np.concatenate([pred, extra]), np.concatenate([label, np.full(n, ignore)]))
    assert more == base


def test_json_round_trip_is_exact_and_compact():
    rng = np.random.default_rng(7)
    pred, label = random_pair(rng, (4, 50, 50), 25, 255)
    cm = ConfusionMatrix(25)
    cm.update(pred, label)
    cm._matrix[3, 4] = 2**62  # large counts survive exactly
    text = json.dumps(cm.to_dict())
    assert ConfusionMatrix.from_dict(json.loads(text)) == cm
    empty = ConfusionMatrix(3, None)
    assert ConfusionMatrix.from_dict(json.loads(json.dumps(empty.to_dict()))) == empty
    diag = ConfusionMatrix.from_matrix(np.diag([5, 6, 7]))
    assert len(json.dumps(diag.to_dict())) < 120


@pytest.mark.parametrize(
    "mutate, field",
    [
        (lambda d: d.pop("count"), "keys missing"),
        (lambda d: d.update(extra=1), "unexpected"),
        (lambda d: d.update(format="other/1"), "'format'"),
        (lambda d: d.update(num_classes=0), "'num_classes'"),
        (lambda d: d.update(num_classes=True), "'num_classes'"),
        (lambda d: d.update(ignore_index=1), "'ignore_index'"),
        (lambda d: d.update(index=[1, 0], count=[1, 1]), "'index'"),
        (lambda d: d.update(index=[9], count=[1]), "'index'"),
        (lambda d: d.update(index=[0], count=[-1]), "'count'"),
        (lambda d: d.update(index=[0], count=[1.5]), "'count'"),
        (lambda d: d.update(index=[0], count=[2**64]), "'count'"),
        (lambda d: d.update(index="0,1", count=[1]), "'index'"),
        (lambda d: d.update(index=[0, 1], count=[1]), "'count'"),
    ],
)
def test_malformed_dicts_are_one_line_results_errors(mutate, field):
    d = ConfusionMatrix.from_matrix(np.array([[1, 2, 0], [0, 3, 0], [0, 0, 0]])).to_dict()
    mutate(d)
    with pytest.raises(ResultsError, match=field) as err:
        ConfusionMatrix.from_dict(d, where="results.json: cells['emm/clean'].state")
    assert "\n" not in str(err.value) and str(err.value).startswith("results.json: cells['emm/clean'].state")


def test_bad_input_names_values_and_argument():
    cm = ConfusionMatrix(25)
    ok = np.array([1, 2, 3])
    with pytest.raises(DataError, match=r"pred shape \(2,\) does not match label shape \(3,\)"):
        cm.update(np.array([1, 2]), ok)
    with pytest.raises(DataError, match=r"cell x: label holds values outside \[0, 25\).*: 30, 99 \(2 pixels\)"):
        cm.update(ok, np.array([30, 2, 99]), where="cell x")
    with pytest.raises(DataError, match=r"label holds .*: -3 \(1 pixel\)"):
        cm.update(ok, np.array([1, -3, 2]))
    with pytest.raises(DataError, match=r"label has dtype float64"):
        cm.update(ok, np.array([1.0, 2.0, 3.0]))
    with pytest.raises(DataError, match=r"pred has dtype bool"):
        cm.update(np.array([True, False, True]), ok)
    with pytest.raises(DataError, match=r"pred holds class ids outside \[0, 25\): -1, 25"):
        cm.update(np.array([25, -1, 0]), ok)
    assert cm.total == 0  # nothing was counted by the failed updates


def test_errors_found_late_leave_state_untouched():
    rng = np.random.default_rng(8)
    pred, label = random_pair(rng, (200_000,), 25, 255, dtype=np.uint8)
    label[-1] = 100  # between the classes and ignore_index, in the last chunk
    cm = ConfusionMatrix(25)
    with pytest.raises(DataError, match=r": 100 \(1 pixel\)"):
        cm.update(pred, label)
    pred2 = pred.copy()
    label[-1] = 0
    pred2[150_000] = 40
    with pytest.raises(DataError, match=r"pred holds class ids outside \[0, 25\): 40"):
        cm.update(pred2, label)
    assert cm.total == 0


def test_masking_path_reports_bad_labels():
    cm = ConfusionMatrix(25, 70000)
    with pytest.raises(DataError, match=r"other than ignore_index 70000: 26 \(1 pixel\)"):
        cm.update(np.array([1, 2, 3]), np.array([70000, 26, 1]))
    cm.update(np.array([1, 2, 3]), np.array([70000, 24, 1]))
    assert cm.total == 2


def test_bad_configuration_and_merge():
    with pytest.raises(ValueError, match="ignore_index 3 is a valid class id"):
        ConfusionMatrix(5, 3)
    with pytest.raises(ValueError, match="num_classes"):
        ConfusionMatrix(0)
    with pytest.raises(ResultsError, match="different set-ups"):
        ConfusionMatrix(5).merge(ConfusionMatrix(6))
    with pytest.raises(ResultsError, match="different set-ups"):
        ConfusionMatrix(5) + ConfusionMatrix(5, None)
    with pytest.raises(ValueError, match="non-negative"):
        ConfusionMatrix.from_matrix(np.array([[1, -1], [0, 0]]))


def test_matrix_view_is_read_only():
    cm = ConfusionMatrix(2)
    with pytest.raises(ValueError):
        cm.matrix[0, 0] = 5


def test_metrics_package_imports_and_computes_without_torch_or_scipy():
    code = (
        "import sys\n"
        "for name in ('torch', 'scipy', 'sklearn', 'cv2', 'onnxruntime'): sys.modules[name] = None\n"
        "import harness.metrics, harness.metrics.bias, harness.metrics.stats, harness.metrics.robustness\n"
        "import harness.metrics.segmentation, harness.metrics.confusion\n"
        "import numpy as np\n"
        "from harness.metrics import ConfusionMatrix, per_image_confusion, scores\n"
        "from harness.metrics.robustness import aggregate, shapley\n"
        "from harness.metrics.stats import bootstrap_segmentation, bootstrap_samples\n"
        "from harness.metrics.bias import multimodal_gain\n"
        "rng = np.random.default_rng(0)\n"
        "pred, label = rng.integers(0, 3, (4, 8, 8)), rng.integers(0, 3, (4, 8, 8))\n"
        "cm = ConfusionMatrix(3); cm.update(pred, label); cm.update_logits(rng.normal(size=(4, 3, 8, 8)), label)\n"
        "scores(cm, paper_rounding=True)\n"
        "bootstrap_segmentation(per_image_confusion(pred, label, 3), n_boot=20, seed=0)\n"
        "bootstrap_samples({'c': rng.random(10) > 0.5}, lambda cols: float(cols['c'].mean()), n_boot=20, seed=0)\n"
        "table = {frozenset('a'): 1.0, frozenset('b'): 2.0, frozenset(): 3.0}\n"
        "aggregate(table, ['a', 'b']); shapley(table, ['a', 'b'])\n"
        "multimodal_gain([1, 0, 1], [0, 0, 1])\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


@pytest.mark.parametrize("ignore_index", [255, -1, 6, None])
def test_per_image_confusion_matches_a_per_image_loop(ignore_index):
    """The one-bincount batch path equals one ConfusionMatrix per image, ignored pixels included."""
    rng = np.random.default_rng(7)
    pred = rng.integers(0, 6, (5, 9, 11))
    label = rng.integers(0, 6, (5, 9, 11))
    if ignore_index is not None:
        label[rng.random(label.shape) < 0.2] = ignore_index
    per = per_image_confusion(pred, label, 6, ignore_index)
    for i in range(5):
        single = ConfusionMatrix(6, ignore_index=ignore_index)
        single.update(pred[i], label[i])
        np.testing.assert_array_equal(per[i], single.matrix)


@pytest.mark.parametrize(("bad_pred", "bad_label"), [(6, 0), (-1, 0), (0, 7), (0, -2)])
def test_per_image_confusion_rejects_out_of_range_values(bad_pred, bad_label):
    pred = np.zeros((3, 4, 4), dtype=np.int64)
    label = np.zeros((3, 4, 4), dtype=np.int64)
    pred[2, 1, 1], label[2, 1, 1] = bad_pred, bad_label
    with pytest.raises(ValueError, match="outside"):
        per_image_confusion(pred, label, 6, 255)
