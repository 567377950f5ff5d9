"""The one library call behind ``mmharness bench``: open the model, time it, summarise.

Inputs are real samples, not zeros: the first ``batch`` samples of the dataset (synthetic by
default) go through the same preprocessing and feed builder as ``mmharness run``, so
data-dependent operators see realistic values. Optionally each corruption cell of the chosen
scenarios is timed too (noise can change latency when the graph has data-dependent ops such as
NonZero or TopK). Telemetry samples power during the measured phase only.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from harness.backends.interface import Backend, Session, SupportsDeviceTiming
from harness.bench.measure import Measurement, Schedule, measure
from harness.bench.stats import COV_METHOD, COV_WARN, PERCENTILE_METHOD, LatencyStats
from harness.errors import ConfigError, HarnessError, InfrastructureError

FORMAT = "mmharness.bench"
SCHEMA_VERSION = 1
DEVICE_SPLIT_KEYS = ("h2d_ms", "compute_ms", "d2h_ms")
TIMING_METHOD = (
    "host wall clock (perf_counter_ns) around one blocking Session.run per iteration, inputs already in host "
    "memory; includes host->device and device->host copies for GPU backends"
)


@dataclass(frozen=True)
class BenchConfig:
    """Everything that defines a benchmark run."""

    model_dir: str
    backend: str = "ort:cpu"
    backend_options: tuple[tuple[str, str], ...] = ()
    batch: int = 1
    schedule: Schedule = field(default_factory=Schedule)
    data: str = "synthetic"
    scenarios: tuple[str, ...] = ()
    nm_suite: str = "default"
    cell_schedule: Schedule = field(default_factory=lambda: Schedule(warmup_s=0.1, min_iterations=20, min_duration_s=0.0))
    telemetry: str = "auto"
    telemetry_interval_s: float = 0.05
    seed: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.batch, bool) or not isinstance(self.batch, int) or self.batch < 1:
            raise ConfigError(f"--batch: must be a whole number >= 1, got {self.batch!r}")
        from harness.telemetry.probe import SOURCE_KINDS

        if self.telemetry not in SOURCE_KINDS:
            raise ConfigError(f"--telemetry: unknown source {self.telemetry!r}; choose one of {', '.join(SOURCE_KINDS)}")
        if not self.telemetry_interval_s > 0:
            raise ConfigError(f"--telemetry-interval: must be > 0 seconds, got {self.telemetry_interval_s!r}")

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model_dir,
            "backend": self.backend,
            "backend_options": dict(self.backend_options),
            "batch": self.batch,
            "data": self.data,
            "warmup_s": self.schedule.warmup_s,
            "min_iterations": self.schedule.min_iterations,
            "min_duration_s": self.schedule.min_duration_s,
            "max_iterations": self.schedule.max_iterations,
            "scenarios": list(self.scenarios),
            "nm_suite": self.nm_suite,
            "cell_iterations": self.cell_schedule.min_iterations,
            "cell_warmup_s": self.cell_schedule.warmup_s,
            "cell_min_duration_s": self.cell_schedule.min_duration_s,
            "telemetry": self.telemetry,
            "telemetry_interval_s": self.telemetry_interval_s,
            "seed": self.seed,
        }


def make_step(session: Session, feeds: dict[str, np.ndarray]) -> Callable[[], dict[str, float] | None]:
    """One blocking inference; returns the device split when the session can measure it."""
    if isinstance(session, SupportsDeviceTiming):

        def timed() -> dict[str, float] | None:
            return session.run_timed(feeds)[1]

        return timed

    def plain() -> None:
        session.run(feeds)

    return plain


def summarise(measurement: Measurement, batch: int) -> dict[str, Any]:
    """Latency statistics, throughput, device split and warnings of one measured phase."""
    stats = LatencyStats.from_ms(measurement.latencies_ms)
    n = stats.count
    wall = measurement.wall_s
    warnings = []
    if stats.unstable:
        warnings.append(
            f"latency coefficient of variation {stats.cov:.1%} exceeds {COV_WARN:.1%}: the measurement is unstable "
            "(dynamic clocks, thermal throttling or other load); lock clocks (jetson_clocks / nvidia-smi -lgc) and rerun"
        )
    device: dict[str, Any]
    if measurement.device_ms:
        device = {key: LatencyStats.from_ms(values).to_json() for key, values in sorted(measurement.device_ms.items())}
    else:
        device = {"skipped": "the session does not report a device split (SupportsDeviceTiming); host timing only"}
    return {
        "iterations": n,
        "warmup_iterations": measurement.warmup_iterations,
        "latency_ms": stats.to_json(),
        "throughput": {
            "wall_s": wall,
            "inferences_per_s": n / wall if wall > 0 else None,
            "samples_per_s": n * batch / wall if wall > 0 else None,
        },
        "device_ms": device,
        "warnings": warnings,
        "samples_ms": list(measurement.latencies_ms),
    }


def methodology(config: BenchConfig) -> dict[str, Any]:
    return {
        "anchors": ["trtexec", "MLPerf SingleStream"],
        "schedule": config.schedule.describe(),
        "timing": TIMING_METHOD,
        "device_split": "host->device, compute and device->host as measured by the backend's run_timed "
        "(each phase synchronized on the device) when the session supports it",
        "percentiles": PERCENTILE_METHOD,
        "cov": COV_METHOD,
        "cov_warn": COV_WARN,
        "throughput": "iterations x batch / wall time of the measured phase",
        "energy": "power integrated over the measured phase (telemetry.power.energy_from); energy_per_inference_mj "
        "is per sample: energy / (iterations x batch), as mmharness run reports it per image",
        "cell_schedule": (
            f"per-cell latency (--scenarios) uses its own, shorter schedule: {config.cell_schedule.describe()}; "
            "p50_ratio_vs_clean divides by the p50 of the clean inputs timed with this same schedule just before "
            "the cells (cells_reference), never by the main result's p50"
        ),
        "headline": "MLPerf SingleStream's metric is p90_ms; trtexec prints mean, median (p50) and p99 the same way",
    }


def open_session(backend: Backend, where: str) -> Session:
    """Open ``backend``; a model that fails to load is exit 3 with the runtime's reason.

    The manifest was already validated (bad manifest: exit 2). Whatever goes wrong while the
    runtime loads the graph (corrupt or unsupported graph, missing provider, engine for another
    GPU) means this model cannot be benchmarked here, which is infrastructure (exit 3), as
    trtexec reports a failed engine load. Only flag errors (``ConfigError``) stay exit 2.
    """
    try:
        return backend.open()
    except ConfigError:
        raise
    except InfrastructureError:
        raise
    except Exception as error:  # the runtime's own exception types vary by backend and version
        reason = " ".join(str(error).split())
        if isinstance(error, HarnessError):  # already one line naming the file: keep it, without the type
            reason = reason.removeprefix(f"{where}: ")
        else:
            reason = f"{type(error).__name__}: {reason}"
        raise InfrastructureError(
            f"{where}: model failed to load on {getattr(backend, 'name', backend)!r}: {reason[:300]}"
        ) from error


def run_bench(config: BenchConfig, backend: Backend | None = None) -> dict[str, Any]:
    """Benchmark ``config.model_dir`` and return the ``bench`` document (see ``bench.schema.json``)."""
    from harness.manifest import load_manifest

    manifest = load_manifest(config.model_dir)
    if manifest.task != "segmentation":
        raise ConfigError(f"{config.model_dir}: task {manifest.task!r}: bench supports segmentation models (task 'segmentation')")
    if backend is None:
        from harness.bench.backend import resolve_backend

        backend = resolve_backend(config, manifest)
    with open_session(backend, manifest.graph_path()) as session:
        builder, clean_rows = _feed_builder(config, manifest, session)
        cells = _cells(config, manifest)
        clean_feeds = builder(cells[0], clean_rows)
        main, telemetry = _measure_with_telemetry(config, make_step(session, clean_feeds))
        per_cell: dict[str, Any] = {}
        reference = None
        if len(cells) > 1:
            reference = measure(make_step(session, clean_feeds), config.cell_schedule)
        for cell in cells[1:]:
            per_cell[cell.id] = _cell_summary(measure(make_step(session, builder(cell, clean_rows)), config.cell_schedule), reference)
        provenance = {"session": dict(session.provenance), "environment": _environment()}
    document = {
        "format": FORMAT,
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "mmharness", "version": _version()},
        "model": {"name": manifest.name, "dir": config.model_dir, "graph": manifest.graphs.get("model")},
        "config": config.to_json(),
        "methodology": methodology(config),
        "provenance": provenance,
        "result": summarise(main, config.batch),
        "cells": per_cell,
        "cells_reference": _reference_summary(reference),
        "telemetry": telemetry,
        "timing": {"finished_unix": time.time()},
    }
    return document


def _environment() -> dict[str, Any]:
    """The same probes ``mmharness run`` records (versions, GPU, driver, Jetson L4T/power mode)."""
    from harness.env import collect_environment

    return collect_environment()


def _version() -> str:
    from harness import __version__

    return __version__


def _measure_with_telemetry(config: BenchConfig, step: Callable[[], Any]) -> tuple[Measurement, dict[str, Any]]:
    from harness.telemetry.probe import Telemetry

    with Telemetry(config.telemetry, config.telemetry_interval_s) as telemetry:
        result = measure(step, config.schedule)
    # per sample (iterations x batch): the unit of `mmharness run`'s per-image energy
    return result, telemetry.record(result.t0, result.t1, inferences=len(result.latencies_ms) * config.batch)


def _reference_summary(reference: Measurement | None) -> dict[str, Any] | None:
    """The clean inputs timed with the cell schedule: the denominator of every cell's ratio."""
    if reference is None:
        return None
    stats = LatencyStats.from_ms(reference.latencies_ms)
    return {"iterations": stats.count, "latency_ms": stats.to_json()}


