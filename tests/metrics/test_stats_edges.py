"""Bootstrap arguments and intervals at their edges (issue 19): the smallest valid inputs,
each invalid one refused by its message, a value exactly on an interval bound, undefined bounds."""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness.metrics.stats import ConfidenceInterval, bootstrap_segmentation

ONE_IMAGE = np.array([[[3, 1], [0, 2]]])  # one image, two classes


def _ci(low: float, high: float) -> ConfidenceInterval:
    return ConfidenceInterval(estimate=0.5, low=low, high=high, level=0.95, n_boot=10, seed=0)


def test_a_value_on_a_bound_is_inside_and_undefined_intervals_exclude_nothing():
    ci = _ci(0.0, 1.0)
    assert ci.is_defined and not ci.excludes(0.0) and not ci.excludes(1.0)
    assert ci.excludes(math.nextafter(1.0, 2.0)) and ci.excludes(math.nextafter(0.0, -1.0))
    for low, high in ((math.nan, 1.0), (0.0, math.nan), (math.nan, math.nan)):
        assert not _ci(low, high).is_defined and not _ci(low, high).excludes(5.0)


def test_the_smallest_valid_bootstrap():
    ci = bootstrap_segmentation(ONE_IMAGE, n_boot=1, level=math.nextafter(0.0, 1.0), seed=0)
    assert ci.n_boot == 1 and ci.seed == 0 and ci.low == ci.high == ci.estimate  # one image: every resample is it
    assert bootstrap_segmentation(ONE_IMAGE, n_boot=3, level=math.nextafter(1.0, 0.0), seed=0).to_dict()["method"] == "percentile"


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"n_boot": 0}, r"^n_boot must be a positive int, got 0$"),
    ({"n_boot": True}, r"^n_boot must be a positive int, got True$"),
    ({"n_boot": 2.0}, r"^n_boot must be a positive int, got 2\.0$"),
    ({"level": 0.0}, r"^level must be in \(0, 1\), e\.g\. 0\.95, got 0\.0$"),
    ({"level": 1.0}, r"^level must be in \(0, 1\), e\.g\. 0\.95, got 1\.0$"),
    ({"seed": -1}, r"^seed must be a non-negative int, got -1$"),
    ({"seed": True}, r"^seed must be a non-negative int, got True$"),
])
def test_invalid_bootstrap_arguments_are_refused_with_their_message(kwargs, message):
    with pytest.raises(ValueError, match=message):
        bootstrap_segmentation(ONE_IMAGE, **kwargs)


def test_no_image_is_refused():
    with pytest.raises(ValueError, match=r"^bootstrap needs at least one image/sample, got 0$"):
        bootstrap_segmentation(np.zeros((0, 2, 2), np.int64))


def test_paired_and_joint_bootstraps_check_their_arguments_and_inputs():
    from harness.metrics.stats import joint_bootstrap_replicates, paired_bootstrap_segmentation

    with pytest.raises(ValueError, match=r"^n_boot must be a positive int, got 0$"):
        paired_bootstrap_segmentation(ONE_IMAGE, ONE_IMAGE, n_boot=0)
    with pytest.raises(ValueError, match=r"^seed must be a non-negative int, got -1$"):
        joint_bootstrap_replicates({"a": ONE_IMAGE}, seed=-1)
    assert joint_bootstrap_replicates({}) == {}
    negative = np.array([[[1, -1], [0, 1]]])
    with pytest.raises(ValueError, match=r"^per_image_a: confusion counts must be non-negative$"):
        paired_bootstrap_segmentation(negative, ONE_IMAGE)
    with pytest.raises(ValueError, match=r"^per_image_b: expected integer per-image confusion matrices of shape \(n_images, C, C\), got float64 \(1, 2, 2\)$"):
        paired_bootstrap_segmentation(ONE_IMAGE, ONE_IMAGE.astype(float))
    same = paired_bootstrap_segmentation(ONE_IMAGE, ONE_IMAGE, n_boot=5)
    assert (same.estimate, same.low, same.high) == (0.0, 0.0, 0.0)


def test_bootstrap_samples_refusals_and_paired_draws():
    from harness.metrics.stats import bootstrap_samples

    with pytest.raises(ValueError, match=r"^bootstrap_samples needs at least one column$"):
        bootstrap_samples({}, lambda c: 0.0)
    for columns in ({"a": [1, 0], "b": [1]}, {"a": [1, 0], "b": 1}):
        with pytest.raises(ValueError, match=r"^every column must be an array over the same samples; lengths: "):
            bootstrap_samples(columns, lambda c: 0.0)
    with pytest.raises(ValueError, match=r"^n_boot must be a positive int, got 0$"):
        bootstrap_samples({"a": [1, 0]}, lambda c: 0.0, n_boot=0)
    # the same indices in every column: a - a is 0 in every resample
    ci = bootstrap_samples({"a": [1.0, 0.0, 3.0], "b": [1.0, 0.0, 3.0]}, lambda c: float(np.mean(c["a"] - c["b"])), n_boot=50)
    assert (ci.estimate, ci.low, ci.high, ci.n_boot) == (0.0, 0.0, 0.0, 50)
    mean = bootstrap_samples({"a": [2.0, 2.0]}, lambda c: float(np.mean(c["a"])), n_boot=7)
    assert (mean.estimate, mean.low, mean.high) == (2.0, 2.0, 2.0)


def test_non_square_matrices_are_refused():
    with pytest.raises(ValueError, match=r"^per_image: expected integer per-image confusion matrices of shape \(n_images, C, C\), got int64 \(1, 2, 3\)$"):
        bootstrap_segmentation(np.zeros((1, 2, 3), np.int64))


def test_resampled_sums_just_beyond_float_precision_stay_exact():
    """n * total = 3 * (2^52 + 2^50 + 1) lies between 2^53 and 2^54: a resample drawing image 0
    three times sums to an odd number above 2^53, which float64 cannot hold; its parity shows it."""
    from harness.metrics.stats import joint_bootstrap_replicates

    x0 = 2**52 + 2**50 + 1
    images = np.array([[[x0]], [[0]], [[0]]], np.int64)
    reps = joint_bootstrap_replicates({"a": images}, lambda s: np.asarray(s)[:, 0, 0] % 2, n_boot=200, seed=4)["a"]
    draws = np.random.default_rng(4).integers(0, 3, size=(200, 3))  # the documented draws, in one block
    expected = [sum(int(images[i, 0, 0]) for i in row) % 2 for row in draws]  # Python integers: exact
    assert 3 in {int(np.count_nonzero(row == 0)) for row in draws}  # some resample holds image 0 three times
    assert reps.tolist() == expected


@pytest.mark.parametrize("columns", [{"a": 1.0}, {"a": [1.0], "b": 1.0}])
def test_scalar_columns_are_refused(columns):
    from harness.metrics.stats import bootstrap_samples

    with pytest.raises(ValueError, match=r"^every column must be an array over the same samples; lengths: \{'a': "):
        bootstrap_samples(columns, lambda c: 0.0)
