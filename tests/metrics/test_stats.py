"""Bootstrap CIs: determinism, agreement with a naive resampling loop, coverage, pairing."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from harness.metrics import bias
from harness.metrics.confusion import per_image_confusion
from harness.metrics.segmentation import mean_iou
from harness.metrics.stats import (
    bootstrap_samples,
    bootstrap_segmentation,
    joint_bootstrap_replicates,
    paired_bootstrap_segmentation,
)


def per_image(seed, n=40, c=4, hw=(12, 10), acc=0.7):
    rng = np.random.default_rng(seed)
    label = rng.integers(0, c, (n, *hw))
    pred = np.where(rng.random(label.shape) < acc, label, rng.integers(0, c, label.shape))
    label[rng.random(label.shape) < 0.05] = 255
    return per_image_confusion(pred, label, c)


def test_deterministic_given_seed():
    m = per_image(0)
    a = bootstrap_segmentation(m, n_boot=250, seed=7)
    assert a == bootstrap_segmentation(m, n_boot=250, seed=7)
    assert a != bootstrap_segmentation(m, n_boot=250, seed=8)
    assert a.low <= a.estimate <= a.high and a.level == 0.95
    col = {"x": np.random.default_rng(1).random(50) < 0.5}
    s = bootstrap_samples(col, lambda d: bias.accuracy(d["x"]), n_boot=150, seed=3)
    assert s == bootstrap_samples(col, lambda d: bias.accuracy(d["x"]), n_boot=150, seed=3)


def naive_replicates(m, metric, n_boot, seed):
    """The documented draws (blocks of 100 from default_rng(seed)), summed image by image."""
    rng = np.random.default_rng(seed)
    n, c = m.shape[0], m.shape[1]
    reps = []
    for start in range(0, n_boot, 100):
        for row in rng.integers(0, n, size=(min(100, n_boot - start), n)):
            total = np.zeros((c, c), np.int64)
            for i in row:
                total += m[i]
            reps.append(metric(total))
    return reps


def test_matches_a_naive_resampling_loop():
    m = per_image(1, n=23)
    metric = functools.partial(mean_iou, absent="nan")
    ci = bootstrap_segmentation(m, metric, n_boot=230, level=0.9, seed=5)
    low, high = np.percentile(naive_replicates(m, metric, 230, 5), [5.0, 95.0])
    assert (ci.low, ci.high) == (pytest.approx(low, abs=1e-12), pytest.approx(high, abs=1e-12))
    assert ci.estimate == pytest.approx(metric(m.sum(0)))


def test_huge_counts_stay_exact():
    """n * total >= 2^53: float64 sums would drop low bits, so the integer path must be taken."""
    rng = np.random.default_rng(9)
    m = rng.integers(2**50, 2**51, (30, 3, 3))  # resampled sums reach ~2^55

    def low_bits(s):  # a figure that only exact sums reproduce
        return np.asarray(s)[..., 0, 0] % 1024

    ci = bootstrap_segmentation(m, low_bits, n_boot=120, seed=2)
    low, high = np.percentile(naive_replicates(m, low_bits, 120, 2), [2.5, 97.5])
    assert (ci.low, ci.high) == (pytest.approx(low, abs=1e-9), pytest.approx(high, abs=1e-9))


def test_identical_images_give_a_zero_width_interval():
    m = np.repeat(per_image(2, n=1), 30, axis=0)
    ci = bootstrap_segmentation(m, n_boot=200)
    assert ci.low == pytest.approx(ci.estimate) and ci.high == pytest.approx(ci.estimate)


def test_vqa_coverage_is_near_nominal():
    rng = np.random.default_rng(11)
    hits = 0
    trials = 200
    for t in range(trials):
        x = rng.random(150) < 0.3
        ci = bootstrap_samples({"x": x}, lambda d: float(d["x"].mean()), n_boot=200, seed=t)
        hits += ci.low <= 0.3 <= ci.high
    assert 0.88 <= hits / trials <= 0.99


def test_segmentation_coverage_is_near_nominal():
    rng = np.random.default_rng(12)
    c = 3
    # a population of images of varying difficulty; the truth is the mIoU of their sum
    population = np.zeros((4000, c, c), np.int64)
    for k in range(c):
        rows = rng.integers(5, 60, 4000)
        right = rng.binomial(rows, rng.uniform(0.3, 0.95, 4000))
        population[:, k, k] = right
        population[:, k, (k + 1) % c] = rows - right
    truth = mean_iou(population.sum(0))
    hits, trials = 0, 100
    for t in range(trials):
        sample = population[rng.integers(0, 4000, 80)]
        ci = bootstrap_segmentation(sample, n_boot=300, seed=t)
        hits += ci.low <= truth <= ci.high
    assert 0.85 <= hits / trials <= 1.0


def test_paired_difference_detects_a_drop_that_unpaired_intervals_blur():
    rng = np.random.default_rng(13)
    c, n = 3, 60
    a = np.zeros((n, c, c), np.int64)
    for k in range(c):  # images of very different difficulty: wide unpaired CIs
        rows = rng.integers(20, 200, n)
        a[:, k, k] = rng.binomial(rows, rng.uniform(0.2, 0.95, n))
        a[:, k, (k + 1) % c] = rows - a[:, k, k]
    b = a.copy()  # the same images, each losing 3 % of its correct pixels
    moved = a[:, np.arange(c), np.arange(c)] * 3 // 100
    for k in range(c):
        b[:, k, k] -= moved[:, k]
        b[:, k, (k + 1) % c] += moved[:, k]
    d = paired_bootstrap_segmentation(a, b, n_boot=400, seed=1)
    assert d.estimate == pytest.approx(mean_iou(a.sum(0)) - mean_iou(b.sum(0)))
    assert d.excludes(0.0) and d.low > 0
    ca, cb = bootstrap_segmentation(a, n_boot=400, seed=1), bootstrap_segmentation(b, n_boot=400, seed=2)
    assert ca.low < cb.high  # separately, the two intervals overlap
    same = paired_bootstrap_segmentation(a, a, n_boot=100)
    assert (same.estimate, same.low, same.high) == (0.0, 0.0, 0.0)


def test_paired_vqa_difference_uses_the_same_samples():
    rng = np.random.default_rng(14)
    clean = rng.random(300) < 0.6
    removed = clean & (rng.random(300) < 0.8)  # removing the image only ever hurts
    ci = bootstrap_samples(
        {"clean": clean, "removed": removed}, lambda d: bias.multimodal_gain(d["clean"], d["removed"]), n_boot=300
    )
    assert ci.low > 0 and ci.estimate == pytest.approx(bias.multimodal_gain(clean, removed))


def test_undefined_replicates_give_an_undefined_interval():
    m = np.zeros((10, 3, 3), np.int64)
    m[0, 0, 0] = 5  # only image 0 has pixels: resamples without it have no defined IoU
    ci = bootstrap_segmentation(m, functools.partial(mean_iou, absent="nan"), n_boot=100)
    assert ci.estimate == 100.0 and not ci.is_defined and not ci.excludes(0.0)


def test_bad_arguments():
    m = per_image(3, n=5)
    with pytest.raises(ValueError, match=r"shape \(n_images, C, C\)"):
        bootstrap_segmentation(m[0])
    with pytest.raises(ValueError, match="level"):
        bootstrap_segmentation(m, level=95)
    with pytest.raises(ValueError, match="n_boot"):
        bootstrap_segmentation(m, n_boot=0)
    with pytest.raises(ValueError, match="return shape"):
        bootstrap_segmentation(m, lambda s: 1.0)
    with pytest.raises(ValueError, match="same images"):
        paired_bootstrap_segmentation(m, m[:4])
    with pytest.raises(ValueError, match="same samples"):
        bootstrap_samples({"a": [1, 0], "b": [1]}, lambda d: 0.0)


def test_joint_replicates_share_draws_with_the_single_and_paired_bootstraps():
    """Cell replicates on shared draws reproduce bootstrap_segmentation and the paired CI."""
    rng = np.random.default_rng(3)
    a = per_image_confusion(rng.integers(0, 4, (12, 6, 6)), rng.integers(0, 4, (12, 6, 6)), 4)
    b = per_image_confusion(rng.integers(0, 4, (12, 6, 6)), rng.integers(0, 4, (12, 6, 6)), 4)
    reps = joint_bootstrap_replicates({"a": a, "b": b}, n_boot=300, seed=5)
    single = bootstrap_segmentation(a, n_boot=300, seed=5)
    low, high = np.percentile(reps["a"], [2.5, 97.5])
    assert (low, high) == pytest.approx((single.low, single.high))
    paired = paired_bootstrap_segmentation(a, b, n_boot=300, seed=5)
    low, high = np.percentile(reps["a"] - reps["b"], [2.5, 97.5])
    assert (low, high) == pytest.approx((paired.low, paired.high))
    with pytest.raises(ValueError, match="same images"):
        joint_bootstrap_replicates({"a": a, "short": b[:5]}, n_boot=10)
