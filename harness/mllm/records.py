"""The ``records`` cell state of MLLM probe cells: one record per sample, mergeable exactly.

A state is a dict of equal-length lists ordered by ``sample_index``::

    {"sample_index": [0, 1, ...], "sample_id": [...], "prediction": [...], "choice": [...],
     "correct": [1, 0, ...], "n_choices": [4, 3, ...]}

Merging two shards concatenates and re-sorts by ``sample_index`` (a sample in both is an
error). Figures are derived: accuracy in percent points (the unit of ``harness.metrics.bias``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from harness.errors import ResultsError

FIELDS: tuple[str, ...] = ("sample_index", "sample_id", "prediction", "choice", "correct", "n_choices")


def validate(state: Mapping[str, Any]) -> None:
    """Equal-length lists with every field; correctness in {0, 1}; unique sample indices."""
    missing = [name for name in FIELDS if name not in state]
    if missing:
        raise ResultsError(f"records state: missing fields {missing} (expected {list(FIELDS)})")
    lengths = {name: len(state[name]) for name in FIELDS}
    if len(set(lengths.values())) != 1:
        raise ResultsError(f"records state: fields have different lengths {lengths}")
    if any(value not in (0, 1) for value in state["correct"]):
        raise ResultsError("records state: correct must hold only 0 or 1")
    if len(set(state["sample_index"])) != len(state["sample_index"]):
        raise ResultsError("records state: a sample_index appears twice; shards overlap")


def merge(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    """The records of both states, ordered by sample index (exact, order-independent)."""
    validate(a)
    validate(b)
    rows = sorted(
        zip(*(list(a[name]) + list(b[name]) for name in FIELDS)),
        key=lambda row: row[0],
    )
    merged = {name: [row[i] for row in rows] for i, name in enumerate(FIELDS)}
    validate(merged)
    return merged


def figures(state: Mapping[str, Any], context: Mapping[str, Any]) -> dict[str, Any]:
    """Accuracy (percent points) and chance accuracy of the cell's samples."""
    correct = np.asarray(state["correct"], dtype=np.float64)
    choices = np.asarray(state["n_choices"], dtype=np.float64)
    with_choices = choices > 0
    chance = float(100.0 * np.mean(1.0 / choices[with_choices])) if with_choices.any() else None
    return {
        "accuracy": float(100.0 * correct.mean()) if correct.size else None,
        "n_samples": int(correct.size),
        "chance": chance,
        "units": "percent points",
    }


def _kind() -> Any:
    from harness.report.states import StateKind

    return StateKind(name="records", merge=merge, figures=figures, validate=validate, primary="accuracy")


def __getattr__(name: str) -> Any:
    # ``RECORDS`` is built on first access so importing this module never imports the report layer.
    if name == "RECORDS":
        return _kind()
    raise AttributeError(name)
