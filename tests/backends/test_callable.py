"""CallableBackend: the shipped test double behaves like a real backend at its boundaries."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from harness.backends import Backend, Session, TensorSpec
from harness.backends.callable import CallableBackend
from harness.errors import BadInputError, InternalError

INPUTS = [
    TensorSpec("rgb", np.dtype(np.float32), ("N", 3, 4, 4)),
    TensorSpec("depth", np.dtype(np.float32), ("N", 1, 4, 4)),
]
OUTPUTS = [TensorSpec("logits", np.dtype(np.float32), ("N", 2, 4, 4))]


def two_class(feeds):
    """Class 1 wherever rgb mean exceeds depth, as logits."""
    score = feeds["rgb"].mean(axis=1, keepdims=True) - feeds["depth"]
    return {"logits": np.concatenate([-score, score], axis=1).astype(np.float32)}


def test_runs_function_and_counts_calls():
    backend = CallableBackend(two_class, INPUTS, OUTPUTS, label="double")
    assert isinstance(backend, Backend)
    rgb = np.ones((2, 3, 4, 4), np.float32)
    depth = np.zeros((2, 1, 4, 4), np.float32)
    depth[1] = 2.0
    with backend.open() as session:
        assert isinstance(session, Session)
        out = session.run({"rgb": rgb, "depth": depth})["logits"]
        assert session.calls == 1
        assert session.provenance["backend"] == "double"
        assert session.provenance["function"].endswith("test_callable.two_class")
    np.testing.assert_array_equal(out.argmax(axis=1), np.stack([np.ones((4, 4)), np.zeros((4, 4))]).astype(np.int64))


def test_feeds_are_checked_like_a_real_backend():
    with CallableBackend(two_class, INPUTS, OUTPUTS).open() as session:
        with pytest.raises(
            BadInputError, match=r"callable feed: missing inputs \['depth'\]; rgb: dtype float64, expected float32"
        ):
            session.run({"rgb": np.zeros((1, 3, 4, 4))})
        assert session.calls == 0


def test_broken_function_fails_loudly():
    backend = CallableBackend(lambda feeds: {"logits": np.zeros((1, 3, 4, 4), np.float32)}, INPUTS, OUTPUTS)
    feeds = {"rgb": np.zeros((1, 3, 4, 4), np.float32), "depth": np.zeros((1, 1, 4, 4), np.float32)}
    with (
        backend.open() as session,
        pytest.raises(InternalError, match=r"broke its declared outputs: .*logits: shape \(1, 3, 4, 4\)"),
    ):
        session.run(feeds)


def test_picklable_with_module_level_function():
    backend = CallableBackend(two_class, INPUTS, OUTPUTS)
    assert pickle.loads(pickle.dumps(backend)).fn is two_class
