"""``mmharness bias`` as a library call: run the probe cells on a VLM, score, write results.json.

``run_bias(config)`` opens the model's three graphs on the requested backend, evaluates the
probe cells of ``harness.scenarios.bias`` in its shard (all of them by default) over the VQA
items (records per sample), and returns the results document (the same format as
``mmharness run``; cell states of kind ``records``). ``bias_block(doc)`` derives the bias
figures of ``harness.metrics.bias`` from the stored records alone, with paired bootstrap CIs
over samples (``harness.metrics.stats.bootstrap_samples``: the same resampled items in every
probe); ``mmharness merge`` calls it again on the union of shards.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness.data.vqa import VqaDataset, VqaItem, open_vqa
from harness.errors import ConfigError, ManifestError
from harness.executors.interface import ExecutorSpec
from harness.metrics import bias as metrics
from harness.metrics.stats import bootstrap_samples
from harness.mllm.answer import Answerer
from harness.mllm.manifest import load_vqa_spec
from harness.mllm.records import figures as record_figures
from harness.runner.store import CellRecord, RunStore
from harness.scenarios.bias import (
    CLEAN_ID,
    REMOVED_ID,
    TEXT_REMOVED_ID,
    BiasPlan,
    Prober,
    bias_cells,
)
from harness.scenarios.cells import Cell
from harness.scenarios.plan import Shard, select_shard

DEFAULT_MODEL = Path(__file__).resolve().parents[2] / "models" / "vlm-synth-tiny"
BASE_LLM_ID = "bias/base_llm"


@dataclass(frozen=True)
class BiasConfig:
    """Everything that defines a bias run (hashed into ``config_hash``, except the shard)."""

    model: Path = DEFAULT_MODEL
    data: str = "synthetic-vqa"
    limit: int = 200
    backend: str = "ort:cpu"
    backend_options: tuple[str, ...] = ()
    seed: int = 0
    plan: BiasPlan = field(default_factory=BiasPlan)
    bootstrap: int = 1000
    base_llm: Path | None = None
    mode: str | None = None
    shard: Shard = field(default_factory=Shard)  # not hashed: shards of one sweep share config_hash
    graphs: tuple[tuple[str, str], ...] = ()  # (role, manifest graph key): a precision variant's graphs
    executor: ExecutorSpec = field(default_factory=ExecutorSpec)  # where the probe cells run; not hashed (results are identical)
    units: str = "cells"  # work units: a probe cell each, or "items": each cell in one block of items per worker; not hashed

    def graph_keys(self) -> dict[str, str]:
        """Manifest graph key per role (the plain roles unless a variant swaps some in)."""
        return {"vision": "vision", "embedding": "embedding", "decoder": "decoder", **dict(self.graphs)}

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": str(self.model), "data": self.data, "backend": self.backend, "batch": 1, "limit": self.limit,
            "seed": self.seed, "bootstrap": self.bootstrap, "expected_ps": [],
            "plan": {"scenarios": ["bias"], "rmm_rates": [], "rmm_seeds": 1, "nm_levels": [], "nm_suite": {},
                     "nm_severities": list(self.plan.severities), "bias": self.plan.to_dict()},
            "backend_options": list(self.backend_options),
            "base_llm": None if self.base_llm is None else str(self.base_llm),
            "mode": self.mode,
            **({"graphs": dict(self.graphs)} if self.graphs else {}),
        }


Progress = Callable[[str, int, int, float], None]


def _records(answerer: Answerer, prober: Prober, cell: Cell, data: Sequence[VqaItem]) -> dict[str, Any]:
    state: dict[str, list[Any]] = {k: [] for k in ("sample_index", "sample_id", "prediction", "choice", "correct", "n_choices")}
    for item in data:
        probe = prober.perturb(cell, item)
        answer = answerer.answer(probe.image, probe.question, item.choices)
        state["sample_index"].append(item.index)
        state["sample_id"].append(item.sample_id)
        state["prediction"].append(answer.text)
        state["choice"].append(answer.choice)
        state["correct"].append(int(answerer.is_correct(answer, item.answer)))
        state["n_choices"].append(len(item.choices))
    return state


def _run_cells(config: BiasConfig, data: VqaDataset, selected: list[Cell], progress: Progress | None,
               store: RunStore | None, done: Mapping[str, CellRecord]
               ) -> tuple[dict[str, Any], dict[str, float], dict[str, Any], dict[str, Any]]:
    """Every cell's entry (ok, skipped with the reason, or failed on NaN/Inf), its seconds, the
    model's session provenance and the workers that ran each cell. The cells run as units on
    ``config.executor`` (harness/mllm/probes.py); skipped ones never leave this process. With a
    ``store``, each finished cell is written at once and ``done`` (a resumed run's) are reused;
    SIGINT/SIGTERM stop after the cell in flight with the finished ones kept."""
    from harness.executors import executor_for
    from harness.mllm.probes import ProbeWorker, item_blocks, run_probes
    from harness.signals import graceful

    entries: dict[str, Any] = {}
    seconds: dict[str, float] = {}
    where: dict[str, Any] = {}
    runnable: list[tuple[Cell, Path]] = []
    for cell in selected:
        reason = _skip_reason(cell, data)
        if reason is not None:
            entries[cell.id] = {**cell.to_dict(), "status": "skipped", "reason": reason, "state": None, "figures": None}
            seconds[cell.id] = 0.0
        elif cell.id in done:
            entries[cell.id], seconds[cell.id], where[cell.id] = _stored(done[cell.id][0])
        else:
            runnable.append((cell, config.base_llm if cell.id == BASE_LLM_ID and config.base_llm else config.model))
    provenance: dict[str, Any] = {"sessions": {}}
    with executor_for(config.executor).open(functools.partial(ProbeWorker, config), config.backend, most=max(1, len(runnable))) as pool:
        if any(cell.id != BASE_LLM_ID for cell in selected):
            provenance = pool.ask("provenance")
        with graceful() as stop:
            for cell, (status, reason, state, took), ran_on in run_probes(pool, runnable, item_blocks(config.units, len(data), pool.workers)):
                entries[cell.id] = _entry(cell, state) if status == "ok" else {**cell.to_dict(), "status": "failed", "reason": reason, "state": None, "figures": None}
                seconds[cell.id], where[cell.id] = took, ran_on
                if store is not None:
                    store.save_cell({"id": cell.id, **entries[cell.id], "seconds": took, "workers": ran_on}, None)
                if progress:
                    progress(cell.id, len(entries), len(selected), took)
                if store is not None:
                    stop.check(f"{len(entries)} of {len(selected)} probe cells are finished and kept in {store.cells}; "
                               "continue with the same command and --resume")
    return entries, seconds, provenance, where


def _stored(record: Mapping[str, Any]) -> tuple[dict[str, Any], float, Any]:
    """A stored cell record as (its results.json entry, its seconds, where it ran): the entry is
    the one the cell gave when it ran, so a resumed run's results equal an uninterrupted one's."""
    entry = {key: value for key, value in record.items() if key not in ("id", "seconds", "workers")}
    return entry, float(record.get("seconds") or 0.0), record.get("workers")


def _model_hash(model_dir: Path, graphs: Mapping[str, Path]) -> str:
    digest = hashlib.sha256((model_dir / "manifest.json").read_bytes())
    for role in sorted(graphs):
        digest.update(graphs[role].read_bytes())
    return "sha256:" + digest.hexdigest()


def _graph_files(config: BiasConfig, spec: Any) -> dict[str, Path]:
    """The graph files this run opens: the manifest's three, or a variant's in their place."""
    return {role: spec.graphs[role] if key == role else spec.model_dir / spec.raw_graphs[key]
            for role, key in config.graph_keys().items()}


def open_items(config: BiasConfig, spec: Any) -> VqaDataset:
    """The items a run probes (``--data`` at the model's image size, the first ``--limit``); the
    report's sample gallery re-opens them the same way."""
    data = open_vqa(config.data, size=config.limit, seed=config.seed, image_size=spec.image.size[0])
    if config.limit and len(data) > config.limit:
        data = VqaDataset(data.name, data.items[: config.limit], data.meta)
    return data


def run_bias(config: BiasConfig, progress: Progress | None = None, out: Path | None = None, resume: bool = False,
             overwrite: bool = False) -> dict[str, Any]:
    """Evaluate the probe cells of ``config.shard`` and return the results document (not yet written).

    Shards split the plan's cells round-robin (``harness.scenarios.plan.select_shard``); the bias
    figures of a shard that lacks a cell they need say so, and ``mmharness merge`` recomputes
    them on the union (``harness.report.derive`` calls ``bias_block``). With ``out``, finished
    cells are kept in ``out/cells`` as they end (``harness.runner.store``, as ``mmharness run``
    does), so a run stopped half-way continues with ``resume``.
    """
    plan = bias_cells(config.plan)  # plan errors (severities, corruption names) before anything loads
    spec = load_vqa_spec(config.model)
    if config.base_llm is not None:  # checked now, not after every probe cell has run
        try:
            load_vqa_spec(config.base_llm)
        except ManifestError as error:
            raise ManifestError(f"--base-llm {config.base_llm}: {error}") from None
    data = open_items(config, spec)
    mode = config.mode or spec.answer_mode
    if mode == "choices" and any(not item.choices for item in data):
        missing = next(item.sample_id for item in data if not item.choices)
        raise ConfigError(f"{data.name}: item {missing!r} has no choices, but answer mode is 'choices'; use --mode generate")
    if config.base_llm is not None:
        plan.append(Cell(id=BASE_LLM_ID, scenario="bias", params=(("probe", "base_llm"),), kind="records"))
    selected = select_shard(plan, config.shard)
    started = time.time()
    header = _header(config, spec, data)
    store = None if out is None else RunStore(out)
    done = {} if store is None else store.start(header, resume, overwrite)
    entries, seconds, provenance, where = _run_cells(config, data, selected, progress, store, done)
    doc = _document(config, header, data, plan, entries, provenance)
    doc["aggregates"] = {"bias": bias_block(doc)}
    doc["timing"] = {"started": started, "seconds": round(time.time() - started, 3),
                     "cell_seconds": {k: round(v, 4) for k, v in seconds.items()},
                     "per_sample_ms": {k: round(1000 * v / len(data), 3) for k, v in seconds.items()},
                     "executor": config.executor.to_dict() | {"units": config.units}, "cell_workers": where}
    return doc


def _entry(cell: Cell, state: dict[str, Any]) -> dict[str, Any]:
    return {**cell.to_dict(), "status": "ok", "reason": None, "n_samples": len(state["correct"]), "batch_size": 1,
            "state": state, "figures": record_figures(state, {})}


def _header(config: BiasConfig, spec: Any, data: VqaDataset) -> dict[str, Any]:
    """What identifies this run (``run.json``): ``--resume`` refuses a change of any of these."""
    config_dict = config.to_dict()
    config_dict["chance_level"] = spec.chance_level  # the manifest's, for open-ended items (vqa.chance_level)
    canonical = json.dumps(config_dict, sort_keys=True, separators=(",", ":")).encode()
    return {"config": config_dict, "config_hash": "sha256:" + hashlib.sha256(canonical).hexdigest(),
            "model_hash": _model_hash(config.model, _graph_files(config, spec)),
            "dataset_fingerprint": data.fingerprint(), "shard": config.shard.to_dict()}


def _document(config: BiasConfig, header: Mapping[str, Any], data: VqaDataset, cells: list[Cell],
              entries: dict[str, Any], provenance: dict[str, Any]) -> dict[str, Any]:
    from harness import __version__

    answers = sorted({choice for item in data for choice in item.choices} | {item.answer for item in data})
    return {
        "format": "mmharness.results",
        "schema_version": 1,
        "tool": {"name": "mmharness", "version": __version__},
        "task": "vqa",
        "config": header["config"],
        "config_hash": header["config_hash"],
        "model": {"name": config.model.name, "hash": header["model_hash"]},
        "dataset": {"name": data.name, "fingerprint": header["dataset_fingerprint"], "n_samples": len(data),
                    "classes": answers, "ignore_index": -1, "modalities": ["image", "text"], "meta": data.meta,
                    "tags": {tag: [item.index for item in data if tag in item.tags]
                             for tag in sorted({tag for item in data for tag in item.tags})}},
        "shards": [config.shard.to_dict()],
        "provenance": provenance,
        "plan": {"cells": [cell.id for cell in cells], "complete": all(cell.id in entries for cell in cells)},
        "cells": {cell.id: entries[cell.id] for cell in cells if cell.id in entries},
        "aggregates": {},
        "per_image": None,
        "timing": {},
    }


def _ok(entries: Mapping[str, Any], cell_id: str) -> bool:
    return cell_id in entries and entries[cell_id]["status"] == "ok"


def bias_block(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The ``aggregates.bias`` block of a results document, from its stored per-sample records only.

    Used when a run ends and again by ``mmharness merge`` on the union of shards (so a merged
    result equals the unsharded run). ``available: false`` with the reason when a probe every
    figure needs (clean, image removed) is absent (another shard) or did not run cleanly.
    """
    entries = doc["cells"]
    absent = [cid for cid in (CLEAN_ID, REMOVED_ID) if cid not in entries]
    if absent:
        return {"available": False, "reason": f"cells {absent} are not in these results (another shard?); "
                                              "merge the shards with `mmharness merge` to get the bias figures"}
    failed = [cid for cid in (CLEAN_ID, REMOVED_ID) if not _ok(entries, cid)]
    if failed:
        return {"available": False, "reason": f"cells {failed} did not run cleanly; every bias figure needs them"}
    config = doc["config"]
    tags = doc["dataset"].get("tags", {})
    return bias_aggregates(entries, tags, int(config["plan"]["bias"]["permutations"]), int(config["bootstrap"]),
                           int(config["seed"]), config.get("chance_level"))


def _skip_reason(cell: Cell, data: VqaDataset) -> str | None:
    """Why ``cell`` cannot run on ``data`` (recorded as a skipped cell), or None."""
    probe = cell.param("probe")
    if probe == "text=misleading" and any(len(item.choices) < 2 for item in data):
        return "text=misleading needs every item to have choices with a wrong option"
    if probe == "image=permuted" and sum(item.image is not None for item in data) < 2:
        return "image=permuted needs at least 2 items with images"
    return None


def _column(entries: Mapping[str, Any], cell_id: str, key: str = "correct") -> np.ndarray:
    return np.asarray(entries[cell_id]["state"][key])


def _ci(columns: Mapping[str, np.ndarray], statistic: Callable[[Mapping[str, np.ndarray]], float],
        n_boot: int, seed: int) -> dict[str, Any] | None:
    if n_boot <= 0:
        return None
    interval = bootstrap_samples(columns, lambda c: _finite(statistic(c)), n_boot=n_boot, seed=seed)
    return {"low": _json_float(interval.low), "high": _json_float(interval.high), "level": interval.level}


def _finite(value: float) -> float:
    return value if math.isfinite(value) else math.nan


Columns = Mapping[str, np.ndarray]
Statistic = Callable[[Columns], float]


def _columns(entries: Mapping[str, Any], permutations: int) -> tuple[dict[str, np.ndarray], int]:
    """Per-sample columns the statistics resample together, and how many permutation seeds ran
    (0 unless all of them ran cleanly: a perceptual score over a subset of seeds is not reported)."""
    columns = {"clean": _column(entries, CLEAN_ID), "clean_choice": _column(entries, CLEAN_ID, "choice"),
               "removed": _column(entries, REMOVED_ID)}
    permuted = [f"bias/image=permuted/k={k}" for k in range(permutations)]
    if not all(_ok(entries, cell_id) for cell_id in permuted):
        permuted = []
    for k, cell_id in enumerate(permuted):
        columns[f"perm{k}"] = _column(entries, cell_id)
        columns[f"perm{k}_choice"] = _column(entries, cell_id, "choice")
    if _ok(entries, TEXT_REMOVED_ID):
        columns["text_removed"] = _column(entries, TEXT_REMOVED_ID)
    if _ok(entries, BASE_LLM_ID):
        columns["base"] = _column(entries, BASE_LLM_ID)
    return columns, len(permuted)


def _chance(entries: Mapping[str, Any], chance_level: float | None) -> float | None:
    """Chance accuracy in percent: mean 1/#choices; open-ended items only have a declared level."""
    n_choices = _column(entries, CLEAN_ID, "n_choices")
    if np.any(n_choices == 0):
        return None if chance_level is None else 100.0 * float(chance_level)
    return metrics.chance_accuracy(n_choices)


def _statistics(columns: Columns, n_perm: int, chance: float | None) -> dict[str, Statistic]:
    """Figure name -> its statistic over the columns (the metric core), for the figures that apply."""
    perms = range(n_perm)
    stats: dict[str, Statistic] = {
        "accuracy": lambda c: metrics.accuracy(c["clean"]),
        "accuracy_image_removed": lambda c: metrics.accuracy(c["removed"]),
        "multimodal_gain": lambda c: metrics.multimodal_gain(c["clean"], c["removed"]),
    }
    if chance is not None:
        stats["blind_gap"] = lambda c: metrics.blind_gap(c["removed"], chance)
        stats["vision_reliance"] = lambda c: metrics.vision_reliance(c["clean"], c["removed"], chance)
    if n_perm:
        stats["perceptual_score"] = lambda c: metrics.perceptual_score(c["clean"], [c[f"perm{k}"] for k in perms]).absolute
        stats["perceptual_score_relative"] = lambda c: metrics.perceptual_score(c["clean"], [c[f"perm{k}"] for k in perms]).relative
        stats["swap_sensitivity"] = lambda c: metrics.swap_sensitivity(c["clean_choice"], [c[f"perm{k}_choice"] for k in perms])
    if "text_removed" in columns and chance is not None:
        stats["shapley_image"] = lambda c: metrics.shapley_shares(c["clean"], c["removed"], c["text_removed"], chance).image
        stats["shapley_text"] = lambda c: metrics.shapley_shares(c["clean"], c["removed"], c["text_removed"], chance).text
        stats["shapley_image_share"] = lambda c: metrics.shapley_shares(c["clean"], c["removed"], c["text_removed"], chance).image_share
    if "base" in columns:
        stats["multimodal_leakage"] = lambda c: metrics.multimodal_leakage(c["removed"], c["base"])
    return stats


def bias_aggregates(entries: Mapping[str, Any], tags: Mapping[str, Sequence[int]], permutations: int, n_boot: int,
                    seed: int, chance_level: float | None = None) -> dict[str, Any]:
    """MG, ML, perceptual score, swap sensitivity, blind gap, Shapley shares, vision reliance, with CIs.

    ``entries`` are the cells of a results document (records states ordered by sample index);
    ``tags`` maps a tag to its sample indices. The chance level is the mean of 1/#choices; items
    without choices have none unless the manifest declares ``vqa.chance_level`` (a fraction,
    ``chance_level`` here). Figures whose probes did not run (skipped permutations, no
    ``text=removed``, no base LLM) or that need a chance level there is none of are left out,
    never guessed.
    """
    columns, n_perm = _columns(entries, permutations)
    chance = _chance(entries, chance_level)
    stats = _statistics(columns, n_perm, chance)
    values = {name: _json_float(fn(columns)) for name, fn in stats.items()}
    cis = {name: _ci(columns, fn, n_boot, seed) for name, fn in stats.items()}
    return {
        "available": True,
        "units": "accuracies, MG, ML, blind gap, perceptual score, Shapley values: percent points; "
                 "relative perceptual score, swap sensitivity, shares, vision reliance: fractions",
        "chance": chance,
        "values": values,
        "ci": cis if n_boot > 0 else None,
        "ci_method": f"paired percentile bootstrap over samples, {n_boot} resamples, seed {seed}",
        "by_tag": _by_tag(entries, tags),
        "shapley_empty_value": chance,
    }


def _json_float(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def _by_tag(entries: Mapping[str, Any], tags: Mapping[str, Sequence[int]]) -> dict[str, dict[str, float]]:
    """Accuracy of every ok cell on each tag subset (e.g. ``tempting``: the image contradicts the prior)."""
    out: dict[str, dict[str, float]] = {}
    for tag, members in tags.items():
        wanted = set(members)
        out[tag] = {}
        for cid, entry in entries.items():
            if entry["status"] != "ok":
                continue
            mask = np.asarray([index in wanted for index in entry["state"]["sample_index"]], dtype=bool)
            if mask.any():
                out[tag][cid] = float(100.0 * np.asarray(entry["state"]["correct"])[mask].mean())
    return out
