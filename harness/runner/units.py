"""A sweep's cells as work units for an executor, and the finished cells they add up to.

By cells (default) a unit is one cell on all the run's samples, and any worker takes it. By
samples (``--shard-by samples``) the run's batches are split into one contiguous block of
whole batches per worker, a unit is one cell on one block, and a block's units all go to the
same worker, which reads only that block; a cell is finished when all its blocks are, its
per-image matrices concatenated in sample order (batches are the unsharded run's, and every
perturbation is seeded per sample, so the result is the local run's)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from harness.executors.interface import Pool, Unit, gather
from harness.runner.execute import Batching, CellOutcome
from harness.scenarios.cells import Cell

Block = tuple[int, int]


def blocks(by: str, batching: Batching, start: int, stop: int, workers: int) -> list[Block]:
    """``[start, stop)`` whole (cells), or split into up to ``workers`` blocks of whole batches."""
    if by != "samples" or workers < 2:
        return [(start, stop)]
    batches = batching.batches(stop - start)
    cuts = [len(batches) * k // min(workers, len(batches)) for k in range(min(workers, len(batches)) + 1)]
    return [(start + int(batches[a][0]), start + int(batches[b - 1][-1]) + 1) for a, b in zip(cuts, cuts[1:])]


def run_cells(pool: Pool, cells: Sequence[Cell], parts: list[Block], on_samples: Callable[[int], None]) -> Iterator[tuple[Cell, CellOutcome, list[dict[str, Any]]]]:
    """``(cell, outcome, where it ran)`` for each cell as soon as all its blocks are back."""
    grouped = len(parts) > 1
    units = [Unit((cell.id, g), "run", (cell, a, b), size=b - a, group=g if grouped else None)
             for cell in cells for g, (a, b) in enumerate(parts)]
    by_id = {cell.id: cell for cell in cells}
    for cell_id, done in gather(pool.run(units, on_samples), len(parts)):
        yield by_id[cell_id], join_outcomes([d.value for d in done]), [d.worker for d in done]  # type: ignore[index]


def join_outcomes(outcomes: list[CellOutcome]) -> CellOutcome:
    """One cell's block outcomes in sample order: failed with the first failing block's
    reason (the local run stops at that batch too), else the matrices concatenated."""
    if len(outcomes) == 1:
        return outcomes[0]
    seconds = sum(o.seconds for o in outcomes)
    failed = next((o for o in outcomes if o.status == "failed"), None)
    if failed is not None:
        return CellOutcome("failed", failed.reason, None, failed.batch_size, seconds)
    per_image = np.concatenate([o.per_image for o in outcomes if o.per_image is not None])
    return CellOutcome("ok", None, per_image, outcomes[0].batch_size, seconds)