def _cell_summary(measurement: Measurement, clean: Measurement | None) -> dict[str, Any]:
    """Statistics of one cell and its p50 over ``clean``'s (timed with the same cell schedule)."""
    stats = LatencyStats.from_ms(measurement.latencies_ms)
    clean_p50 = LatencyStats.from_ms(clean.latencies_ms).p50_ms if clean is not None else None
    return {
        "iterations": stats.count,
        "latency_ms": stats.to_json(),
        "p50_ratio_vs_clean": stats.p50_ms / clean_p50 if clean_p50 else None,
    }


def _cells(config: BenchConfig, manifest: Any) -> list[Any]:
    from harness.scenarios.cells import clean_cell

    if not config.scenarios:
        return [clean_cell()]
    from harness.runner.suites import resolve_suite
    from harness.scenarios.plan import PlanSpec, build_plan

    suite, severities = resolve_suite(config.nm_suite, manifest) if "nm" in config.scenarios else ((), (1, 3, 5))
    spec = PlanSpec(scenarios=config.scenarios, nm_suite=suite, nm_severities=severities)
    cells = build_plan(manifest.modality_names, spec)
    clean = [c for c in cells if c.id == clean_cell().id]
    return clean + [c for c in cells if c.id != clean_cell().id]


def _feed_builder(config: BenchConfig, manifest: Any, session: Session) -> tuple[Callable[[Any, np.ndarray], dict[str, np.ndarray]], np.ndarray]:
    """A ``(cell, rows) -> feeds`` function over the first ``batch`` dataset samples."""
    from harness.data.agreement import model_channels
    from harness.data.registry import open_dataset
    from harness.runner.feeds import FeedBuilder, check_dataset, load_clean

    options: dict[str, Any] = {}
    if config.data.split(":", 1)[0] == "synthetic":
        size = manifest.input_size[0] if manifest.input_size else None
        if size:
            options["size"] = size
    dataset = open_dataset(config.data, split="val", channels=model_channels(manifest), **options)
    check_dataset(manifest, dataset, where=f"--data {config.data}")
    if len(dataset) < config.batch:
        raise ConfigError(f"--batch {config.batch}: dataset {config.data!r} holds only {len(dataset)} samples; lower --batch")
    fixed = None if manifest.batch.dynamic else manifest.batch.size
    if fixed is not None and fixed != config.batch:
        raise ConfigError(f"--batch {config.batch}: {manifest.graph_path()} has a fixed batch of {fixed}; use --batch {fixed}")
    if manifest.batch.dynamic and manifest.batch.max is not None and config.batch > manifest.batch.max:
        raise ConfigError(f"--batch {config.batch}: manifest batch.max is {manifest.batch.max}; use --batch <= {manifest.batch.max}")
    clean = load_clean(manifest, dataset, limit=config.batch)
    builder = FeedBuilder(manifest, clean, session.inputs, config.seed)
    return builder.feeds, np.arange(config.batch, dtype=np.int64)
