"""EMM (entire-missing modality): one cell per missing set S, every modality in S replaced
by its manifest missing fill for every sample (docs/metrics.md). Deterministic."""

from __future__ import annotations

from collections.abc import Sequence

from harness.scenarios.cells import Cell, Step, clean_cell, missing_label, missing_sets


def emm_cells(modalities: Sequence[str]) -> list[Cell]:
    """The 2^N - 1 EMM cells, clean first."""
    cells = [clean_cell()]
    for missing in missing_sets(modalities)[1:]:
        label = missing_label(missing)
        cells.append(
            Cell(
                id=f"emm/missing={label}",
                scenario="emm",
                params=(("missing", label),),
                steps=(Step(op="fill", modalities=missing),),
            )
        )
    return cells
