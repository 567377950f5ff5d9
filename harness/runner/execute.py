"""Run one cell: feed every batch through the session, prepare the next batch on a worker
thread meanwhile, turn outputs into per-image confusion matrices, and stop the cell (not the
sweep) on NaN/Inf outputs or out-of-range predictions, with the reason recorded."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from harness.backends.interface import Session
from harness.errors import DataError
from harness.manifest import OutputSpec
from harness.metrics.confusion import per_image_confusion
from harness.runner.feeds import CleanInputs, FeedBuilder, pad_rows, take
from harness.scenarios.cells import Cell

Rows = npt.NDArray[np.int64]


@dataclass(frozen=True)
class CellOutcome:
    """What a cell produced: per-image matrices ``(n, C, C)`` when ok, a reason when failed."""

    status: Literal["ok", "failed"]
    reason: str | None
    per_image: npt.NDArray[np.int64] | None
    batch_size: int
    seconds: float


@dataclass(frozen=True)
class Batching:
    """``size`` rows per batch; ``fixed`` when the graph's batch axis is static (pad the tail)."""

    size: int
    fixed: bool

    def batches(self, n: int) -> list[Rows]:
        return [np.arange(start, min(start + self.size, n), dtype=np.int64) for start in range(0, n, self.size)]


class _Prefetcher:
    """Yields ``build(batch)`` for each batch; the next one is built on a worker thread while
    the caller runs the current one (one batch ahead: bounded memory)."""

    def __init__(self, build: Callable[[Rows], dict[str, Any]], batches: list[Rows], enabled: bool) -> None:
        self.build, self.batches, self.enabled = build, batches, enabled

    def __iter__(self) -> Iterator[tuple[Rows, dict[str, Any]]]:
        if not self.enabled or len(self.batches) < 2:
            for rows in self.batches:
                yield rows, self.build(rows)
            return
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="mmharness-prefetch") as pool:
            pending: Future[dict[str, Any]] = pool.submit(self.build, self.batches[0])
            for k, rows in enumerate(self.batches):
                feeds = pending.result()
                if k + 1 < len(self.batches):
                    pending = pool.submit(self.build, self.batches[k + 1])
                yield rows, feeds


def predictions(output: OutputSpec, value: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """Class ids ``(N, H, W)`` from a ``logits`` (N,C,H,W or N,H,W,C) or ``class_map`` output."""
    if output.role == "class_map":
        return value
    return value.argmax(axis=1 if output.layout == "NCHW" else -1)


def non_finite_reason(name: str, value: npt.NDArray[Any], sample_ids: list[str]) -> str | None:
    """A one-line reason when ``value`` holds NaN/Inf, naming the first affected sample."""
    if value.dtype.kind != "f":
        return None
    finite = np.isfinite(value)
    if finite.all():
        return None
    per_sample = (~finite).reshape(value.shape[0], -1).any(axis=1)
    first = sample_ids[int(np.argmax(per_sample))]
    return (
        f"model output {name!r} holds {int((~finite).sum())} NaN/Inf values in {int(per_sample.sum())} "
        f"sample(s) of a batch (first: {first}); the cell is marked failed"
    )


def run_cell(
    session: Session,
    builder: FeedBuilder,
    cell: Cell,
    batching: Batching,
    output: OutputSpec,
    num_classes: int,
    ignore_index: int | None,
    on_batch: Callable[[int], None],
    prefetch: bool = True,
) -> CellOutcome:
    """Evaluate ``cell`` on all clean rows; ``on_batch(n)`` reports progress in samples."""
    start = time.perf_counter()
    clean = builder.clean
    parts: list[npt.NDArray[np.int64]] = []
    batches = batching.batches(len(clean))
    try:
        for rows, feeds in _Prefetcher(_guarded(lambda r: builder.feeds(cell, r), cell), batches, prefetch):
            reason = _score_batch(session, clean, cell, rows, feeds, batching, output, num_classes, ignore_index, parts)
            if reason is not None:
                return CellOutcome("failed", reason, None, batching.size, time.perf_counter() - start)
            on_batch(len(rows))
    except _InputFailure as failure:
        return CellOutcome("failed", str(failure), None, batching.size, time.perf_counter() - start)
    per_image = np.concatenate(parts) if parts else np.zeros((0, num_classes, num_classes), np.int64)
    return CellOutcome("ok", None, per_image, batching.size, time.perf_counter() - start)


class _InputFailure(Exception):
    """Building a cell's inputs failed (a corruption raised): the cell fails, the sweep goes on."""


def _guarded(build: Callable[[Rows], dict[str, Any]], cell: Cell) -> Callable[[Rows], dict[str, Any]]:
    def run(rows: Rows) -> dict[str, Any]:
        try:
            return build(rows)
        except Exception as error:
            raise _InputFailure(f"building inputs for cell {cell.id} failed: {type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}") from error

    return run


def _score_batch(
    session: Session,
    clean: CleanInputs,
    cell: Cell,
    rows: Rows,
    feeds: dict[str, Any],
    batching: Batching,
    output: OutputSpec,
    num_classes: int,
    ignore_index: int | None,
    parts: list[npt.NDArray[np.int64]],
) -> str | None:
    """Run one batch and append its per-image matrices; a reason string when the cell fails."""
    n = len(rows)
    if batching.fixed:
        feeds = pad_rows(feeds, n, batching.size)
    value = np.asarray(session.run(feeds)[output.name])[:n]
    reason = non_finite_reason(output.name, value, [clean.sample_ids[i] for i in rows])
    if reason is not None:
        return reason
    try:
        parts.append(per_image_confusion(predictions(output, value), take(clean.labels, rows), num_classes, ignore_index, where=f"cell {cell.id}"))
    except DataError as error:
        return str(error)
    return None
