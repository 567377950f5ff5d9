"""The output folder of a sweep while it runs: ``run.json`` (what this run is) and one
``cells/<id>.json`` (+ ``.npz`` of per-image matrices) per finished cell, each written
atomically. ``--resume`` reads them back, after checking the run is the same one: a changed
config, model, dataset or shard is refused, never silently mixed."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from harness.errors import ConfigError, ResultsError
from harness.report.io import atomic_write, npz_bytes, read_json, read_npz, write_json
from harness.report.results import RESULTS_NAME, SIDECAR_NAME
from harness.runner.cell_check import check_record

RUN_NAME = "run.json"
MATRICES_KEY = "per_image"
CellRecord = tuple[dict[str, Any], Path | None]  # the cell's record, its stored matrices
CELLS_DIR = "cells"
_CHECKED = ("config_hash", "model_hash", "dataset_fingerprint", "shard")


def cell_filename(cell_id: str, suffix: str) -> str:
    """``emm/missing=depth+event`` -> ``emm__missing=depth+event.json``. The suffix is appended,
    never substituted: ids hold dots (``rmm/r=0.5/...``) that ``Path.with_suffix`` would eat."""
    return cell_id.replace("/", "__") + suffix


def _config_changes(old: dict[str, Any], new: dict[str, Any]) -> str:
    """`` in seed, plan.scenarios``: the config fields that differ, for the resume refusal."""
    changed = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            changed += [f"{key}.{k}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
        elif a != b:
            changed.append(key)
    return f" in {', '.join(changed)}" if changed else ""


class RunStore:
    """Reads and writes the run folder ``out``."""

    def __init__(self, out: Path) -> None:
        self.out = Path(out)
        self.cells = self.out / CELLS_DIR

    def start(self, header: dict[str, Any], resume: bool, overwrite: bool = False) -> dict[str, CellRecord]:
        """Write (or, resuming, check) ``run.json``; return the finished cells to reuse.

        Starting fresh over cells of an earlier run is allowed when that run finished (its
        results.json is there) or with ``overwrite``; the cells of an unfinished run are work a
        plain re-run would silently throw away, so that is refused with the ways out."""
        path = self.out / RUN_NAME
        if resume:
            if not path.exists():
                raise ConfigError(f"--resume: {path} does not exist; nothing to resume (run without --resume first)")
            previous = read_json(path, "run header")
            absent = [key for key in _CHECKED if not isinstance(previous, dict) or key not in previous]
            if absent:
                raise ResultsError(
                    f"--resume: {path}: not an mmharness run header (no {', '.join(absent)}); "
                    "--out must be a folder written by `mmharness run`, or drop --resume to start fresh"
                )
            for key in _CHECKED:
                if previous.get(key) != header[key]:
                    what = _config_changes(previous.get("config", {}), header["config"]) if key == "config_hash" else ""
                    raise ResultsError(
                        f"--resume: {path}: {key} changed{what} (was {previous.get(key)!r}, now {header[key]!r}); "
                        "resume only the same run, or start a fresh one with another --out"
                    )
            return self._finished()
        stale = sorted(self.cells.glob("*.json")) if self.cells.exists() else []
        finished = (self.out / RESULTS_NAME).exists()
        if stale and not (finished or overwrite):
            raise ConfigError(
                f"--out {self.out}: holds {len(stale)} finished cell(s) of an unfinished run (no {RESULTS_NAME}); "
                "continue it with --resume, discard them with --overwrite, or choose another --out"
            )
        if stale:
            print(f"mmharness: starting fresh in {self.out}: dropping {len(stale)} cell(s) of an earlier run (use --resume to keep them)", file=sys.stderr)
        if self.cells.exists():
            for file in self.cells.iterdir():
                file.unlink()
        # The earlier run's results.json and sidecar stay until this run's replace them (both at
        # once, harness.report.io.atomic_write_all): a run that dies of a full disk or a signal
        # loses nothing that was complete before it started.
        write_json(path, header)
        return {}

    def _finished(self) -> dict[str, CellRecord]:
        done: dict[str, CellRecord] = {}
        if not self.cells.exists():
            return done
        for path in sorted(self.cells.glob("*.json")):
            entry = read_json(path, "cell record")
            if not isinstance(entry, dict) or "id" not in entry or "status" not in entry:
                raise ResultsError(f"{path}: not a cell record of this run; delete it to re-run that cell")
            matrices = None
            if entry["status"] == "ok" and entry.get("kind", "confusion") == "confusion":  # probe records keep none
                matrices = path.parent / (path.name.removesuffix(".json") + ".npz")
                try:
                    read_npz(matrices, "per-image matrices")
                except ResultsError as error:
                    raise ResultsError(f"{error}; delete {path.name} to re-run that cell") from None
            check_record(entry, path, matrices)
            done[entry["id"]] = (entry, matrices)
        return done

    def save_cell(self, entry: dict[str, Any], per_image: npt.NDArray[np.int64] | None) -> CellRecord:
        """Persist one finished cell: the matrices first (compressed), then the record that
        marks it done. The caller keeps only the returned record, not the matrices."""
        matrices = None
        if per_image is not None:
            matrices = self.cells / cell_filename(entry["id"], ".npz")
            atomic_write(matrices, npz_bytes({MATRICES_KEY: per_image}))
        write_json(self.cells / cell_filename(entry["id"], ".json"), entry)
        return entry, matrices


def load_matrices(path: Path) -> npt.NDArray[np.int64]:
    """The per-image matrices ``(n, C, C)`` of one stored cell."""
    return read_npz(path, "per-image matrices")[MATRICES_KEY]
