"""Probe cells of ``mmharness bias`` as work units of an executor (harness/executors).

``ProbeWorker`` is what one worker holds for a whole run: the items (read from ``--data``
itself, never shipped), the prober, and the model's sessions (opened once, on first use; the
base LLM's too when its cell comes). A unit is one probe cell on a block of items: all of
them by cells, or with ``--units items`` one contiguous block per worker. A cell is done when
all its blocks are: records concatenated in item order, or failed with the first failing
block's reason (the local run stops at that item too)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from harness.executors.interface import Pool, Unit, gather
from harness.scenarios.cells import Cell

Block = tuple[int, int]
BlockResult = tuple[str, str | None, dict[str, list[Any]] | None, float]  # status, reason, records, seconds


class ProbeWorker:
    def __init__(self, config: Any) -> None:
        from harness.mllm.bias import open_items
        from harness.mllm.manifest import load_vqa_spec
        from harness.scenarios.bias import Prober

        self.config = config
        spec = load_vqa_spec(config.model)
        self.data = open_items(config, spec)
        self.prober = Prober(self.data, config.seed, spec.missing_image)
        self.stack = ExitStack()
        self.answerers: dict[Path, Any] = {}

    def _answerer(self, model_dir: Path) -> Any:
        """The ``Answerer`` over ``model_dir``'s sessions, opened the first time it is needed."""
        if model_dir not in self.answerers:
            from harness.mllm.answer import Answerer
            from harness.mllm.sessions import open_runtime

            graphs = self.config.graph_keys() if model_dir == self.config.model else None
            runtime = self.stack.enter_context(open_runtime(model_dir, self.config.backend, self.config.backend_options, graphs=graphs))
            self.answerers[model_dir] = Answerer(runtime, self.config.mode)
        return self.answerers[model_dir]

    def provenance(self) -> dict[str, Any]:
        """The model's three sessions, as results.json records them (the decoder's is "backend")."""
        runtime = self._answerer(self.config.model).runtime
        sessions = {role: s.provenance for role, s in zip(("vision", "embedding", "decoder"), (runtime.vision, runtime.embedding, runtime.decoder))}
        return {"sessions": sessions, "backend": sessions["decoder"]}

    def probe(self, cell: Cell, model_dir: Path, lo: int, hi: int, on_batch: Callable[[int], None] | None = None) -> BlockResult:
        """``cell`` on items ``[lo, hi)``: their records, or failed on NaN/Inf logits."""
        from harness.mllm.bias import _records
        from harness.mllm.runtime import NonFiniteOutput

        start = time.perf_counter()
        try:
            state = _records(self._answerer(model_dir), self.prober, cell, self.data.items[lo:hi])
        except NonFiniteOutput as error:
            return "failed", str(error), None, time.perf_counter() - start
        if on_batch is not None:
            on_batch(hi - lo)
        return "ok", None, state, time.perf_counter() - start

    def identity(self) -> dict[str, Any]:
        """The device of the sessions that ran (the last model opened)."""
        answerer = list(self.answerers.values())[-1] if self.answerers else None
        return {"device": answerer.runtime.decoder.provenance.get("device", "?") if answerer else "?"}

    def close(self) -> None:
        self.stack.close()


def item_blocks(by: str, n_items: int, workers: int) -> list[Block]:
    """All items (cells), or one contiguous block per worker (items)."""
    if by != "items" or workers < 2:
        return [(0, n_items)]
    k = min(workers, n_items)
    return [(n_items * i // k, n_items * (i + 1) // k) for i in range(k)]


def run_probes(pool: Pool, cells: Sequence[tuple[Cell, Path]], parts: list[Block]) -> Iterator[tuple[Cell, BlockResult, list[dict[str, Any]]]]:
    """``(cell, joined result, where it ran)`` per cell as soon as all its blocks are back."""
    grouped = len(parts) > 1
    units = [Unit((cell.id, g), "probe", (cell, model_dir, a, b), size=b - a, group=g if grouped else None)
             for cell, model_dir in cells for g, (a, b) in enumerate(parts)]
    by_id = {cell.id: cell for cell, _ in cells}
    for cell_id, done in gather(pool.run(units, lambda n: None), len(parts)):
        yield by_id[cell_id], join_blocks([d.value for d in done]), [d.worker for d in done]  # type: ignore[index]


def join_blocks(results: list[BlockResult]) -> BlockResult:
    """Block results in item order as one: the first failure, else the records concatenated."""
    seconds = sum(r[3] for r in results)
    failed = next((r for r in results if r[0] == "failed"), None)
    if failed is not None:
        return "failed", failed[1], None, seconds
    states = [r[2] for r in results if r[2] is not None]
    return "ok", None, {key: [v for s in states for v in s[key]] for key in states[0]}, seconds
