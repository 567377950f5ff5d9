"""Accumulation and merge properties of every public stateful metric (issue 19): the
``ConfusionMatrix`` and ``ParityState`` updated several times hold the sum of the parts (checked
against hand-counted literals and a single update on the concatenation), merging never changes
an operand, and the cell state kinds merge to the same sum. Parity tolerances at their limits."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.errors import ResultsError
from harness.metrics.confusion import ConfusionMatrix
from harness.metrics.parity import ParityState, Tolerance, class_map_agreement, parity
from harness.report.states import state_kind

# ---- ConfusionMatrix ---------------------------------------------------------------------------


def test_update_twice_accumulates_the_hand_counted_sum():
    cm = ConfusionMatrix(3)
    cm.update([0, 1, 1], [0, 1, 2])  # (label, pred): (0,0) (1,1) (2,1)
    np.testing.assert_array_equal(cm.matrix, [[1, 0, 0], [0, 1, 0], [0, 1, 0]])
    cm.update([2, 2, 0, 1], [2, 255, 0, 2])  # (2,2) ignored (0,0) (2,1)
    np.testing.assert_array_equal(cm.matrix, [[2, 0, 0], [0, 1, 0], [0, 2, 1]])
    assert cm.total == 6
    logits = np.eye(3)[[1, 1]].T[None]  # 1 x 3 x 2: both pixels predict class 1
    cm.update_logits(logits, [[0, 1]])  # (0,1) (1,1)
    np.testing.assert_array_equal(cm.matrix, [[2, 1, 0], [0, 2, 0], [0, 2, 1]])


_pairs = st.lists(st.tuples(st.integers(0, 2**31 - 1), st.integers(0, 40)), min_size=1, max_size=5)


def _pair(seed: int, n: int, c: int = 4) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    label = rng.integers(0, c, n)
    label[rng.random(n) < 0.2] = 255
    return rng.integers(0, c, n), label


@settings(max_examples=30, deadline=None)
@given(_pairs)
def test_sequential_updates_equal_one_update_and_the_sum_of_separate_matrices(specs):
    pairs = [_pair(seed, n) for seed, n in specs]
    running, whole, parts = ConfusionMatrix(4), ConfusionMatrix(4), []
    for pred, label in pairs:
        running.update(pred, label)
        part = ConfusionMatrix(4)
        part.update(pred, label)
        parts.append(part.matrix.copy())
    whole.update(np.concatenate([p for p, _ in pairs]), np.concatenate([lab for _, lab in pairs]))
    assert running == whole
    np.testing.assert_array_equal(running.matrix, np.sum(parts, axis=0))
    assert running.total == sum(int((label != 255).sum()) for _, label in pairs)


def test_merge_and_add_leave_their_operands_alone_and_iadd_accumulates_in_place():
    a, b = ConfusionMatrix(3), ConfusionMatrix(3)
    a.update([0, 1], [0, 0])
    b.update([2], [2])
    before_a, before_b = a.matrix.copy(), b.matrix.copy()
    merged = a.merge(b, b)
    np.testing.assert_array_equal(merged.matrix, before_a + 2 * before_b)
    assert a + b == a.merge(b) and a.merge() == a and a.merge() is not a
    np.testing.assert_array_equal(a.matrix, before_a)
    np.testing.assert_array_equal(b.matrix, before_b)
    same = a
    a += b
    assert a is same
    np.testing.assert_array_equal(a.matrix, before_a + before_b)
    copy = a.copy()
    copy.update([0], [0])
    np.testing.assert_array_equal(a.matrix, before_a + before_b)  # a copy is independent


@pytest.mark.parametrize(("other", "error"), [(ConfusionMatrix(4), ResultsError), (ConfusionMatrix(3, None), ResultsError), ("x", TypeError)])
def test_merging_different_set_ups_is_refused(other, error):
    with pytest.raises(error, match="num_classes/ignore_index 3/255 vs" if error is ResultsError else "with str"):
        ConfusionMatrix(3).merge(other)
    cm = ConfusionMatrix(3)
    with pytest.raises(error):
        cm += other
    assert cm.total == 0


def test_the_confusion_state_kind_merges_to_the_sum():
    kind = state_kind("confusion")
    a, b = ConfusionMatrix(3), ConfusionMatrix(3)
    a.update([0, 1, 2], [0, 1, 1])
    b.update([2, 2], [1, 2])
    merged = ConfusionMatrix.from_dict(kind.merge(a.to_dict(), b.to_dict()))
    np.testing.assert_array_equal(merged.matrix, [[1, 0, 0], [0, 1, 2], [0, 0, 1]])
    assert kind.merge(b.to_dict(), a.to_dict()) == kind.merge(a.to_dict(), b.to_dict())


# ---- ParityState ---------------------------------------------------------------------------------


def test_parity_state_updated_twice_holds_the_hand_computed_sums():
    state = ParityState(Tolerance(atol=0.1, rtol=0.1))
    state.update([1.0, 2.0], [1.0, 1.0])  # abs 0, 1; rel 0, 1
    state.update([3.0, 0.5], [2.0, 0.5])  # abs 1, 0; rel 0.5, 0
    assert (state.numel, state.mismatches, state.nonfinite, state.rel_count) == (4, 2, 0, 4)
    assert (state.abs_max, state.abs_sum, state.rel_max, state.rel_sum) == (1.0, 2.0, 1.0, 1.5)
    assert (state.dot, state.aa, state.bb) == (1 + 2 + 6 + 0.25, 1 + 4 + 9 + 0.25, 1 + 1 + 4 + 0.25)
    assert int(state.abs_hist.sum()) == int(state.rel_hist.sum()) == 4
    summary = state.summary()
    assert summary["abs"]["mean"] == 0.5 and summary["rel"]["mean"] == 0.375 and summary["passed"] is False


def _state(parts: list[tuple[np.ndarray, np.ndarray]], tol: Tolerance) -> ParityState:
    state = ParityState(tol, class_axis=1)
    for cand, ref in parts:
        state.update(cand, ref)
    return state


def test_parity_state_sequential_updates_merges_and_one_update_agree():
    rng = np.random.default_rng(3)
    ref = rng.normal(size=(4, 3, 5, 5))
    cand = ref + rng.normal(scale=0.05, size=ref.shape)
    tol = Tolerance(atol=0.02, rtol=0.02)
    running = _state([(cand[:1], ref[:1]), (cand[1:3], ref[1:3]), (cand[3:], ref[3:])], tol)
    whole = _state([(cand, ref)], tol)
    halves = _state([(cand[:2], ref[:2])], tol), _state([(cand[2:], ref[2:])], tol)
    before = [json.dumps(h.to_dict()) for h in halves]
    merged = halves[1] + halves[0]
    assert [json.dumps(h.to_dict()) for h in halves] == before  # + leaves its operands alone
    for state in (running, merged):
        mine, theirs = state.to_dict(), whole.to_dict()
        for key in ("numel", "mismatches", "nonfinite", "rel_count", "agree", "positions", "abs_hist", "rel_hist", "abs_max", "rel_max"):
            assert mine[key] == theirs[key], key
        for key in ("abs_sum", "rel_sum", "dot", "aa", "bb"):
            assert mine[key] == pytest.approx(theirs[key], rel=1e-12), key
    assert whole.numel == cand.size and whole.positions == 4 * 5 * 5


# ---- parity tolerances at their limits ----------------------------------------------------------


def test_an_error_exactly_at_atol_or_rtol_passes_and_just_above_fails():
    ref, cand = np.array([1.0, 2.0]), np.array([1.5, 2.0])  # abs error 0.5, rel error 0.5
    for check in ("elemwise", "max"):
        assert parity(cand, ref, Tolerance(atol=0.5, rtol=0.0, check=check))["passed"] is True
        assert parity(cand, ref, Tolerance(atol=0.0, rtol=0.5, check=check))["passed"] is True
        below = math.nextafter(0.5, 0.0)
        assert parity(cand, ref, Tolerance(atol=below, rtol=below, check=check))["passed"] is False
    assert parity(cand, ref, Tolerance(atol=math.nextafter(0.5, 0.0), rtol=0.0))["mismatches"] == 1


def test_tolerances_of_zero_are_allowed_and_negative_ones_refused():
    assert parity(np.ones(3), np.ones(3), Tolerance(atol=0.0, rtol=0.0))["passed"] is True
    for atol, rtol in ((-1e-12, 0.0), (0.0, -1e-12), (math.nan, 0.0)):
        with pytest.raises(ValueError, match=r"^parity tolerances must be >= 0, got atol="):
            Tolerance(atol=atol, rtol=rtol)



def test_parity_defaults_are_polygraphys_and_the_quantile_lies_strictly_inside_0_1():
    from harness.metrics.parity import CHECK_STATS, DEFAULT_ATOL, DEFAULT_QUANTILE, DEFAULT_RTOL

    # Polygraphy's comparator defaults: --atol 1e-5, --rtol 1e-5, --check-error-stat elemwise
    assert (DEFAULT_ATOL, DEFAULT_RTOL, DEFAULT_QUANTILE) == (1e-5, 1e-5, 0.99)
    assert Tolerance() == Tolerance(atol=1e-5, rtol=1e-5, check="elemwise", quantile=0.99)
    assert CHECK_STATS == ("elemwise", "max", "mean", "median", "quantile")
    for q in (math.nextafter(0.0, 1.0), math.nextafter(1.0, 0.0)):
        assert Tolerance(quantile=q).quantile == q
    for q in (0.0, 1.0):
        with pytest.raises(ValueError, match=rf"^parity quantile must lie in \(0, 1\), got {q}$"):
            Tolerance(quantile=q)
    with pytest.raises(ValueError, match=r"^parity of 'batch': candidate shape \(3,\) differs from reference shape \(2,\)$"):
        ParityState().update(np.zeros(3), np.zeros(2))


def test_parity_state_counts_non_finite_values_and_errors_exactly_at_the_tolerance():
    state = ParityState(Tolerance(atol=0.5, rtol=0.5))
    state.update([1.5, np.nan, np.inf, 2.0], [1.0, 1.0, 1.0, 2.0])  # abs/rel error exactly 0.5: not a mismatch
    summary = state.summary()
    assert (summary["nonfinite"], summary["mismatches"], summary["numel"], summary["passed"]) == (2, 1, 4, False)  # inf vs 1 mismatches
    clean = ParityState(Tolerance(atol=0.5, rtol=0.5))
    clean.update([1.5, 2.0], [1.0, 2.0])
    assert clean.summary()["passed"] is True and clean.summary()["mismatches"] == 0


def test_cosine_of_zero_outputs_and_histogram_quantiles_by_hand():
    from harness.metrics.parity import HIST_MAX, HIST_REL_WIDTH, cosine_similarity

    assert cosine_similarity(np.zeros(3), np.zeros(3)) == 1.0  # both all zero: identical
    assert cosine_similarity(np.zeros(3), np.ones(3)) == 0.0 and cosine_similarity(np.ones(3), np.zeros(3)) == 0.0
    assert cosine_similarity([1.0, 0.0], [1.0, 1.0]) == pytest.approx(1 / math.sqrt(2))
    state = ParityState(Tolerance(check="median", quantile=0.99))
    state.update(np.zeros(5), np.zeros(5))
    assert state.summary()["abs"]["median"] == 0.0  # every error is exactly 0: the zero bin
    errors = np.array([0.0, 0.0, 1e-3, 1e-3, 1e-3])
    state = ParityState(Tolerance(quantile=0.2))
    state.update(errors, np.zeros(5))
    abs_stats = state.summary()["abs"]
    assert abs_stats["quantile"] == 0.0  # rank 0.2 * 4 = 0.8 -> the second value: 0
    assert abs_stats["median"] == pytest.approx(1e-3, rel=HIST_REL_WIDTH)  # rank 2: a 1e-3 error, within one bin
    assert abs_stats["max"] == 1e-3 and abs_stats["mean"] == pytest.approx(6e-4)
    huge = ParityState()
    huge.update([1e9], [0.0])
    assert huge.summary()["abs"]["median"] == HIST_MAX  # beyond the histogram: its upper end
    empty = ParityState()
    assert math.isnan(empty.summary()["abs"]["median"]) and math.isnan(empty.summary()["abs"]["max"])


def test_the_histogram_bins_and_their_centres_are_pinned_by_hand():
    """Saved states hold bin indices, so shards of one version merge with another's only while the
    bins stay put: bin 0 holds exact zeros, bin k = floor(4000 ln(x / 1e-12) / ln(1e20)) + 1
    clipped to [1, 4001]; a bin's value is its geometric centre, 1.158 % wide."""
    from harness.metrics.parity import HIST_BINS, HIST_MAX, HIST_MIN, HIST_REL_WIDTH

    assert (HIST_MIN, HIST_MAX, HIST_BINS) == (1e-12, 1e8, 4000)
    assert HIST_REL_WIDTH == pytest.approx(0.0115794542599, rel=1e-10)  # 10 ** (20 / 4000) - 1
    state = ParityState(Tolerance(quantile=0.6))
    state.update([0.0, 1e-13, 1e-12, 2.0, 1e8, np.inf], np.zeros(6))
    # 2.0: 4000 * ln(2e12) / ln(1e20) = 4000 * 28.3242 / 46.0517 = 2460.2 -> bin 2461; 1e-13 below the range -> bin 1
    assert state.to_dict()["abs_hist"] == [[0, 1], [1, 2], [2461, 1], [4001, 2]]
    width = math.sqrt(1.0115794542599)  # centre = lower edge * sqrt(1 + width)
    abs_stats = state.summary()["abs"]
    assert abs_stats["median"] == pytest.approx(1e-12 * width, rel=1e-9)  # rank 2.5 -> the 3rd value, bin 1
    assert abs_stats["quantile"] == pytest.approx(10**0.3 * width, rel=1e-9)  # rank 3 -> the 4th value: bin 2461 from 1e-12 * 10 ** (20 * 2460 / 4000)
    top = ParityState()
    top.update([1e8], [0.0])
    assert top.summary()["abs"]["median"] == 1e8  # exactly 1e8 falls in the last bin, which reads as its lower edge
    below_top = ParityState()
    below_top.update([0.995e8], [0.0])  # the last bin of the range, 4000: its centre, not the upper end
    assert below_top.summary()["abs"]["median"] == pytest.approx(10**7.995 * width, rel=1e-9)


