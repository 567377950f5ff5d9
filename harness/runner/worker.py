"""``CellWorker``: what one worker holds for a whole sweep, whichever executor runs it: the
backend session (opened once), the batching it implies, and the clean inputs of the sample
range it runs, read from the dataset path itself (never shipped by the driver).

The local executor builds one in-process; the Ray executor one per actor. Either way a cell
runs through the same ``run_cell`` on the same inputs, so results are identical."""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from harness.backends.interface import Backend
from harness.runner.clean_cache import DiskCache
from harness.runner.config import RunConfig
from harness.runner.execute import Batching, CellOutcome, Workers, run_cell
from harness.runner.feeds import CleanInputs, FeedBuilder, load_clean
from harness.scenarios.cells import Cell


class CellWorker:
    """``cache``: the run's ``OUT/clean-cache`` (local), or None for a private temporary one
    on the worker's own disk, used only when the clean inputs go to disk and deleted on close."""

    def __init__(self, config: RunConfig, backend: Backend, cache: DiskCache | None) -> None:
        from harness.manifest import load_manifest
        from harness.runner.sweep import batching_for, logits_output, run_dataset

        self.config = config
        self.manifest = load_manifest(config.model_dir)
        self.dataset = run_dataset(config, self.manifest)
        self.output = logits_output(self.manifest)
        self.private = cache is None
        self.cache = cache or DiskCache(Path(tempfile.gettempdir()) / f"mmharness-clean-{uuid.uuid4().hex}", "private")
        self.session = backend.open()
        self.batching = batching_for(self.manifest, self.session, config.batch)
        self.threads = Workers(enabled=config.prefetch)
        self.loaded: tuple[tuple[int, int], FeedBuilder] | None = None

    def facts(self) -> tuple[Batching, dict[str, Any], dict[str, bool]]:
        """The batching, the session's provenance and the helper threads, for results.json."""
        return self.batching, dict(self.session.provenance), self.threads.describe()

    def builder(self, start: int, stop: int) -> FeedBuilder:
        """Feeds over samples ``[start, stop)``, read once (one range kept at a time)."""
        if self.loaded is None or self.loaded[0] != (start, stop):
            self.loaded = None  # drop the previous range before reading the next
            clean = load_clean(self.manifest, self.dataset, stop, start=start, mode=self.config.clean_cache, cache=self.cache,
                               evaluation=self.config.evaluation, inputs=self.session.inputs)
            self.loaded = (start, stop), FeedBuilder(self.manifest, clean, self.session.inputs, self.config.seed)
        return self.loaded[1]

    def samples(self, start: int, stop: int) -> CleanInputs:
        """Which samples ``[start, stop)`` are (ids, indices, where they live), without the arrays."""
        clean = self.builder(start, stop).clean
        empty = {name: array[:0] for name, array in clean.raw.items()}
        return dataclasses.replace(clean, raw=empty, tensors={k: v[:0] for k, v in clean.tensors.items()}, labels=clean.labels[:0])

    def run(self, cell: Cell, start: int, stop: int, on_batch: Callable[[int], None] | None = None) -> CellOutcome:
        """``cell`` on samples ``[start, stop)``."""
        builder = self.builder(start, stop)
        manifest = self.manifest
        return run_cell(self.session, builder, cell, self.batching, self.output, manifest.num_classes, manifest.ignore_index,
                        on_batch or _ignore, self.threads)

    def gallery(self, start: int, stop: int, plan: list[Cell], records: dict[str, Any], header: dict[str, Any]) -> Any:
        """The report's sample gallery (``harness.runner.samples``) from this worker's session."""
        from harness.runner import samples

        builder = self.builder(start, stop)
        return samples.capture(self.session, builder, self.batching, self.output, plan, records, self.manifest, header,
                               self.config.save_samples)

    def identity(self) -> dict[str, Any]:
        return {"device": self.session.provenance.get("device", "?")}

    def close(self) -> None:
        self.loaded = None
        self.threads.__exit__(None, None, None)
        self.session.close()
        if self.private:
            shutil.rmtree(self.cache.root, ignore_errors=True)


def _ignore(samples: int) -> None:
    """Progress of a remote worker is reported by the driver when its unit arrives."""


def join_samples(parts: list[CleanInputs]) -> CleanInputs:
    """The sample ranges of consecutive blocks as one (ids and indices in sample order)."""
    if len(parts) == 1:
        return parts[0]
    return dataclasses.replace(parts[0], indices=np.concatenate([p.indices for p in parts]),
                               sample_ids=tuple(s for p in parts for s in p.sample_ids))
