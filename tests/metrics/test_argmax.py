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
