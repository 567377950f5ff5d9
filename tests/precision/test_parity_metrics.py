"""Parity figures against independent oracles: a per-element Python loop of Polygraphy's rule,
NumPy/SciPy statistics, and merge/round-trip properties of the streaming state."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy.spatial.distance import cosine as scipy_cosine_distance

from harness.metrics.parity import (
    HIST_REL_WIDTH,
    ParityState,
    Tolerance,
    class_map_agreement,
    parity,
)


def _loop_mismatches(a, b, atol, rtol):
    """Polygraphy's elementwise rule written out: fails only if both tolerances are exceeded."""
    bad = 0
    for x, y in zip(a.ravel().tolist(), b.ravel().tolist()):
        diff = abs(x - y)
        rel = diff / abs(y) if y != 0 else (math.inf if diff > 0 else math.nan)
        if diff > atol and (rel > rtol if not math.isnan(rel) else False):
            bad += 1
    return bad


@pytest.fixture()
def pair():
    rng = np.random.default_rng(7)
    ref = rng.normal(size=(2, 5, 6, 7)).astype(np.float32)
    ref[0, 0, 0, :3] = 0.0  # exact zeros exercise the x/0 and 0/0 relative errors
    cand = ref + rng.normal(scale=1e-3, size=ref.shape).astype(np.float32)
    cand[0, 0, 0, 0] = 0.0  # 0 vs 0: rel error NaN, never a mismatch
    return cand, ref


def test_elementwise_mismatches_match_a_hand_loop(pair):
    cand, ref = pair
    for atol, rtol in [(1e-5, 1e-5), (1e-3, 1e-2), (0.0, 0.0), (5e-3, 0.0)]:
        got = parity(cand, ref, Tolerance(atol=atol, rtol=rtol))
        expected = _loop_mismatches(cand.astype(np.float64), ref.astype(np.float64), atol, rtol)
        assert got["mismatches"] == expected
        assert got["passed"] == (expected == 0)


def test_statistics_and_cosine_match_numpy_and_scipy(pair):
    cand, ref = pair
    got = parity(cand, ref, Tolerance(quantile=0.9))
    a, b = cand.astype(np.float64), ref.astype(np.float64)
    absdiff = np.abs(a - b)
    assert got["abs"]["max"] == pytest.approx(absdiff.max())
    assert got["abs"]["mean"] == pytest.approx(absdiff.mean())
    assert got["abs"]["median"] == pytest.approx(np.median(absdiff))
    assert got["abs"]["quantile"] == pytest.approx(np.quantile(absdiff, 0.9))
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = absdiff / np.abs(b)
    assert math.isinf(got["rel"]["max"])  # x / 0 with x > 0
    assert got["rel"]["median"] == pytest.approx(np.nanmedian(rel))
    assert got["cosine"] == pytest.approx(1.0 - scipy_cosine_distance(a.ravel(), b.ravel()), abs=1e-12)
    assert got["numel"] == cand.size and got["nonfinite"] == 0


def test_statistic_checks_fail_only_when_both_tolerances_are_exceeded():
    ref = np.array([1.0, 2.0, 4.0, 8.0])
    cand = ref + np.array([0.0, 0.0, 0.0, 0.8])  # one element off by 10 %
    assert not parity(cand, ref, Tolerance(atol=0.5, rtol=0.05, check="max"))["passed"]
    assert parity(cand, ref, Tolerance(atol=1.0, rtol=0.05, check="max"))["passed"]  # abs within
    assert parity(cand, ref, Tolerance(atol=0.5, rtol=0.2, check="max"))["passed"]  # rel within
    assert parity(cand, ref, Tolerance(atol=0.5, rtol=0.05, check="median"))["passed"]
    assert parity(cand, ref, Tolerance(atol=0.1, rtol=0.01, check="mean"))["passed"] is False


def test_non_finite_outputs_never_pass():
    ref = np.ones(4)
    cand = np.array([1.0, np.nan, 1.0, 1.0])
    out = parity(cand, ref, Tolerance(atol=1.0, rtol=1.0))
    assert out["nonfinite"] == 1 and out["passed"] is False


def test_class_agreement_counts_equal_argmax_positions():
    rng = np.random.default_rng(0)
    ref = rng.normal(size=(3, 4, 5, 5))
    cand = ref.copy()
    cand[0, :, 1, 1] = -ref[0, :, 1, 1]  # flip one pixel's ranking
    expected = np.mean([np.argmax(cand[n, :, y, x]) == np.argmax(ref[n, :, y, x])
                        for n in range(3) for y in range(5) for x in range(5)])
    assert parity(cand, ref, class_axis=1)["class_agreement"] == pytest.approx(expected)
    maps_a, maps_b = cand.argmax(1), ref.argmax(1)
    assert class_map_agreement(maps_a, maps_b) == pytest.approx(expected)
    ignore = np.zeros(maps_a.shape, dtype=bool)
    ignore[0, 1, 1] = True
    assert expected < 1.0
    assert class_map_agreement(maps_a, maps_b, ignore) == 1.0  # the only disagreement is ignored


def test_state_merges_batches_to_the_exact_whole_array_figures(pair):
    cand, ref = pair
    tol = Tolerance(atol=1e-4, rtol=1e-3, quantile=0.95)
    whole = parity(cand, ref, tol, class_axis=1)
    first, second = ParityState(tol, class_axis=1), ParityState(tol, class_axis=1)
    first.update(cand[:1], ref[:1])
    second.update(cand[1:], ref[1:])
    merged = (second + first).summary()  # merge order does not matter
    for key in ("numel", "mismatches", "nonfinite", "passed", "class_agreement"):
        assert merged[key] == whole[key]
    assert merged["abs"]["max"] == pytest.approx(whole["abs"]["max"])
    assert merged["abs"]["mean"] == pytest.approx(whole["abs"]["mean"])
    assert merged["cosine"] == pytest.approx(whole["cosine"])
    for stat in ("median", "quantile"):  # histogram estimate: within one log bin
        assert merged["abs"][stat] == pytest.approx(whole["abs"][stat], rel=2 * HIST_REL_WIDTH)


def test_state_round_trips_through_json(pair):
    cand, ref = pair
    state = ParityState(Tolerance(check="median"), class_axis=1)
    state.update(cand, ref)
    back = ParityState.from_dict(json.loads(json.dumps(state.to_dict())))
    assert json.dumps(back.summary(), sort_keys=True, default=str) == json.dumps(state.summary(), sort_keys=True, default=str)


def test_bad_arguments_are_value_errors():
    with pytest.raises(ValueError, match="shape"):
        parity(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match="elemwise, max"):
        Tolerance(check="p99")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="merge"):
        ParityState(Tolerance(atol=1.0)) + ParityState(Tolerance(atol=2.0))
