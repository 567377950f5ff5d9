"""Run one cell: feed every batch through the session, prepare the next batch on a worker
thread meanwhile, turn outputs into per-image confusion matrices, and stop the cell (not the
sweep) on NaN/Inf outputs or out-of-range predictions, with the reason recorded."""

from __future__ import annotations

import os
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
from harness.metrics.argmax import class_argmax
from harness.runner.output_check import check_output
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


def score_thread_default() -> bool:
    """Score on a thread only with more than two cores. On two, onnxruntime's intra-op pool
    already fills both and the hand-offs cost more than the overlap gains: on a quiet 2-core
    machine (``benchmarks/bench_run.py --workers``) the clean cell ran at 0.733-0.795x of a
    bare session loop with the scoring thread and 0.783-0.812x with scoring inline, and the
    full default plan took the same time either way (1.76-1.85 s)."""
    return (os.cpu_count() or 1) > 2


class Workers:
    """The helper threads of a sweep, started once and shared by its cells: one builds the
    next batch's feeds and (``score``) one scores the previous batch's outputs, while the
    session runs. ``score=None`` picks ``score_thread_default()``."""

    def __init__(self, enabled: bool = True, score: bool | None = None) -> None:
        score = score_thread_default() if score is None else score
        self.prefetch = ThreadPoolExecutor(1, thread_name_prefix="mmharness-prefetch") if enabled else None
        self.score = ThreadPoolExecutor(1, thread_name_prefix="mmharness-score") if enabled and score else None

    def describe(self) -> dict[str, bool]:
        return {"prefetch_thread": self.prefetch is not None, "score_thread": self.score is not None}

    def __enter__(self) -> Workers:  # noqa: PYI034 - final class
        return self

    def __exit__(self, *exc: object) -> None:
        for pool in (self.prefetch, self.score):
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)


SEQUENTIAL = Workers(enabled=False)


def _prefetched(build: Callable[[Rows], dict[str, Any]], batches: list[Rows], pool: ThreadPoolExecutor | None) -> Iterator[tuple[Rows, dict[str, Any]]]:
    """``(rows, build(rows))`` per batch; with a pool the next batch is built one step ahead
    (bounded memory) while the caller runs the current one."""
    if pool is None or len(batches) < 2:
        for rows in batches:
            yield rows, build(rows)
        return
    pending: Future[dict[str, Any]] = pool.submit(build, batches[0])
    for k, rows in enumerate(batches):
        feeds = pending.result()
        if k + 1 < len(batches):
            pending = pool.submit(build, batches[k + 1])
        yield rows, feeds


def predictions(output: OutputSpec, value: npt.NDArray[Any], size: tuple[int, int] | None = None) -> npt.NDArray[Any]:
    """Class ids ``(N, H, W)`` from a ``logits`` (N,C,H,W or N,H,W,C) or ``class_map`` output.

    ``size`` (evaluation ``native``: the labels' on-disk size) resizes first, as
    mmsegmentation does: logits bilinearly (align_corners=False) before the argmax; a class
    map, having no scores left, with nearest."""
    from harness.data.resize import bilinear_argmax, resize

    if output.role == "class_map":
        if size is None or tuple(value.shape[1:3]) == size:
            return value
        return np.stack([resize(m, size[0], size[1], "nearest") for m in value])
    nchw = output.layout == "NCHW"
    if size is not None and tuple(value.shape[2:4] if nchw else value.shape[1:3]) != size:
        return bilinear_argmax(value if nchw else value.transpose(0, 3, 1, 2), size[0], size[1])
    return class_argmax(value, axis=1 if nchw else -1)


