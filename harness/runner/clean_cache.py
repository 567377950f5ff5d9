"""Where the clean inputs of a sweep live: in RAM for small runs, or in ``.npy`` files under
``OUT/clean-cache/`` mapped read-only into memory (``np.memmap``) for large ones.

A real DELIVER val split (hundreds of 1024x1024 frames, four float32 modalities ≈ 48 MB a
frame) does not fit in RAM, but must still be preprocessed once per sweep, not once per cell.
On disk the arrays are written once, sample by sample (RAM bounded by one sample), then
re-opened read-only: the operating system pages in what a batch touches and evicts it under
pressure, so RAM is bounded by the batch, not the split. The files carry a marker
(``cache.json``, written last) naming the run they belong to, so ``--resume`` re-opens a
complete cache of the same run instead of preprocessing again; the folder is removed when
the sweep completes unless it is kept on request. Both places hold the same bytes, so
results are identical whichever is used (tested).
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from harness.errors import ResultsError
from harness.paths import reserve, write_error
from harness.report.io import read_json, write_json

CacheMode = Literal["auto", "memory", "disk"]
CACHE_MODES: tuple[str, ...] = ("auto", "memory", "disk")
CACHE_DIR = "clean-cache"
MARKER = "cache.json"
AUTO_DISK_BYTES = 1 << 30  # "auto" maps the cache from disk when the split needs more than 1 GiB

Array = npt.NDArray[Any]
Allocate = Callable[[str, tuple[int, ...], np.dtype[Any]], Array]


def allocate_memory(name: str, shape: tuple[int, ...], dtype: np.dtype[Any]) -> Array:
    return np.empty(shape, dtype)


@dataclass(frozen=True)
class DiskCache:
    """The ``clean-cache`` folder of one run; ``key`` identifies the run it belongs to."""

    root: Path
    key: str

    @classmethod
    def of(cls, out: Path, key: str) -> DiskCache:
        return cls(Path(out) / CACHE_DIR, key)

    def allocate(self, name: str, shape: tuple[int, ...], dtype: np.dtype[Any]) -> Array:
        """A writable array backed by ``root/name.npy`` (a fresh file of the final size)."""
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.root / f"{name}.npy"
        try:
            array = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=shape)
            reserve(path)  # a sparse file on a full disk would kill the process with SIGBUS on first write
        except OSError as error:
            raise write_error(error, path) from None
        return array

    def open(self, names: list[str]) -> dict[str, Array] | None:
        """The arrays of a complete cache of this run, mapped read-only; None when absent,
        incomplete (no marker: the writer was killed) or from another run."""
        marker = self.root / MARKER
        if not marker.is_file():
            return None
        try:
            doc = read_json(marker, "clean-cache marker")
        except ResultsError:
            return None
        if not isinstance(doc, dict) or doc.get("key") != self.key or sorted(doc.get("arrays", [])) != sorted(names):
            return None
        try:
            return {name: np.asarray(np.load(self.root / f"{name}.npy", mmap_mode="r")) for name in names}
        except (OSError, ValueError):
            return None

    def seal(self, arrays: dict[str, Array], extra: dict[str, Any]) -> dict[str, Array]:
        """Flush the written arrays, mark the cache complete, re-open it read-only."""
        for array in arrays.values():
            if isinstance(array, np.memmap):
                array.flush()
        write_json(self.root / MARKER, {"key": self.key, "arrays": sorted(arrays), **extra})
        reopened = self.open(sorted(arrays))
        assert reopened is not None, "a just-sealed cache re-opens"
        return reopened

    def read_extra(self) -> dict[str, Any]:
        return dict(read_json(self.root / MARKER, "clean-cache marker"))

    def remove(self) -> None:
        """Delete the folder (best effort: a failure is a warning, the results are written)."""
        if not self.root.exists():
            return
        try:
            shutil.rmtree(self.root)
        except OSError as error:
            print(f"mmharness: warning: could not remove the clean-input cache {self.root}: {error}", file=sys.stderr)


def read_only(arrays: dict[str, Array]) -> dict[str, Array]:
    """Freeze in-RAM arrays like the mapped ones, so both places behave the same (and a
    perturbation that wrote into its input would fail loudly, not corrupt later cells)."""
    for array in arrays.values():
        array.setflags(write=False)
    return arrays


def wants_disk(mode: CacheMode, total_bytes: int) -> bool:
    return mode == "disk" or (mode == "auto" and total_bytes > AUTO_DISK_BYTES)
