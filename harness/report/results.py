"""results.json: the versioned source of truth of a sweep, and its per-image sidecar.

One loader (``load_results``) validates the format marker, the schema version, the JSON
Schema shipped in ``harness/schemas/results.schema.json`` and every cell state, and answers
in one line naming the file and field. ``save_results`` derives figures and aggregates and
writes both files atomically. Time-dependent values live only under ``timing`` so two runs
with the same seed are byte-identical elsewhere.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from harness.errors import HarnessError, ResultsError
from harness.paths import confined
from harness.report import derive
from harness.report.io import (
    atomic_write_all,
    dumps,
    npz_bytes,
    read_json,
    read_npz,
    sha256_bytes,
)
from harness.report.states import state_kind
from harness.report.trust import check_figures

FORMAT = "mmharness.results"
SCHEMA_VERSION = 1
RESULTS_NAME = "results.json"
SIDECAR_NAME = "per_image.npz"

PerImage = Mapping[str, npt.NDArray[np.int64]]  # a LazyArrays in practice: one cell in memory at a time


def schema() -> dict[str, Any]:
    text = resources.files("harness").joinpath("schemas/results.schema.json").read_text(encoding="utf-8")
    return json.loads(text)


def results_path(path: Path) -> Path:
    """Accept a results.json or the folder holding it."""
    return path / RESULTS_NAME if path.is_dir() else path


def validate_document(doc: Any, where: Path) -> None:
    """Format marker, version, JSON Schema, then each cell state; one-line ``ResultsError``."""
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        got = doc.get("format") if isinstance(doc, dict) else type(doc).__name__
        raise ResultsError(f"{where}: not an mmharness results file (format: expected {FORMAT!r}, got {got!r})")
    if doc.get("schema_version") != SCHEMA_VERSION:
        raise ResultsError(
            f"{where}: schema_version {doc.get('schema_version')!r} is not supported (expected {SCHEMA_VERSION}); "
            "re-run with this mmharness version"
        )
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema())
    error = jsonschema.exceptions.best_match(validator.iter_errors(doc))
    if error is not None:
        field = "/".join(str(p) for p in error.absolute_path) or "(top level)"
        raise ResultsError(f"{where}: {field}: {error.message}")
    for cell_id, entry in doc["cells"].items():
        if entry["status"] == "ok":
            try:
                state_kind(entry["kind"]).validate(entry["state"])
            except HarnessError as problem:
                raise ResultsError(f"{where}: cells/{cell_id}/state: {problem}") from None


def load_results(path: Path, with_per_image: bool = True) -> tuple[dict[str, Any], PerImage | None]:
    """Read and validate a results file (or folder); the sidecar is checked against its hash."""
    path = results_path(Path(path))
    doc = read_json(path, "results file")
    validate_document(doc, path)
    check_figures(doc, path)  # stored figures must be what the stored states give (harness.report.trust)
    per_image = None
    sidecar = doc.get("per_image")
    if with_per_image and sidecar:
        sidecar_path = confined(path.parent, sidecar["file"], f"{path}: per_image.file", ResultsError)
        data = sidecar_path.read_bytes() if sidecar_path.exists() else b""
        if not data:
            raise ResultsError(f"{sidecar_path}: per-image sidecar named by {path} is missing; copy it beside results.json")
        if sha256_bytes(data) != sidecar["sha256"]:
            raise ResultsError(f"{sidecar_path}: does not match the sha256 recorded in {path} (per_image.sha256)")
        per_image = read_npz(sidecar_path, "per-image sidecar")
    return doc, per_image


def finalize(doc: dict[str, Any], per_image: PerImage | None) -> dict[str, Any]:
    """Derive figures and aggregates from the states (in place) and return ``doc``."""
    derive.cell_figures(doc)
    doc["aggregates"] = derive.aggregates(doc, per_image)
    return doc


def save_results(out_dir: Path, doc: dict[str, Any], per_image: PerImage | None) -> Path:
    """Finalize ``doc`` and write results.json (+ per_image.npz) atomically into ``out_dir``."""
    finalize(doc, per_image)
    files: dict[Path, bytes] = {}
    if per_image:
        data = files[out_dir / SIDECAR_NAME] = npz_bytes(per_image)
        doc["per_image"] = {"file": SIDECAR_NAME, "sha256": sha256_bytes(data), "layout": "cell id -> (n_images, C, C) int64; sample_index -> (n_images,)"}
    else:
        doc["per_image"] = None
    path = out_dir / RESULTS_NAME
    files[path] = dumps(doc)
    atomic_write_all(files)  # both complete before either replaces the previous pair
    return path


def headline(entry: Mapping[str, Any]) -> float | None:
    """The primary figure of a cell (mIoU for confusion cells), None unless it ran ok."""
    if entry["status"] != "ok":
        return None
    return entry["figures"].get(state_kind(entry["kind"]).primary)
