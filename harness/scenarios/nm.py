"""NM (noisy modality): Liao's batch-level salt-and-pepper + Gaussian preset at three levels,
and per-modality corruption suites at severities 1..5 (docs/metrics.md). Which corruptions a
suite holds is decided by the caller (from the corruption registry); this module only turns
that choice into cells, so the plan is pure data and testable without any corruption code."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from harness.scenarios.cells import Cell, Step

LIAO_LEVELS: tuple[str, ...] = ("low", "mid", "high")
SEVERITIES: tuple[int, ...] = (1, 2, 3, 4, 5)


def liao_cells(modalities: Sequence[str], levels: Sequence[str] = LIAO_LEVELS) -> list[Cell]:
    """One cell per level; the preset applies to all modalities (Gaussian skips events itself)."""
    unknown = [level for level in levels if level not in LIAO_LEVELS]
    if unknown:
        raise ValueError(f"unknown Liao NM level(s) {unknown}; expected a subset of {list(LIAO_LEVELS)}")
    return [
        Cell(
            id=f"nm/preset=liao/level={level}",
            scenario="nm",
            params=(("preset", "liao"), ("level", level)),
            steps=(Step(op="preset", modalities=tuple(modalities), name="liao", level=level),),
        )
        for level in levels
    ]


def suite_cells(suite: Mapping[str, Sequence[str]], severities: Sequence[int] = SEVERITIES) -> list[Cell]:
    """``suite`` maps modality -> corruption names; cells ordered modality, corruption, severity."""
    bad = [s for s in severities if not (isinstance(s, int) and 1 <= s <= 5)]
    if bad:
        raise ValueError(f"NM severities must be integers in 1..5, got {bad}")
    cells = []
    for modality, names in suite.items():
        for name in names:
            for severity in severities:
                cells.append(
                    Cell(
                        id=f"nm/{modality}/{name}/s{severity}",
                        scenario="nm",
                        params=(("modality", modality), ("corruption", name), ("severity", severity)),
                        steps=(Step(op="corrupt", modalities=(modality,), name=name, severity=severity),),
                    )
                )
    return cells
