"""``run_sweep(config)``: the library call behind ``mmharness run``. It validates everything
up front (manifest, dataset, plan, shard, resume header), has the cells of its shard that
are not finished yet run by an executor (``harness/executors``: in this process, or on Ray
workers, each reading the clean inputs once), writes each finished cell atomically as it arrives,
and assembles results.json from the cell records (so a resumed run and an uninterrupted one
produce the same file)."""

from __future__ import annotations

import copy
import datetime as _dt
import functools
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from harness import __version__
from harness.backends.interface import Backend, Session
from harness.data import open_dataset
from harness.data.agreement import apply_class_map, model_channels
from harness.data.interface import SegmentationDataset
from harness.errors import ConfigError, ManifestError
from harness.executors import Pool, executor_for
from harness.manifest import MANIFEST_NAME, Manifest, OutputSpec, load_manifest
from harness.report.confusion_state import state_of
from harness.report.io import LazyArrays, sha256_files
from harness.report.results import FORMAT, SCHEMA_VERSION, save_results
from harness.runner import samples
from harness.runner.clean_cache import DiskCache
from harness.runner.config import RunConfig, config_hash
from harness.runner.execute import Batching, CellOutcome
from harness.runner.feeds import CleanInputs, check_dataset
from harness.runner.progress import Progress, make_progress
from harness.runner.store import CellRecord, RunStore, load_matrices
from harness.runner.units import blocks, run_cells
from harness.runner.worker import CellWorker, join_samples
from harness.scenarios.cells import Cell
from harness.scenarios.plan import build_plan, sample_block, select_shard
from harness.signals import graceful
from harness.telemetry.probe import Telemetry
from harness.telemetry.sampler import now


@dataclass(frozen=True)
class SweepResult:
    path: Path
    doc: dict[str, Any]

    @property
    def failed(self) -> list[str]:
        return [cid for cid, e in self.doc["cells"].items() if e["status"] == "failed"]


def model_hash(manifest: Manifest) -> str:
    """One digest over manifest.json and every graph file it names."""
    root = Path(manifest.model_dir)
    files = [root / MANIFEST_NAME] + [root / rel for rel in manifest.graphs.values() if (root / rel).is_file()]
    return sha256_files(files, root)


def logits_output(manifest: Manifest) -> OutputSpec:
    """The output the runner scores: the first ``logits`` output, else the first ``class_map``."""
    for role in ("logits", "class_map"):
        for output in manifest.outputs:
            if output.role == role:
                return output
    raise ManifestError(f"{manifest.model_dir}/manifest.json: outputs: no output with role 'logits' or 'class_map'")


def batching_for(manifest: Manifest, session: Session, requested: int) -> Batching:
    """Fixed batch when the graph's batch axis is static, else ``requested`` capped by the manifest."""
    first = next(spec for spec in session.inputs if spec.name == manifest.modalities[0].input)
    static = first.static_dims().get(0)
    if static is not None:
        return Batching(size=static, fixed=True)
    if not manifest.batch.dynamic and manifest.batch.size:
        return Batching(size=manifest.batch.size, fixed=True)
    largest = manifest.batch.largest()
    return Batching(size=min(requested, largest) if largest else requested, fixed=False)


def resolve_backend(spec: str, options: tuple[str, ...], manifest: Manifest) -> Backend:
    """The backend named by ``--backend`` (``ort:cpu``, ``ort:cuda``, ``trt``...) for the model graph."""
    from harness.backends import backend_for, parse_backend

    return backend_for(manifest, parse_backend(spec, options))


