"""Turn a scenario selection into the ordered list of cells of a sweep, and pick a shard.

The order is fixed (clean first, then EMM, RMM, NM in their own orders), so ``--shard I/N``
is a pure function of the plan: cell ``k`` (0-based, plan order) belongs to shard
``k mod N + 1``. Round-robin keeps shards balanced, since neighbouring cells cost the same.
A shard ``by="samples"`` instead runs every cell on a contiguous block of whole batches
(``sample_block``); its confusion states add up on merge.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from harness.errors import ConfigError
from harness.scenarios.cells import CLEAN_ID, Cell, clean_cell
from harness.scenarios.emm import emm_cells
from harness.scenarios.nm import LIAO_LEVELS, SEVERITIES, liao_cells, suite_cells
from harness.scenarios.rmm import DEFAULT_RATES, rmm_cells

SCENARIOS: tuple[str, ...] = ("emm", "rmm", "nm")


@dataclass(frozen=True)
class PlanSpec:
    """What to sweep. ``nm_suite`` maps modality -> corruption names (already resolved)."""

    scenarios: tuple[str, ...] = SCENARIOS
    rmm_rates: tuple[float, ...] = DEFAULT_RATES
    rmm_seeds: int = 1
    nm_levels: tuple[str, ...] = LIAO_LEVELS
    nm_suite: tuple[tuple[str, tuple[str, ...]], ...] = field(default=())
    nm_severities: tuple[int, ...] = SEVERITIES

    def to_dict(self) -> dict[str, object]:
        return {
            "scenarios": list(self.scenarios),
            "rmm_rates": list(self.rmm_rates),
            "rmm_seeds": self.rmm_seeds,
            "nm_levels": list(self.nm_levels),
            "nm_suite": {modality: list(names) for modality, names in self.nm_suite},
            "nm_severities": list(self.nm_severities),
        }


def parse_scenarios(text: str) -> tuple[str, ...]:
    """``"emm,rmm"`` -> ``("emm", "rmm")`` in canonical order; unknown names with a hint."""
    names = [part.strip().lower() for part in text.split(",") if part.strip()]
    if not names:
        raise ConfigError(f"--scenarios: empty selection; choose from {', '.join(SCENARIOS)}")
    for name in names:
        if name not in SCENARIOS:
            close = difflib.get_close_matches(name, SCENARIOS, n=2, cutoff=0.4)
            hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else ""
            raise ConfigError(f"--scenarios: unknown scenario {name!r}{hint} (available: {', '.join(SCENARIOS)})")
    return tuple(s for s in SCENARIOS if s in names)


def build_plan(modalities: Sequence[str], spec: PlanSpec) -> list[Cell]:
    """All cells of the sweep; the clean cell is always present (every relative figure needs it)."""
    cells: list[Cell] = []
    if "emm" in spec.scenarios:
        cells.extend(emm_cells(modalities))
    else:
        cells.append(clean_cell())
    if "rmm" in spec.scenarios:
        cells.extend(rmm_cells(modalities, spec.rmm_rates, spec.rmm_seeds))
    if "nm" in spec.scenarios:
        cells.extend(liao_cells(modalities, spec.nm_levels))
        cells.extend(suite_cells(dict(spec.nm_suite), spec.nm_severities))
    ids = [cell.id for cell in cells]
    if len(set(ids)) != len(ids):
        raise ConfigError(f"the plan holds duplicate cell ids: {sorted({i for i in ids if ids.count(i) > 1})}")
    return cells


@dataclass(frozen=True)
class Shard:
    """``index`` is 1-based: shard 1/2 and 2/2 together cover the plan exactly once, by
    cells (default) or by samples (every cell, on a block of the images)."""

    index: int = 1
    count: int = 1
    by: Literal["cells", "samples"] = "cells"

    def to_dict(self) -> dict[str, int | str]:
        out: dict[str, int | str] = {"index": self.index, "count": self.count}
        if self.by != "cells":
            out["by"] = self.by
        return out


def parse_shard(text: str, by: Literal["cells", "samples"] = "cells") -> Shard:
    """``"2/4"`` -> ``Shard(2, 4)``; anything else is a one-line ``ConfigError``."""
    index_text, sep, count_text = text.partition("/")
    try:
        index, count = int(index_text), int(count_text)
    except ValueError:
        index, count = 0, 0
    if not sep or count < 1 or not 1 <= index <= count:
        raise ConfigError(f"--shard: expected I/N with 1 <= I <= N (e.g. 1/2), got {text!r}")
    return Shard(index, count, by)


def select_shard(cells: Sequence[Cell], shard: Shard) -> list[Cell]:
    """The cells of ``shard`` in plan order (round-robin over plan positions; all of them
    for a shard by samples)."""
    if shard.by == "samples":
        return list(cells)
    return [cell for k, cell in enumerate(cells) if k % shard.count == shard.index - 1]


def sample_block(n_batches: int, shard: Shard) -> range:
    """The batches (by position) a shard by samples runs: a contiguous block, so every batch
    is the unsharded run's batch (the Liao preset is batch-level) and images stay in order."""
    if shard.by != "samples":
        return range(n_batches)
    return range((shard.index - 1) * n_batches // shard.count, shard.index * n_batches // shard.count)


def cells_by_id(cells: Sequence[Cell]) -> Mapping[str, Cell]:
    return {cell.id: cell for cell in cells}


__all__ = ["CLEAN_ID", "SCENARIOS", "PlanSpec", "Shard", "build_plan", "parse_scenarios", "parse_shard", "sample_block", "select_shard"]