def score_size(clean: CleanInputs) -> tuple[int, int] | None:
    """Where predictions are brought before scoring: the labels' size under evaluation
    ``native``; None (as the model outputs them) under ``model``."""
    native = clean.resolution is not None and clean.resolution.convention == "native"
    return (int(clean.labels.shape[1]), int(clean.labels.shape[2])) if native else None


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
    workers: Workers = SEQUENTIAL,
) -> CellOutcome:
    """Evaluate ``cell`` on all clean rows; ``on_batch(n)`` reports progress in samples."""
    start = time.perf_counter()
    clean = builder.clean
    parts: list[npt.NDArray[np.int64]] = []
    batches = batching.batches(len(clean))

    def score(rows: Rows, value: npt.NDArray[Any]) -> tuple[str | None, npt.NDArray[np.int64] | None]:
        return _score(clean, cell, rows, value, output, num_classes, ignore_index)

    def failed(reason: str) -> CellOutcome:
        return CellOutcome("failed", reason, None, batching.size, time.perf_counter() - start)

    # Scoring (argmax + per-image matrices) of batch k overlaps the session running batch k+1.
    scorer = _Scorer(score, workers.score)
    try:
        for rows, feeds in _prefetched(_guarded(lambda r: builder.feeds(cell, r), cell), batches, workers.prefetch):
            if batching.fixed:
                feeds = pad_rows(feeds, len(rows), batching.size)
            value = np.asarray(session.run(feeds)[output.name])
            check_output(output, value, num_classes, len(rows))  # a dynamic class axis is only seen here
            scorer.submit(rows, value[: len(rows)])
            for rows_done, (reason, matrices) in scorer.ready():
                if reason is not None:
                    return failed(reason)
                parts.append(matrices)  # type: ignore[arg-type]
                on_batch(len(rows_done))
    except _InputFailure as failure:
        return failed(str(failure))
    for rows_done, (reason, matrices) in scorer.drain():
        if reason is not None:
            return failed(reason)
        parts.append(matrices)  # type: ignore[arg-type]
        on_batch(len(rows_done))
    per_image = np.concatenate(parts) if parts else np.zeros((0, num_classes, num_classes), np.int64)
    return CellOutcome("ok", None, per_image, batching.size, time.perf_counter() - start)


class _Scorer:
    """Scores batches on one worker thread, handing results back in submission order."""

    def __init__(self, score: Callable[[Rows, npt.NDArray[Any]], Any], pool: ThreadPoolExecutor | None) -> None:
        self.score, self.pool = score, pool
        self.pending: list[tuple[Rows, Future[Any]]] = []

    def submit(self, rows: Rows, value: npt.NDArray[Any]) -> None:
        future: Future[Any] = Future()
        if self.pool is None:
            future.set_result(self.score(rows, value))
        else:
            future = self.pool.submit(self.score, rows, value)
        self.pending.append((rows, future))

    def ready(self) -> Iterator[tuple[Rows, Any]]:
        """Finished results at the head of the queue (never blocks)."""
        while self.pending and self.pending[0][1].done():
            rows, future = self.pending.pop(0)
            yield rows, future.result()

    def drain(self) -> Iterator[tuple[Rows, Any]]:
        while self.pending:
            rows, future = self.pending.pop(0)
            yield rows, future.result()


class _InputFailure(Exception):
    """Building a cell's inputs failed (a corruption raised): the cell fails, the sweep goes on."""


def _guarded(build: Callable[[Rows], dict[str, Any]], cell: Cell) -> Callable[[Rows], dict[str, Any]]:
    def run(rows: Rows) -> dict[str, Any]:
        try:
            return build(rows)
        except Exception as error:
            raise _InputFailure(f"building inputs for cell {cell.id} failed: {type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}") from error

    return run


def _score(
    clean: CleanInputs,
    cell: Cell,
    rows: Rows,
    value: npt.NDArray[Any],
    output: OutputSpec,
    num_classes: int,
    ignore_index: int | None,
) -> tuple[str | None, npt.NDArray[np.int64] | None]:
    """``(None, per-image matrices)`` for a good batch, ``(reason, None)`` when the cell fails."""
    reason = non_finite_reason(output.name, value, [clean.sample_ids[i] for i in rows])
    if reason is not None:
        return reason, None
    try:
        pred = predictions(output, value, score_size(clean))
        return None, per_image_confusion(pred, take(clean.labels, rows), num_classes, ignore_index, where=f"cell {cell.id}")
    except DataError as error:
        return str(error), None
