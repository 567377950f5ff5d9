"""The contract between the runner and any runtime: ``Backend`` (a cheap, picklable recipe)
opens a ``Session`` (a live resource owning device buffers) that maps named NumPy inputs to
named NumPy outputs. Optional abilities are separate protocols checked with ``isinstance``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, runtime_checkable

import numpy as np
import numpy.typing as npt

from harness.errors import BadInputError, ConfigError

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


_S = TypeVar("_S", bound="SessionBase")


class SessionBase:
    """What every real session shares: the I/O specs and provenance it was opened with, handed
    out as copies, and ``with`` support that calls ``close``. Subclasses set ``_inputs``,
    ``_outputs`` and ``_provenance`` and implement ``run`` and ``close``."""

    _inputs: list[TensorSpec]
    _outputs: list[TensorSpec]
    _provenance: dict[str, Any]

    @property
    def inputs(self) -> list[TensorSpec]:
        return list(self._inputs)

    @property
    def outputs(self) -> list[TensorSpec]:
        return list(self._outputs)

    @property
    def provenance(self) -> dict[str, Any]:
        return dict(self._provenance)

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self: _S) -> _S:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@runtime_checkable
class Backend(Protocol):
    """What to open and how (picklable, cheap); ``open`` creates the live ``Session``."""

    @property
    def name(self) -> str: ...

    def open(self) -> Session: ...


@dataclass(frozen=True)
class Availability:
    """Whether a backend can run here; when not, exactly why and how to fix it (``mmharness doctor``)."""

    backend: str
    can_run: bool
    why: str
    fix: str = ""


@runtime_checkable
class SupportsDeviceTiming(Protocol):
    """A session that can split latency into host->device, compute and device->host (ms)."""

    def run_timed(
        self, feeds: Mapping[str, npt.NDArray[Any]]
    ) -> tuple[dict[str, npt.NDArray[Any]], dict[str, float]]: ...


@runtime_checkable
class SupportsKeptOutputs(Protocol):
    """A session that can hand some outputs back as runtime-owned values (e.g. ONNX Runtime's
    ``OrtValue``) and take them as inputs of its next run without a copy through NumPy: the KV
    cache of a decoding loop. Kept values expose ``shape``, ``dtype`` and ``ndim`` (so
    ``check_feed`` reads them) and ``np.asarray`` copies them out."""

    def run_keeping(self, feeds: Mapping[str, Any], keep: Sequence[str]) -> dict[str, Any]: ...


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


def cast_feeds_to(feeds: Mapping[str, npt.NDArray[Any]], specs: list[TensorSpec]) -> dict[str, npt.NDArray[Any]]:
    """Cast floating feeds to the floating dtype each spec asks for (float32 <-> float16 only).

    Sessions check dtypes exactly (``check_feed``); a caller that prepared float32 tensors for
    an fp16 variant converts them here, once and visibly. Integer/bool feeds and names without
    a spec are returned unchanged so that ``check_feed`` still reports them.
    """
    by_name = {spec.name: spec for spec in specs}
    out: dict[str, npt.NDArray[Any]] = {}
    for name, array in feeds.items():
        spec = by_name.get(name)
        if (
            spec is not None
            and array.dtype != spec.dtype
            and np.issubdtype(array.dtype, np.floating)
            and np.issubdtype(spec.dtype, np.floating)
        ):
            out[name] = array.astype(spec.dtype)
        else:
            out[name] = array
    return out


def parse_options(pairs: list[str] | tuple[str, ...], where: str = "--backend-opt") -> dict[str, str]:
    """``["device_id=0", "trt_fp16_enable=True"]`` -> ``{"device_id": "0", ...}``.

    A pair without ``=``, an empty key or a repeated key is a ``ConfigError`` (exit 2).
    """
    options: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"{where}: {pair!r} is not key=value (e.g. --backend-opt device_id=0)")
        if key in options:
            raise ConfigError(f"{where}: {key!r} given twice ({options[key]!r} and {value!r}); give it once")
        options[key] = value.strip()
    return options
