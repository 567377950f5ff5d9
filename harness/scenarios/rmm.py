"""RMM (random-missing modality): for each non-empty missing set S, drop rate r and seed
index k, every element of each modality in S is zeroed independently with probability r in
normalized space (docs/metrics.md). The empty set is the clean cell, shared with EMM; the seed
index is part of the cell id, so each (sample, cell) pair draws its own reproducible mask."""

from __future__ import annotations

from collections.abc import Sequence

from harness.errors import ConfigError
from harness.scenarios.cells import Cell, Step, missing_label, missing_sets

DEFAULT_RATES: tuple[float, ...] = (0.75, 0.5, 0.25)


def rmm_cells(modalities: Sequence[str], rates: Sequence[float] = DEFAULT_RATES, seeds: int = 1) -> list[Cell]:
    """Cells ordered by rate, then missing set, then seed index."""
    for rate in rates:
        if not 0.0 < rate <= 1.0:
            raise ConfigError(f"--rmm-rates: drop rate {rate} is not a probability in (0, 1]; e.g. --rmm-rates 0.75,0.5,0.25")
    if seeds < 1:
        raise ConfigError(f"--rmm-seeds: RMM needs at least one seed, got {seeds}")
    cells = []
    for rate in rates:
        for missing in missing_sets(modalities)[1:]:
            label = missing_label(missing)
            for k in range(seeds):
                cells.append(
                    Cell(
                        id=f"rmm/r={rate:g}/missing={label}/seed={k}",
                        scenario="rmm",
                        params=(("r", float(rate)), ("missing", label), ("seed", k)),
                        steps=(Step(op="drop", modalities=missing, rate=float(rate)),),
                    )
                )
    return cells