def run_sweep(config: RunConfig, backend: Backend | None = None, progress: Progress | None = None) -> SweepResult:
    """Run (or resume) the sweep described by ``config``; return the written results."""
    started = time.perf_counter()
    started_at = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    manifest = load_manifest(config.model_dir)
    if manifest.task != "segmentation":
        raise ConfigError(f"{config.model_dir}: task {manifest.task!r}; `mmharness run` evaluates segmentation models (use `mmharness bias` for vqa)")
    dataset = run_dataset(config, manifest)
    check_dataset(manifest, dataset, f"--data {config.data}", config.evaluation)
    logits_output(manifest)  # a model without a scored output is refused before anything runs
    plan = build_plan(manifest.modality_names, config.plan)
    selected = select_shard(plan, config.shard)
    header = run_header(config, manifest, dataset)
    backend = backend if backend is not None else resolve_backend(config.backend, config.backend_options, manifest)
    store = RunStore(config.out)
    done = store.start(header, config.resume, config.overwrite)
    cache = DiskCache.of(config.out, config_hash(header))
    if not config.resume:
        cache.remove()
    todo = [cell for cell in selected if cell.id not in done]
    progress = progress or make_progress(config.progress)
    records = dict(done)
    factory = functools.partial(CellWorker, config, backend, cache if config.executor.name == "local" else None)
    with executor_for(config.executor).open(factory, config.backend, most=max(1, len(todo))) as pool:
        batching, session_provenance, threads = pool.ask("facts")
        span = shard_samples(config, batching, len(dataset))
        parts = blocks(config.shard.by, batching, *span, pool.workers)
        clean = join_samples([pool.ask("samples", a, b, group=g) for g, (a, b) in enumerate(parts)])
        progress.start(len(todo), len(todo) * len(clean))
        telemetry = Telemetry("auto" if config.telemetry else "off").start()  # power/energy over the sweep; absent hardware -> skipped (harness/telemetry)
        t_start = now()
        try:
            with graceful() as stop:
                for cell, outcome, where in run_cells(pool, todo, parts, progress.advance):
                    records[cell.id] = _finish_cell(store, progress, cell, outcome, len(clean), manifest.ignore_index, where)
                    stop.check(f"{len(records)} of {len(selected)} cells are finished and kept in {store.cells}; "
                               "continue with the same command and --resume")
        finally:
            progress.close()
            t_end = now()
            telemetry.stop()
        gallery = _gallery(config, pool, span, plan, records, header)
    doc, per_image = assemble(header, manifest, dataset, config, plan, selected, records, clean, session_provenance, batching)
    doc["timing"] = {
        "started": started_at,
        "finished": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "seconds": round(time.perf_counter() - started, 3),
        "cells_run": len(todo),
        "cells_resumed": len(selected) - len(todo),
        "telemetry": telemetry.record(t_start, t_end, inferences=len(todo) * len(clean)),  # per image
        "cell_seconds": {cid: rec[0].get("seconds") for cid, rec in records.items()},
        "clean_inputs": clean.place,
        "workers": threads,
        "executor": {"name": config.executor.name, "workers": pool.workers},
        "cell_workers": {cid: rec[0].get("workers") for cid, rec in records.items()},  # node, device per cell
    }
    path = save_results(config.out, doc, per_image)
    samples.write(config.out, gallery)
    if not config.keep_clean_cache:
        cache.remove()
    return SweepResult(path, doc)


def _gallery(config: RunConfig, pool: Pool, span: tuple[int, int], plan: list[Cell], records: dict[str, CellRecord],
             header: dict[str, Any]) -> Any:
    """The report's sample gallery (``--save-samples``), captured by a worker; a shard keeps
    none (it sees part of the plan)."""
    if samples.check_count(config.save_samples) == 0 or config.shard.count != 1:
        return None
    return pool.ask("gallery", *span, plan, records, header)


def shard_samples(config: RunConfig, batching: Batching, n_dataset: int) -> tuple[int, int]:
    """The sample range ``[start, stop)`` this run evaluates: ``--limit``, then for a shard by
    samples its block of whole batches (the batch size may come from the graph, so this is
    known only once the session is open)."""
    n = n_dataset if config.limit is None else min(config.limit, n_dataset)
    if config.shard.by != "samples":
        return 0, n
    batches = batching.batches(n)
    block = sample_block(len(batches), config.shard)
    if not block:
        raise ConfigError(
            f"--shard {config.shard.index}/{config.shard.count} --shard-by samples: {n} samples make only {len(batches)} "
            f"batch(es) of {batching.size}; use at most {len(batches)} shard(s) or a smaller --batch"
        )
    return int(batches[block[0]][0]), int(batches[block[-1]][-1]) + 1


def run_dataset(config: RunConfig, manifest: Manifest) -> SegmentationDataset:
    """The dataset a run reads, as the driver and every worker open it (from ``--data``'s path)."""
    dataset = open_dataset(config.data, split=config.split, channels=model_channels(manifest))  # what the model takes
    return apply_class_map(dataset, manifest.classes, manifest.ignore_index, config.class_map)


def run_header(config: RunConfig, manifest: Manifest, dataset: SegmentationDataset) -> dict[str, Any]:
    """What identifies this run (``run.json``); ``--resume`` and ``merge`` compare these fields."""
    identity = config.identity(manifest.name)
    identity["evaluation"] = config.evaluation or manifest.evaluation  # --evaluation, else the manifest's
    return {
        "config": identity,
        "config_hash": config_hash(identity),
        "model_hash": model_hash(manifest),
        "dataset_fingerprint": dataset.fingerprint(),
        "shard": config.shard.to_dict(),
    }


