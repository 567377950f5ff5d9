"""class_argmax must equal np.argmax exactly: ties, NaN, any axis, any dtype."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from harness.metrics.argmax import class_argmax


@settings(max_examples=60, deadline=None)
@given(
    scores=arrays(
        dtype=st.sampled_from([np.float32, np.float64, np.int32, np.int8]),
        shape=st.tuples(st.integers(1, 3), st.integers(1, 9), st.integers(1, 5), st.integers(1, 5)),
        elements=st.integers(-3, 3),  # few distinct values: ties everywhere
    ),
    axis=st.integers(-4, 3),
)
def test_equals_numpy_argmax_with_ties(scores, axis):
    np.testing.assert_array_equal(class_argmax(scores, axis), np.argmax(scores, axis=axis))


@pytest.mark.parametrize("nan_at", [0, 3, 6])
def test_nan_follows_numpy_semantics(nan_at):
    scores = np.random.default_rng(0).standard_normal((2, 7, 4, 4)).astype(np.float32)
    scores[1, nan_at, 2, 3] = np.nan
    scores[0, :, 0, 0] = np.inf
    np.testing.assert_array_equal(class_argmax(scores, 1), np.argmax(scores, axis=1))


def test_many_classes_and_last_axis_use_numpy_directly():
    rng = np.random.default_rng(1)
    many = rng.standard_normal((2, 150, 8, 8))
    last = rng.standard_normal((2, 8, 8, 7))
    np.testing.assert_array_equal(class_argmax(many, 1), many.argmax(1))
    np.testing.assert_array_equal(class_argmax(last, -1), last.argmax(-1))


def _numpy_calls(monkeypatch, scores, axis=1):
    """(result, how many times np.argmax was called) for one class_argmax call."""
    calls = []
    real = np.argmax

    def spy(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(np, "argmax", spy)
    out = class_argmax(scores, axis)
    monkeypatch.setattr(np, "argmax", real)
    np.testing.assert_array_equal(out, real(np.asarray(scores), axis=axis))
    return len(calls)


@pytest.mark.parametrize(("shape", "axis", "dtype"), [
    ((1, 2, 3, 3), 1, np.float32),   # 2 classes: the fewest the loop takes
    ((1, 64, 2, 2), 1, np.float64),  # 64 classes: the most (_MAX_PLANES)
    ((1, 5, 3, 3), -3, np.int8),     # a negative class axis, integers
    ((3, 4, 5), 1, np.uint8),        # 3-D: the axis before the last
])
def test_segmentation_logits_take_the_plane_loop(monkeypatch, shape, axis, dtype):
    scores = np.random.default_rng(2).integers(0, 9, shape).astype(dtype)
    assert _numpy_calls(monkeypatch, scores, axis) == 0


@pytest.mark.parametrize(("shape", "axis", "dtype"), [
    ((1, 65, 2, 2), 1, np.float32),  # beyond _MAX_PLANES = 64
    ((1, 1, 3, 3), 1, np.float32),   # one class
    ((2, 3, 4), -1, np.float32),     # the last axis, negative
    ((2, 3, 4), 2, np.float32),      # the last axis
    ((1, 3, 2, 2), 1, np.bool_),     # not a number kind (f, i, u)
    ((1, 3, 2, 2), 1, np.complex64),
])
def test_other_inputs_go_to_numpy(monkeypatch, shape, axis, dtype):
    scores = np.random.default_rng(3).integers(0, 3, shape).astype(dtype)
    assert _numpy_calls(monkeypatch, scores, axis) == 1


def test_nested_lists_are_accepted():
    assert class_argmax([[[1, 5]], [[2, 0]], [[2, 7]]], axis=0).tolist() == [[1, 2]]
