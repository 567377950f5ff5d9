"""INT8 calibration data: the manifest's declared inputs, preprocessed exactly as a sweep does.

Quantization ranges are only as good as the tensors they are measured on, so calibration
must see what the model sees in deployment: the same raw dataset samples, the same manifest
preprocessing (``Modality.preprocess_array``), every modality present (masks set to 1), and
constants at their declared values. :class:`CalibrationReader` produces those batches once;
two thin adapters hand them to the quantizers:

- :meth:`CalibrationReader.ort_reader` -> onnxruntime's ``CalibrationDataReader`` protocol
  (``get_next``/``rewind``; onnxruntime recognises it structurally, no import needed here);
- :func:`make_entropy_calibrator` -> a ``tensorrt.IInt8EntropyCalibrator2`` subclass built at
  run time against the imported ``tensorrt`` module (TensorRT 10 implicit quantization).

Samples are spread evenly over the dataset (``floor(i * len / n)``), so the choice is
deterministic and does not depend on how the dataset happens to be ordered by scene.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from harness.backends.cuda_memory import DeviceBuffer, DeviceMemory
from harness.data.interface import SegmentationDataset
from harness.errors import ConfigError, DataError
from harness.manifest.contract import ResolvedContract, ResolvedInput
from harness.manifest.model import DEFAULT_GRAPH

DEFAULT_SAMPLES = 64
DEFAULT_BATCH = 8

Feed = dict[str, npt.NDArray[Any]]


def spread_indices(length: int, count: int) -> tuple[int, ...]:
    """``count`` distinct indices spread evenly over ``range(length)`` (``count <= length``)."""
    return tuple(int(i) for i in (np.arange(count, dtype=np.int64) * length) // count)


@dataclass(frozen=True)
class CalibrationPlan:
    """How many samples, in which batch size (the batch is the calibration profile's shape)."""

    num_samples: int = DEFAULT_SAMPLES
    batch_size: int = DEFAULT_BATCH

    def __post_init__(self) -> None:
        if self.batch_size < 1 or self.num_samples < 1:
            raise ConfigError(
                f"calibration: --calib-samples {self.num_samples} and --calib-batch {self.batch_size} must both be >= 1"
            )
        if self.num_samples % self.batch_size:
            raise ConfigError(
                f"calibration: --calib-samples {self.num_samples} is not a multiple of --calib-batch {self.batch_size}; "
                f"every calibration batch must be full (try --calib-samples "
                f"{self.num_samples - self.num_samples % self.batch_size or self.batch_size})"
            )

    @property
    def num_batches(self) -> int:
        return self.num_samples // self.batch_size


class CalibrationReader:
    """Preprocessed calibration batches for one graph of a validated model.

    ``batches()`` yields ``{graph input name: array}`` with exactly the graph's declared
    inputs (modalities, masks, constants), each batch holding ``plan.batch_size`` samples.
    Construction checks everything up front: the dataset provides every manifest modality and
    holds at least ``plan.num_samples`` samples; errors name the counts and the fix.
    """

    def __init__(
        self,
        contract: ResolvedContract,
        dataset: SegmentationDataset,
        plan: CalibrationPlan = CalibrationPlan(),
        *,
        graph: str = DEFAULT_GRAPH,
    ) -> None:
        self.contract = contract
        self.dataset = dataset
        self.plan = plan
        self.graph = graph
        self.inputs: tuple[ResolvedInput, ...] = tuple(i for i in contract.inputs if i.graph == graph)
        where = f"calibration data {getattr(dataset, 'name', type(dataset).__name__)!r}"
        manifest = contract.manifest
        needed = [m.name for m in manifest.modalities if m.graph == graph]
        missing = [name for name in needed if name not in dataset.modalities]
        if missing:
            raise DataError(
                f"{where}: provides modalities ({', '.join(dataset.modalities) or 'none'}) but the manifest of "
                f"{manifest.name!r} declares {', '.join(needed)}; missing: {', '.join(missing)}. "
                "Calibrate with a dataset that has every modality the model takes"
            )
        if len(dataset) < plan.num_samples:
            raise DataError(
                f"{where}: has {len(dataset)} samples, calibration needs {plan.num_samples}; "
                f"pass --calib-samples {len(dataset) - len(dataset) % plan.batch_size or len(dataset)} "
                "(a multiple of --calib-batch) or use a larger split"
            )
        if not contract.batch_dynamic and contract.batch_size not in (None, plan.batch_size):
            raise ConfigError(
                f"{where}: --calib-batch {plan.batch_size}, but the graph has a fixed batch of {contract.batch_size}; "
                f"pass --calib-batch {contract.batch_size} (and --calib-samples a multiple of it)"
            )
        self.where = where
        self.indices: tuple[int, ...] = spread_indices(len(dataset), plan.num_samples)

    @property
    def input_names(self) -> tuple[str, ...]:
        return tuple(i.spec.name for i in self.inputs)

    def __len__(self) -> int:
        return self.plan.num_batches

    def fingerprint(self) -> str:
        """The dataset's fingerprint (feeds the calibration cache key with ``indices``)."""
        return str(self.dataset.fingerprint())

    def batches(self) -> Iterator[Feed]:
        """One feed per batch of ``plan.batch_size`` samples, in index order."""
        size = self.plan.batch_size
        for start in range(0, len(self.indices), size):
            samples = [self.dataset[i] for i in self.indices[start : start + size]]
            yield self._feed(samples)

    def batch_shapes(self) -> dict[str, tuple[int, ...]]:
        """Shape of every input in one batch (computed from the first batch)."""
        first = next(self.batches())
        return {name: tuple(array.shape) for name, array in first.items()}

    def _feed(self, samples: Sequence[Any]) -> Feed:
        manifest = self.contract.manifest
        n = len(samples)
        feed: Feed = {}
        for item in self.inputs:
            spec = item.spec
            if item.claim == "modality":
                modality = manifest.modality(item.owner)
                raw = np.stack([np.asarray(s.modalities[item.owner]) for s in samples])
                array = modality.preprocess_array(raw)
                spatial = (2, 3) if modality.layout == "NCHW" else (1, 2)
                expected = dict(zip(spatial, manifest.input_size or ())) | spec.static_dims()
                for axis, size in expected.items():
                    if axis > 0 and array.shape[axis] != size:
                        raise DataError(
                            f"{self.where}: modality {item.owner!r} gives shape {array.shape} after preprocessing, "
                            f"graph input {spec.name!r} expects {spec.shape} (input_size {manifest.input_size}); "
                            "resize the data to the manifest's input_size"
                        )
            elif item.claim == "mask":
                array = np.ones((n, *(_static_or_fail(spec, axis, self.where) for axis in range(1, spec.rank))), dtype=spec.dtype)
            else:
                index = int(item.owner.split("[")[1].rstrip("]"))
                array = manifest.constants[index].array()
            feed[spec.name] = array
        return feed

    def ort_reader(self) -> OrtCalibrationReader:
        return OrtCalibrationReader(self)


def _static_or_fail(spec: Any, axis: int, where: str) -> int:
    size = spec.shape[axis]
    if not (isinstance(size, int) and size >= 0):
        raise DataError(f"{where}: mask input {spec.name!r} axis {axis} is dynamic ({size!r}); cannot size the all-present mask")
    return size


class OrtCalibrationReader:
    """onnxruntime's ``CalibrationDataReader`` protocol over a :class:`CalibrationReader`.

    onnxruntime's ABC accepts any class with a callable ``get_next`` (``__subclasshook__``), so
    this needs no onnxruntime import. ``rewind`` restarts, for calibrators that read twice.
    """

    def __init__(self, reader: CalibrationReader) -> None:
        self.reader = reader
        self._iter: Iterator[Feed] = reader.batches()

    def get_next(self) -> Feed | None:
        return next(self._iter, None)

    def rewind(self) -> None:
        self._iter = self.reader.batches()

    def __len__(self) -> int:
        return len(self.reader)


def make_entropy_calibrator(
    trt: Any,
    reader: CalibrationReader,
    cache_path: str | os.PathLike[str],
    device: DeviceMemory,
) -> Any:
    """A ``trt.IInt8EntropyCalibrator2`` feeding ``reader``'s batches from device memory.

    ``device`` is the ``trt`` backend's device memory (pycuda or cuda-python). The class is
    created here because its base only exists once ``tensorrt`` is imported.
    The cache at ``cache_path`` is read when present (TensorRT then skips calibration) and
    written after a calibration run; its name is keyed by network, samples and TensorRT
    version (``exporters.variants.cache.calibration_key``), so a stale cache is never read.
    """
    base = trt.IInt8EntropyCalibrator2
    cache = Path(cache_path)

    class _EntropyCalibrator(base):  # type: ignore[misc, valid-type]
        def __init__(self) -> None:
            base.__init__(self)  # pybind11 trampolines need the explicit base init
            self._batches: Iterator[Feed] = reader.batches()
            self._buffers: dict[str, DeviceBuffer] = {}
            self._stream = device.create_stream()
            self.batches_served = 0

        def get_batch_size(self) -> int:
            # Networks are explicit-batch in TensorRT >= 10: the batch is part of the tensor shape
            # (the calibration profile is set to the calibration batch), so 1 here, as Polygraphy does.
            return 1

        def get_batch(self, names: Sequence[str]) -> list[int] | None:
            feed = next(self._batches, None)
            if feed is None:
                return None  # tells TensorRT calibration is complete
            pointers = []
            for name in names:
                array = np.ascontiguousarray(feed[name])
                if name not in self._buffers:  # every batch has the same shape: allocate once
                    self._buffers[name] = device.allocate(array.nbytes)
                device.copy_htod(self._buffers[name], array, self._stream)
                pointers.append(self._buffers[name].ptr)
            device.synchronize(self._stream)  # the host arrays die when this returns
            self.batches_served += 1
            return pointers

        def read_calibration_cache(self) -> bytes | None:
            return cache.read_bytes() if cache.is_file() else None

        def write_calibration_cache(self, data: Any) -> None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_name(cache.name + ".tmp")
            tmp.write_bytes(bytes(data))
            os.replace(tmp, cache)

        def release(self) -> None:
            for buffer in self._buffers.values():
                device.free(buffer)
            self._buffers.clear()

    return _EntropyCalibrator()


def describe(reader: CalibrationReader) -> Mapping[str, Any]:
    """What the sidecar and provenance record about the calibration set."""
    return {
        "dataset": getattr(reader.dataset, "name", type(reader.dataset).__name__),
        "fingerprint": reader.fingerprint(),
        "num_samples": reader.plan.num_samples,
        "batch_size": reader.plan.batch_size,
        "indices_first_last": [reader.indices[0], reader.indices[-1]],
        "inputs": list(reader.input_names),
    }