def _finish_cell(store: RunStore, progress: Progress, cell: Cell, outcome: CellOutcome, n_samples: int,
                 ignore_index: int | None, where: list[dict[str, Any]]) -> CellRecord:
    """Persist a finished cell atomically and report it; returns its record (the per-image
    matrices stay on disk, so memory does not grow with the number of cells)."""
    record = store.save_cell({**cell_record(cell, outcome, n_samples, ignore_index), "workers": where}, outcome.per_image)
    figure = _miou(outcome.per_image) if outcome.per_image is not None else None
    progress.cell_done(cell.id, outcome.status, figure, outcome.reason)
    return record


def _miou(per_image: npt.NDArray[np.int64]) -> float:
    from harness.metrics.segmentation import mean_iou

    return float(mean_iou(per_image.sum(axis=0)))


def cell_record(cell: Cell, outcome: CellOutcome, n_samples: int, ignore_index: int | None) -> dict[str, Any]:
    """The stored record of a finished cell (id, seconds and the workers that ran it are
    stripped into results timing)."""
    entry: dict[str, Any] = {"id": cell.id, **cell.to_dict(), "status": outcome.status, "reason": outcome.reason}
    entry["n_samples"] = n_samples
    entry["batch_size"] = outcome.batch_size
    entry["state"] = state_of(outcome.per_image.sum(axis=0), ignore_index) if outcome.per_image is not None else None
    entry["figures"] = None
    entry["seconds"] = round(outcome.seconds, 4)
    return entry


@functools.lru_cache(maxsize=1)
def _environment() -> dict[str, Any]:
    """``harness.env`` probes (subprocesses, imports) once per process; a copy per run."""
    from harness.env import collect_environment

    return collect_environment()


def provenance(session_provenance: dict[str, Any], batching: Batching, clean: CleanInputs) -> dict[str, Any]:
    """Where and how it ran: the session's own account plus ``harness.env`` probes."""
    out: dict[str, Any] = {"tool_version": __version__, "backend": session_provenance}
    out["environment"] = copy.deepcopy(_environment())
    out["batch"] = {"size": batching.size, "fixed_by_graph": batching.fixed, "note": "Liao NM preset depends on batch size; the reference used 4"}
    out["samples"] = {"count": len(clean), "first": clean.sample_ids[0], "last": clean.sample_ids[-1]}
    return out


def assemble(
    header: dict[str, Any],
    manifest: Manifest,
    dataset: SegmentationDataset,
    config: RunConfig,
    plan: list[Cell],
    selected: list[Cell],
    records: dict[str, CellRecord],
    clean: CleanInputs,
    session_provenance: dict[str, Any],
    batching: Batching,
) -> tuple[dict[str, Any], LazyArrays]:
    """results.json (without timing) and the per-image sidecar arrays, in plan order."""
    cells: dict[str, Any] = {}
    indices = clean.indices
    loaders: dict[str, Any] = {"sample_index": lambda: indices}
    for cell in selected:
        entry, matrices = records[cell.id]
        cells[cell.id] = {k: v for k, v in entry.items() if k not in ("id", "seconds", "workers")}
        if matrices is not None:
            loaders[cell.id] = functools.partial(load_matrices, matrices)
    doc: dict[str, Any] = {
        "format": FORMAT,
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "mmharness", "version": __version__},
        "task": "segmentation",
        "config": header["config"],
        "config_hash": header["config_hash"],
        "model": {"name": manifest.name, "hash": header["model_hash"], "graph": manifest.graphs.get("model", "")},
        "dataset": {
            "name": dataset.name,
            "fingerprint": header["dataset_fingerprint"],
            "n_samples": len(clean),
            "classes": list(manifest.classes),
            "ignore_index": manifest.ignore_index,
            "modalities": list(manifest.modality_names),
        },
        "shards": [header["shard"]],
        "evaluation": clean.resolution.record(manifest) if clean.resolution is not None else None,
        "provenance": provenance(session_provenance, batching, clean),
        "plan": {"cells": [c.id for c in plan], "complete": len(selected) == len(plan)},
        "cells": cells,
        "aggregates": {},
        "per_image": None,
    }
    return doc, LazyArrays(loaders)
