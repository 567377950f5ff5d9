"""The contract between the runner and any runtime: ``Backend`` (a cheap, picklable recipe)
opens a ``Session`` (a live resource owning device buffers) that maps named NumPy inputs to
named NumPy outputs. Optional abilities are separate protocols checked with ``isinstance``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from harness.errors import BadInputError

Dim = int | str | None  # a static size, a symbolic name, or unknown


@dataclass(frozen=True)
class TensorSpec:
    """Name, NumPy dtype and shape of one graph input or output (symbolic dims as str/None)."""

    name: str
    dtype: np.dtype
    shape: tuple[Dim, ...]

    @property
    def rank(self) -> int:
        return len(self.shape)

    def static_dims(self) -> dict[int, int]:
        """Axis -> size for every axis with a fixed size."""
        return {axis: dim for axis, dim in enumerate(self.shape) if isinstance(dim, int) and dim >= 0}


@runtime_checkable
class Session(Protocol):
    """An open model: ``run`` takes and returns host NumPy arrays keyed by tensor name."""

    @property
    def inputs(self) -> list[TensorSpec]: ...

    @property
    def outputs(self) -> list[TensorSpec]: ...

    @property
    def provenance(self) -> dict[str, Any]:
        """Where it really ran: backend, provider actually active, device, versions."""
        ...

    def run(self, feeds: Mapping[str, npt.NDArray[Any]]) -> dict[str, npt.NDArray[Any]]: ...

    def close(self) -> None: ...

    def __enter__(self) -> Session: ...

    def __exit__(self, *exc: object) -> None: ...


@runtime_checkable
class Backend(Protocol):
    """What to open and how (picklable, cheap); ``open`` creates the live ``Session``."""

    name: str

    def open(self) -> Session: ...


@runtime_checkable
class SupportsDeviceTiming(Protocol):
    """A session that can split latency into host->device, compute and device->host (ms)."""

    def run_timed(
        self, feeds: Mapping[str, npt.NDArray[Any]]
    ) -> tuple[dict[str, npt.NDArray[Any]], dict[str, float]]: ...


def check_feed(feeds: Mapping[str, npt.NDArray[Any]], specs: list[TensorSpec], where: str = "feed") -> None:
    """Raise one ``BadInputError`` listing missing/unexpected names and dtype/rank/static-dim
    mismatches of ``feeds`` against ``specs``. Called once per session run, in one place."""
    expected = {spec.name: spec for spec in specs}
    problems: list[str] = []
    missing = sorted(set(expected) - set(feeds))
    unexpected = sorted(set(feeds) - set(expected))
    if missing:
        problems.append(f"missing inputs {missing}")
    if unexpected:
        problems.append(f"unexpected inputs {unexpected} (graph inputs: {sorted(expected)})")
    for name, array in feeds.items():
        spec = expected.get(name)
        if spec is None:
            continue
        if np.dtype(array.dtype) != spec.dtype:
            problems.append(f"{name}: dtype {array.dtype}, expected {spec.dtype}")
        if array.ndim != spec.rank:
            problems.append(f"{name}: rank {array.ndim} {tuple(array.shape)}, expected rank {spec.rank} {spec.shape}")
            continue
        for axis, size in spec.static_dims().items():
            if array.shape[axis] != size:
                problems.append(f"{name}: shape {tuple(array.shape)}, expected {spec.shape} (axis {axis})")
                break
    if problems:
        raise BadInputError(f"{where}: " + "; ".join(problems))
