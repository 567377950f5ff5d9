"""Missing fills, RMM and the Liao NM preset, checked against docs/metrics.md by hand."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np
import pytest

from harness.corruptions.missing import (
    LIAO_LEVELS,
    fill_missing,
    liao_noise,
    mask_array,
    normalized_value_of_raw,
    random_missing,
)
from harness.errors import ConfigError
from harness.seeding import rngs_for


@dataclass(frozen=True)
class Pre:
    scale: float
    mean: tuple[float, ...]
    std: tuple[float, ...]


IMAGENET = Pre(1 / 255, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))

# Liao et al. 2025, tools/val_mm_NM.py (RobustSeg/UMMSS on GitHub), evaluate_noisy_modality:
#     density = [0.05, 0.1, 0.2]; std = [0.1, 0.2, 0.5]   # level 0, 1, 2 = low, mid, high
# salt count = ceil(density * numel * 0.5), pepper the same; Gaussian on RGB, depth, LiDAR (not events).
LIAO_DENSITY = {"low": 0.05, "mid": 0.1, "high": 0.2}
LIAO_STD = {"low": 0.1, "mid": 0.2, "high": 0.5}


def _batch(n=4, c=3, h=16, w=16, seed=0):
    return np.random.default_rng(seed).normal(size=(n, c, h, w)).astype(np.float32)


def test_zero_normalized_and_mask_are_zeros():
    x = _batch()
    for fill in ("zero_normalized", "mask"):
        out = fill_missing(x, fill)
        assert out.dtype == np.float32 and out.shape == x.shape and not out.any()
    np.testing.assert_array_equal(
        mask_array((4, 1), present=False), np.zeros((4, 1), np.float32)
    )
    np.testing.assert_array_equal(
        mask_array((4,), present=True), np.ones(4, np.float32)
    )


def test_zero_raw_is_normalized_black():
    out = fill_missing(_batch(), "zero_raw", IMAGENET)
    # a raw 0 pixel through the preprocessing, computed independently per channel
    for c in range(3):
        expected = (0.0 * IMAGENET.scale - IMAGENET.mean[c]) / IMAGENET.std[c]
        np.testing.assert_allclose(out[:, c], expected, rtol=1e-6)


def test_zero_raw_needs_preprocess_and_matching_channels():
    with pytest.raises(ConfigError, match="preprocess"):
        fill_missing(_batch(), "zero_raw")
    with pytest.raises(ConfigError, match="preprocess.mean"):
        fill_missing(_batch(c=2), "zero_raw", IMAGENET)


def test_mean_fill_keeps_per_sample_channel_means():
    x = _batch()
    out = fill_missing(x, "mean")
    np.testing.assert_allclose(out[1, 2], np.full((16, 16), x[1, 2].mean()), rtol=1e-5)
    assert np.ptp(out, axis=(2, 3)).max() == 0


def test_noise_fill_is_unit_gaussian_and_per_sample():
    x = _batch(n=3, h=64, w=64)
    out = fill_missing(x, "noise", rngs=rngs_for(0, "emm", range(3), "rgb"))
    assert abs(out.std() - 1) < 0.03 and abs(out.mean()) < 0.03
    alone = fill_missing(x[2:], "noise", rngs=rngs_for(0, "emm", [2], "rgb"))
    np.testing.assert_array_equal(out[2:], alone)
    wide = fill_missing(
        x, "noise", rngs=rngs_for(0, "emm", range(3), "rgb"), noise_std=0.5
    )
    assert abs(wide.std() - 0.5) < 0.015
    with pytest.raises(ConfigError, match="noise_std"):
        fill_missing(
            x, "noise", rngs=rngs_for(0, "emm", range(3), "rgb"), noise_std=0.0
        )


def test_unknown_fill_and_bad_batch():
    with pytest.raises(ConfigError, match="allowed"):
        fill_missing(_batch(), "blank")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="float32"):
        fill_missing(_batch().astype(np.float64), "mean")


@pytest.mark.parametrize("rate", [0.25, 0.5, 0.75])
def test_rmm_kept_fraction(rate):
    x = np.ones((4, 3, 64, 64), np.float32)
    out = random_missing(x, rate, rngs_for(1, f"rmm/{rate}", range(4), "depth"))
    kept = out.mean()
    sigma = math.sqrt(rate * (1 - rate) / x.size)
    assert abs(kept - (1 - rate)) < 5 * sigma
    assert set(np.unique(out)) <= {0.0, 1.0}


def test_rmm_is_split_and_order_invariant():
    x = _batch(n=6)
    idx = list(range(6))
    full = random_missing(x, 0.5, rngs_for(3, "rmm", idx, "rgb"))
    halves = np.concatenate(
        [
            random_missing(x[:2], 0.5, rngs_for(3, "rmm", idx[:2], "rgb")),
            random_missing(x[2:], 0.5, rngs_for(3, "rmm", idx[2:], "rgb")),
        ]
    )
    np.testing.assert_array_equal(full, halves)
    rev = random_missing(x[::-1].copy(), 0.5, rngs_for(3, "rmm", idx[::-1], "rgb"))
    np.testing.assert_array_equal(full, rev[::-1])


def test_rmm_at_the_rate_limits_drops_nothing_or_everything():
    x = _batch() + 10.0  # no element is 0 before the drop
    rngs = lambda: rngs_for(0, "c", range(4), "rgb")  # noqa: E731
    np.testing.assert_array_equal(random_missing(x, 0.0, rngs()), x)
    assert not random_missing(x, 1.0, rngs()).any()
    for rate in (math.nextafter(1.0, 2.0), math.nextafter(0.0, -1.0), math.nan):
        with pytest.raises(ConfigError, match=r"^random missing rate must be within \[0, 1\], got "):
            random_missing(x, rate, rngs())


def test_rmm_rate_0_drops_nothing_even_where_the_uniform_draw_is_exactly_0(monkeypatch):
    import harness.corruptions.missing as missing

    x = _batch(n=2)
    edges = lambda rngs, shape: np.stack([np.zeros(shape, np.float32), np.full(shape, np.nextafter(np.float32(1), np.float32(0)))])  # noqa: E731
    monkeypatch.setattr(missing, "uniform", edges)
    out = random_missing(x, 0.0, rngs_for(0, "c", range(2), "rgb"))
    np.testing.assert_array_equal(out, x)  # u = 0 is not < 0
    out = random_missing(x, 1.0, rngs_for(0, "c", range(2), "rgb"))
    assert not out.any()  # u just below 1 is < 1


def test_rmm_and_liao_refuse_a_batch_that_is_not_float32_nchw():
    for call, what in ((lambda b: random_missing(b, 0.5, rngs_for(0, "c", range(4), "rgb")), "random missing"),
                       (lambda b: liao_noise(b, "low", False, np.random.default_rng(0)), "liao noise")):
        with pytest.raises(ConfigError, match=f"^{what}: expected a float32 N x C x H x W normalized batch, got float64 array"):
            call(_batch().astype(np.float64))


def test_rmm_bad_rate_or_rng_count():
    with pytest.raises(ConfigError, match="rate"):
        random_missing(_batch(), 1.5, rngs_for(0, "c", range(4), "rgb"))
    with pytest.raises(ConfigError, match="one numpy Generator per sample"):
        random_missing(_batch(), 0.5, rngs_for(0, "c", range(3), "rgb"))


@pytest.mark.parametrize("level", ["low", "mid", "high"])
def test_liao_salt_pepper_counts_and_values(level):
    # distinct values, so every changed position is visible; event => no Gaussian
    x = np.arange(2 * 3 * 20 * 20, dtype=np.float32).reshape(2, 3, 20, 20) / 100.0
    x[0, 0, 0, 0], x[1, 2, 19, 19] = -5.0, 50.0  # known batch min / max
    n = math.ceil(LIAO_DENSITY[level] * x.size * 0.5)
    out = liao_noise(x, level, is_event=True, rng=np.random.default_rng(0))
    # replay the two draws with an identical generator (positions with replacement)
    replay = np.random.default_rng(0)
    salt_pos = replay.integers(0, x.size, size=n)
    pepper_pos = replay.integers(0, x.size, size=n)
    flat = out.reshape(-1)
    assert np.all(flat[pepper_pos] == -5.0)
    assert np.all(flat[np.setdiff1d(salt_pos, pepper_pos)] == 50.0)
    touched = np.union1d(salt_pos, pepper_pos)
    untouched = np.setdiff1d(np.arange(x.size), touched)
    np.testing.assert_array_equal(flat[untouched], x.reshape(-1)[untouched])
    # with replacement: fewer distinct positions than draws is allowed, more is impossible
    assert np.sum(flat != x.reshape(-1)) <= 2 * n


def test_the_liao_preset_is_the_reference_one():
    assert {name: (level.density, level.std) for name, level in LIAO_LEVELS.items()} == {
        name: (LIAO_DENSITY[name], LIAO_STD[name]) for name in ("low", "mid", "high")}
    assert list(LIAO_LEVELS) == ["low", "mid", "high"]


@pytest.mark.parametrize("level", ["low", "mid", "high"])
def test_liao_gaussian_only_on_non_event(level):
    x = np.zeros((4, 1, 64, 64), np.float32)
    x[0, 0, 0, 0], x[0, 0, 0, 1] = 1.0, -1.0
    noisy = liao_noise(x, level, is_event=False, rng=np.random.default_rng(1))
    event = liao_noise(x, level, is_event=True, rng=np.random.default_rng(1))
    sp = event != 0
    resid = (noisy - event)[~sp]
    assert abs(resid.std() - LIAO_STD[level]) < 0.04 * LIAO_STD[level]  # 16k draws: the std is within ~1 %
    assert abs(resid.mean()) < 0.03 * LIAO_STD[level]
    assert set(np.unique(event)) <= {-1.0, 0.0, 1.0}
    assert np.array_equal(x[0, 0, 0, :2], [1.0, -1.0])  # the input is never modified


def test_liao_gaussian_is_added_after_the_salt_and_pepper_draws():
    """Replayed exactly: salt positions, pepper positions, then N(0, std) added to every element."""
    x = _batch(n=2, c=1, h=8, w=8)
    out = liao_noise(x, "mid", is_event=False, rng=np.random.default_rng(9))
    replay = np.random.default_rng(9)
    expected = x.copy().reshape(-1)
    n = math.ceil(LIAO_DENSITY["mid"] * x.size * 0.5)
    salt, pepper = replay.integers(0, x.size, size=n), replay.integers(0, x.size, size=n)
    expected[salt], expected[pepper] = x.max(), x.min()
    expected = expected.reshape(x.shape) + replay.normal(0.0, LIAO_STD["mid"], size=x.shape).astype(np.float32)
    np.testing.assert_array_equal(out, expected)


def test_liao_counts_at_the_rounding_boundary():
    """ceil(density * numel / 2): 0.05 * 40 / 2 = 1 exactly -> 1 salt and 1 pepper; 41 elements -> 2 each."""
    for numel, draws in ((40, 1), (41, 2)):
        x = np.arange(numel, dtype=np.float32).reshape(1, 1, 1, numel)
        out = liao_noise(x, "low", is_event=True, rng=np.random.default_rng(5))
        replay = np.random.default_rng(5)
        salt, pepper = replay.integers(0, numel, size=draws), replay.integers(0, numel, size=draws)
        expected = x.reshape(-1).copy()
        expected[salt], expected[pepper] = numel - 1, 0.0
        np.testing.assert_array_equal(out.reshape(-1), expected)


def test_liao_bad_level():
    with pytest.raises(ConfigError, match="low, mid, high"):
        liao_noise(_batch(), "extreme", False, np.random.default_rng(0))


def test_noise_std_limit_and_bad_batches_are_refused_with_their_messages():
    x = _batch(n=2)
    rngs = rngs_for(0, "emm", range(2), "rgb")
    assert fill_missing(x, "noise", rngs=rngs, noise_std=1e-30).shape == x.shape  # any positive std is allowed
    for std in (0.0, -1.0, math.nan):
        with pytest.raises(ConfigError, match=f"^missing fill 'noise': noise_std must be > 0, got {std}$"):
            fill_missing(x, "noise", rngs=rngs, noise_std=std)
    with pytest.raises(ConfigError, match=r"^missing fill 'noise': needs one numpy Generator per sample \(2\), got 1; "):
        fill_missing(x, "noise", rngs=rngs[:1])
    for bad, got in ((x[0], "float32 array of shape (3, 16, 16)"), (x.astype(np.float16), "float16 array of shape (2, 3, 16, 16)"), ([1.0], "list")):
        with pytest.raises(ConfigError, match=f"^missing fill 'mean': expected a float32 N x C x H x W normalized batch, got {re.escape(got)}$"):
            fill_missing(bad, "mean")  # type: ignore[arg-type]


def test_zero_raw_broadcasts_one_value_and_refuses_a_zero_std():
    out = fill_missing(_batch(c=2), "zero_raw", Pre(1.0, (4.0,), (2.0,)))
    assert out.dtype == np.float32 and out.shape == (4, 2, 16, 16) and np.all(out == -2.0)
    assert np.all(fill_missing(_batch(c=1), "zero_raw", Pre(1.0, (4.0,), (1.0,))) == -4.0)  # std 1 is fine
    # any raw reading: (raw * scale - mean) / std, by hand for a white pixel
    white = normalized_value_of_raw(255.0, IMAGENET, 3)
    assert white.shape == (1, 3, 1, 1) and white.dtype == np.float32
    np.testing.assert_allclose(white.ravel(), [(1 - 0.485) / 0.229, (1 - 0.456) / 0.224, (1 - 0.406) / 0.225], rtol=1e-6)
    with pytest.raises(ConfigError, match=r"^preprocess\.std: a channel has std 0; normalization would divide by zero$"):
        fill_missing(_batch(), "zero_raw", Pre(1.0, (0.0,), (1.0, 0.0, 1.0)))
    with pytest.raises(ConfigError, match=r"^preprocess\.std: expected 1 or 3 values \(one per channel\), got 2$"):
        fill_missing(_batch(), "zero_raw", Pre(1.0, (0.0,), (1.0, 1.0)))


def test_fills_return_new_arrays_and_leave_the_input_alone():
    x = _batch()
    before = x.copy()
    for fill in ("zero_normalized", "mask", "mean"):
        out = fill_missing(x, fill)
        out[...] = 7.0  # writable, and not a view of the input
        np.testing.assert_array_equal(x, before)
    assert mask_array((2, 3), present=True, dtype=np.uint8).dtype == np.uint8
