"""Byte-level IO shared by the run store, results.json and the per-image sidecar.

Writes are atomic (temporary file in the same folder, fsync, ``os.replace``) so a killed run
never leaves half a file. JSON is rendered one canonical way (fixed key order from the
builder, 2-space indent, no NaN) and the ``.npz`` sidecar is written with fixed zip
timestamps, so two runs with the same seed produce byte-identical files.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import os
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from harness.errors import ResultsError
from harness.filemode import current_umask
from harness.paths import write_error
from harness.safeload import json_loads

_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def _umask() -> int:
    return current_umask()


def dumps(obj: Any) -> bytes:
    """Canonical JSON bytes; NaN/Inf are a bug (they must be ``null`` with a reason)."""
    return (json.dumps(obj, indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so readers see the old file or the new one, never a torn one."""
    atomic_write_all({path: data})


def atomic_write_all(files: Mapping[Path, bytes]) -> None:
    """Write several files so none is replaced before all are complete: a full disk or a crash
    leaves the previous set intact (results.json and the sidecar its sha256 names). A failed
    write for lack of space or permission is one line, exit 3 (``harness.paths.write_error``)."""
    staged: list[tuple[str, Path]] = []
    current = next(iter(files))
    try:
        for current, data in files.items():
            current.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{current.name}.", suffix=".tmp", dir=current.parent)
            staged.append((tmp, current))
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, 0o666 & ~_umask())
        for tmp, current in staged:
            os.replace(tmp, current)
    except BaseException as error:
        for tmp, _ in staged:
            if os.path.exists(tmp):
                os.unlink(tmp)
        if isinstance(error, OSError):
            raise write_error(error, current) from None
        raise


def write_json(path: Path, obj: Any) -> None:
    atomic_write(path, dumps(obj))


def read_json(path: Path, what: str) -> Any:
    """Parse ``path``; a missing or corrupt file is a one-line ``ResultsError``."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ResultsError(f"{path}: {what} not found; check the path") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ResultsError(f"{path}: cannot read {what}: {error}") from None
    try:
        return json_loads(text)
    except json.JSONDecodeError as error:
        raise ResultsError(
            f"{path}: {what} is not valid JSON (line {error.lineno}, column {error.colno}: {error.msg}); "
            "was the run interrupted? re-run it or pass the right file"
        ) from None
    except ValueError as error:  # too deep, an integer too long, NaN/Infinity (harness.safeload)
        raise ResultsError(f"{path}: {what} refused: {error}; it was not written by mmharness or was edited") from None


def npz_bytes(arrays: Mapping[str, npt.NDArray[Any]]) -> bytes:
    """A compressed ``.npz`` (readable by ``np.load``) whose bytes depend only on the arrays."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for key, array in arrays.items():
            member = io.BytesIO()
            np.lib.format.write_array(member, np.ascontiguousarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(f"{key}.npy", date_time=_ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, member.getvalue())
    return buffer.getvalue()


class LazyArrays(Mapping[str, npt.NDArray[Any]]):
    """Named arrays loaded one at a time, on access. Per-image matrices of a large sweep
    (DELIVER: thousands of images x C^2 counts x hundreds of cells) do not fit in memory
    together; every consumer (sidecar writer, bootstrap, merge) handles one cell at a time."""

    def __init__(self, loaders: Mapping[str, Callable[[], npt.NDArray[Any]]]) -> None:
        self._loaders = dict(loaders)

    @classmethod
    def of(cls, arrays: Mapping[str, npt.NDArray[Any]]) -> LazyArrays:
        return cls({key: functools.partial(_identity, array) for key, array in arrays.items()})

    def __getitem__(self, key: str) -> npt.NDArray[Any]:
        return self._loaders[key]()

    def __iter__(self) -> Iterator[str]:
        return iter(self._loaders)

    def __len__(self) -> int:
        return len(self._loaders)

    def loader(self, key: str) -> Callable[[], npt.NDArray[Any]]:
        return self._loaders[key]


def _identity(array: npt.NDArray[Any]) -> npt.NDArray[Any]:
    return array


def _member(path: Path, key: str, what: str) -> npt.NDArray[Any]:
    try:
        with np.load(path, allow_pickle=False) as data:
            return data[key]
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as error:
        raise ResultsError(f"{path}: {what} is corrupt ({error}); re-run the sweep to regenerate it") from None


def read_npz(path: Path, what: str) -> LazyArrays:
    """The arrays of an ``.npz`` as a ``LazyArrays`` (the archive index is checked now)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            keys = list(data.files)
    except FileNotFoundError:
        raise ResultsError(f"{path}: {what} not found; it must sit beside results.json") from None
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        raise ResultsError(f"{path}: {what} is corrupt ({error}); re-run the sweep to regenerate it") from None
    return LazyArrays({key: functools.partial(_member, path, key, what) for key in keys})


def sha256_bytes(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of one file, read in 1 MiB blocks (graphs and weights can be large): the
    ``checksums`` value of a manifest."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_files(paths: list[Path], root: Path) -> str:
    """One digest over files (names relative to ``root`` + contents), in sorted name order."""
    digest = hashlib.sha256()
    for path in sorted(paths, key=lambda p: p.relative_to(root).as_posix()):
        digest.update(path.relative_to(root).as_posix().encode("utf-8") + b"\0")
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        digest.update(b"\0")
    return "sha256:" + digest.hexdigest()
