"""Per-cell metric states are pluggable by ``kind``: a segmentation cell keeps a confusion
matrix, an MLLM probe cell keeps per-sample records. Each kind knows how to read/write its
JSON form, merge two states exactly, and derive the figures a report shows. Results IO,
merge, report and gate only talk to this registry, so a new kind (e.g. latency) plugs in by
registering a ``StateKind``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from harness.registry import Registry


@dataclass(frozen=True)
class StateKind:
    """How one kind of cell state behaves. States are JSON-ready dicts.

    ``merge(a, b)``: the state of the union of the samples of ``a`` and ``b`` (exact).
    ``figures(state, context)``: derived numbers (``context`` carries run facts such as
    the class names); the headline figure is ``figures[primary]``.
    """

    name: str
    merge: Callable[[Mapping[str, Any], Mapping[str, Any]], dict[str, Any]]
    figures: Callable[[Mapping[str, Any], Mapping[str, Any]], dict[str, Any]]
    validate: Callable[[Mapping[str, Any]], None]
    primary: str


STATE_KINDS: Registry[StateKind] = Registry("cell state kind")
STATE_KINDS.add("confusion", "harness.report.confusion_state:CONFUSION")
STATE_KINDS.add("records", "harness.mllm.records:RECORDS")  # MLLM probe cells (issue 8)


def state_kind(name: str) -> StateKind:
    return STATE_KINDS.get(name)
