"""Scenarios are data: a sweep is a list of frozen ``Cell`` values, each one evaluation
condition with a stable id (``emm/missing=depth+event``), the parameters a report groups by,
and the ordered perturbation ``Step``s the runner applies to a batch. The runner never knows
which scenario a cell came from; the MLLM bias probes reuse the same value with ``kind="records"``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import combinations
from typing import Literal

StepOp = Literal["fill", "drop", "preset", "corrupt"]
StateKind = Literal["confusion", "records"]

CLEAN_ID = "emm/missing=none"


@dataclass(frozen=True)
class Step:
    """One perturbation of some modalities of a batch.

    ``fill``: replace by the manifest's missing fill (normalized space).
    ``drop``: zero every element independently with probability ``rate`` (normalized space).
    ``preset``: a named batch-level preset (``liao``) at ``level`` on ``modalities``.
    ``corrupt``: the registered corruption ``name`` at ``severity`` 1..5 (its own space).
    """

    op: StepOp
    modalities: tuple[str, ...]
    name: str = ""
    level: str = ""
    severity: int = 0
    rate: float = 0.0


@dataclass(frozen=True)
class Cell:
    """One evaluation condition. ``params`` are ordered ``(key, value)`` pairs for reports."""

    id: str
    scenario: str
    params: tuple[tuple[str, str | int | float], ...] = ()
    steps: tuple[Step, ...] = ()
    kind: StateKind = "confusion"
    tags: frozenset[str] = field(default_factory=frozenset)

    def param(self, key: str) -> str | int | float | None:
        return dict(self.params).get(key)

    def to_dict(self) -> dict[str, object]:
        """The JSON form stored in results.json (steps are re-derivable from the plan)."""
        return {"scenario": self.scenario, "params": dict(self.params), "kind": self.kind}


def missing_sets(modalities: Iterable[str]) -> list[tuple[str, ...]]:
    """Every missing set S with |S| < N in a fixed order: by size, then manifest order.

    The empty set (clean) comes first; the all-missing set is excluded (2^N - 1 sets).
    """
    names = tuple(modalities)
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate modality names: {names}")
    out: list[tuple[str, ...]] = []
    for size in range(len(names)):
        out.extend(combinations(names, size))
    return out


def missing_label(missing: tuple[str, ...]) -> str:
    """``depth+event`` or ``none``: the spelling used in ids and tables."""
    return "+".join(missing) if missing else "none"


def clean_cell() -> Cell:
    """The reference condition every relative figure divides by."""
    return Cell(id=CLEAN_ID, scenario="emm", params=(("missing", "none"),), steps=())