def test_parity_statistics_of_one_element_and_of_no_defined_relative_error():
    one = parity([3.0], [2.0], Tolerance(check="median"))
    assert one["abs"] == {"max": 1.0, "mean": 1.0, "median": 1.0, "quantile": 1.0}
    assert one["rel"] == {"max": 0.5, "mean": 0.5, "median": 0.5, "quantile": 0.5}
    zeros = parity(np.zeros(3), np.zeros(3), Tolerance(check="median"))  # 0 / 0 everywhere: no relative error is defined
    assert all(math.isnan(v) for v in zeros["rel"].values()) and zeros["abs"]["max"] == 0.0
    assert zeros["passed"] is True  # an absolute error of 0 is within atol whatever the relative one


def _updated(tolerance: Tolerance, candidate, reference) -> ParityState:
    state = ParityState(tolerance)
    state.update(candidate, reference)
    return state


def test_parity_state_tolerances_each_exactly_at_their_limit_and_its_statistic_checks():
    # abs error 0.5 and rel error 0.5: exactly at one tolerance (not exceeded) with the other at 0
    for atol, rtol in ((0.5, 0.0), (0.0, 0.5)):
        assert _updated(Tolerance(atol=atol, rtol=rtol), [1.5], [1.0]).summary()["mismatches"] == 0
    assert _updated(Tolerance(atol=0.4, rtol=0.4), [1.5], [1.0]).summary()["mismatches"] == 1
    within = _updated(Tolerance(atol=0.5, rtol=0.5, check="max"), [1.5, 2.0], [1.0, 2.0]).summary()
    beyond = _updated(Tolerance(atol=0.4, rtol=0.4, check="max"), [1.5, 2.0], [1.0, 2.0]).summary()
    assert (within["passed"], beyond["passed"]) == (True, False)
    # rel errors 0 and 0.5: the median (rank 0.5 * 1 -> the 1st value) is 0 (the zero bin), the max 0.5
    assert (within["rel"]["median"], within["rel"]["max"]) == (0.0, 0.5)


def test_parity_state_cosine_leaves_non_finite_positions_out_and_merges_non_finite_counts():
    for cand, ref in (([1.0, np.nan], [1.0, 5.0]), ([1.0, 5.0], [1.0, np.inf])):
        state = _updated(Tolerance(), cand, ref)
        assert (state.dot, state.aa, state.bb) == (1.0, 1.0, 1.0)  # position 2 counts as 0 on both sides
        assert state.summary()["cosine"] == 1.0
    merged = _updated(Tolerance(), [np.nan], [1.0]) + _updated(Tolerance(), [1.0, np.inf], [1.0, 1.0])
    assert (merged.nonfinite, merged.numel) == (2, 3)


def test_class_maps_of_different_shapes_are_refused():
    with pytest.raises(ValueError, match=r"^class maps differ in shape: candidate \(2,\), reference \(1,\)$"):
        class_map_agreement(np.array([1, 1]), np.array([1]))
