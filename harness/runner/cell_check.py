"""A stored cell record is read back by ``--resume`` and copied into results.json, so it is
checked like any other input: an edited or damaged record (unknown status, a state that does
not parse, per-image matrices of another shape) is refused with the file and the fix (delete
it, and --resume re-runs that cell) instead of surfacing later as an internal error."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import HarnessError, ResultsError

STATUSES = ("ok", "failed")


def check_record(entry: dict[str, Any], path: Path, matrices: Path | None) -> None:
    """``ResultsError`` naming ``path`` unless ``entry`` (and its matrices) can be reused."""
    fix = f"delete {path.name} (and its .npz) to re-run that cell"
    if not isinstance(entry.get("id"), str) or entry.get("status") not in STATUSES:
        raise ResultsError(f"{path}: id/status: expected a cell id and one of {', '.join(STATUSES)}; {fix}")
    n = entry.get("n_samples", 0)
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ResultsError(f"{path}: n_samples: expected a count >= 0, got {n!r}; {fix}")
    if entry["status"] != "ok":
        return
    from harness.report.states import state_kind

    try:
        kind = state_kind(entry.get("kind", "confusion"))
        kind.validate(entry.get("state"))
    except HarnessError as error:
        raise ResultsError(f"{path}: state: {error}; {fix}") from None
    if matrices is not None:
        size = entry["state"].get("num_classes") if isinstance(entry["state"], dict) else None
        shape = _npy_shape(matrices, "per_image.npy")
        count = entry.get("n_samples", shape[0] if shape else None)
        if shape is None or len(shape) != 3 or shape[0] != count or (size is not None and shape[1:] != (size, size)):
            raise ResultsError(f"{matrices}: per-image matrices of shape {shape}, expected ({count}, {size}, {size}); {fix}")


def _npy_shape(path: Path, member: str) -> tuple[int, ...] | None:
    """The shape in the header of ``member`` of the ``.npz`` at ``path`` (the data is not read)."""
    try:
        with zipfile.ZipFile(path) as archive, archive.open(member) as handle:
            major, _ = np.lib.format.read_magic(handle)
            read = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
            shape, _, _ = read(handle)
            return tuple(int(d) for d in shape)
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return None
