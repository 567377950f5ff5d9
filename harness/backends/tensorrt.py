"""Native TensorRT backend ``trt``: a serialized engine run through the named-tensor API.

Before deserializing, the engine's sidecar (``engine_sidecar.py``) must match this machine's
TensorRT version and GPU SM and, when the source ONNX is at hand, its hash. The session uses
``num_io_tensors`` / ``get_tensor_mode`` / ``set_input_shape`` (only when a shape changes) /
``set_tensor_address`` / ``execute_async_v3`` (TensorRT 10 and 11), with dtypes read from the
engine (FP16 I/O is fed as float16: see ``cast_feeds_to``) and buffers/streams from a
``DeviceMemory`` (pycuda or cuda-python). Features are detected, versions are not compared.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from harness.backends.cuda_memory import (
    MEMORY_CHOICES,
    DeviceBuffer,
    DeviceMemory,
    select_device_memory,
)
from harness.backends.engine_sidecar import EngineSidecar, check_sidecar, read_sidecar
from harness.backends.interface import Availability, SessionBase, TensorSpec, check_feed
from harness.backends.options import OptionReader
from harness.errors import (
    BackendUnavailable,
    BadInputError,
    InfrastructureError,
    ManifestError,
)
from harness.report.io import file_sha256

OPTIONS = ("device_id", "memory", "check_sidecar")

# TensorRT DataType member name -> NumPy dtype. Names, not enum values: stable across 10.x/11.x.
_TRT_DTYPES: dict[str, Any] = {
    "FLOAT": np.float32,
    "HALF": np.float16,
    "INT8": np.int8,
    "INT32": np.int32,
    "INT64": np.int64,
    "BOOL": np.bool_,
    "UINT8": np.uint8,
}
_REQUIRED_API = ("num_io_tensors", "get_tensor_name", "get_tensor_mode", "get_tensor_dtype", "get_tensor_shape")


def trt_dtype_to_numpy(dtype: Any) -> np.dtype:
    """NumPy dtype of a TensorRT ``DataType`` (or its name, e.g. ``"HALF"``).

    BF16/FP8/INT4/FP4 I/O has no NumPy equivalent: refused with the fix (keep I/O in FP16/FP32).
    """
    name = dtype if isinstance(dtype, str) else getattr(dtype, "name", str(dtype).rsplit(".", 1)[-1])
    try:
        return np.dtype(_TRT_DTYPES[name])
    except KeyError:
        raise ManifestError(
            f"engine I/O tensor type {name} has no NumPy equivalent; rebuild the engine with FP32/FP16 inputs and outputs"
        ) from None


def check_engine_files(
    engine_path: str, *, trt_version: str | None, sm: str | None, model_dir: str | None = None
) -> EngineSidecar:
    """Read the sidecar of ``engine_path`` and refuse it for another TensorRT/SM/source ONNX.

    ``trt_version``/``sm`` None means "unknown here" (no TensorRT, no GPU): that comparison is
    skipped, the others still run. ``model_dir`` (default: the engine's folder) is where the
    sidecar's ``source_onnx`` is hashed; an absent source file skips only the hash check.
    """
    sidecar = read_sidecar(engine_path)
    folder = model_dir or os.path.dirname(os.path.abspath(engine_path))
    source = os.path.join(folder, sidecar.source_onnx)
    onnx_sha = file_sha256(source) if os.path.isfile(source) else None
    check_sidecar(
        sidecar,
        trt_version=trt_version if trt_version is not None else sidecar.trt_version,
        sm=sm if sm is not None else sidecar.sm,
        where=str(engine_path) + ".json",
        onnx_sha256=onnx_sha,
    )
    return sidecar


def import_tensorrt() -> Any:
    try:
        import tensorrt
    except Exception as error:
        raise BackendUnavailable(
            f"tensorrt is not importable ({type(error).__name__}: {error}); install with: pip install 'mmharness[tensorrt]' "
            "(needs an NVIDIA GPU and driver) or use --backend ort:cpu"
        ) from None
    missing = [api for api in ("__version__", "Runtime", "Logger", "TensorIOMode") if not hasattr(tensorrt, api)]
    if missing:
        where = getattr(tensorrt, "__file__", None) or list(getattr(tensorrt, "__path__", []))
        raise BackendUnavailable(
            f"the importable 'tensorrt' ({where}) lacks {', '.join(missing)}: not a TensorRT 10+ package; "
            "install with: pip install 'mmharness[tensorrt]' or use --backend ort:cpu"
        )
    return tensorrt


@dataclass(frozen=True)
class TrtBackend:
    """Recipe for a TensorRT engine session (picklable; nothing touches the GPU until ``open``)."""

    path: str
    device_id: int = 0
    memory: str = "auto"
    check_sidecar: bool = True

    @property
    def name(self) -> str:
        return "trt"

    @classmethod
    def from_options(cls, path: str, options: Mapping[str, str]) -> TrtBackend:
        reader = OptionReader("trt", options)
        backend = cls(
            path,
            device_id=reader.take_int("device_id", 0),
            memory=reader.take_choice("memory", "auto", MEMORY_CHOICES),
            check_sidecar=reader.take_bool("check_sidecar", True),
        )
        reader.reject_rest(OPTIONS)
        return backend

    def open(self) -> TrtSession:
        return TrtSession.create(self)


class TrtSession(SessionBase):
    """A deserialized engine, its execution context, device buffers and one stream."""

    def __init__(
        self, backend: TrtBackend, engine: Any, memory: DeviceMemory, provenance: dict[str, Any], trt: Any
    ) -> None:
        self.backend = backend
        self._trt = trt
        self._engine = engine
        self._context = engine.create_execution_context()
        if self._context is None:
            raise InfrastructureError(
                f"trt: cannot create an execution context for {backend.path} (out of GPU memory?)"
            )
        self._memory = memory
        self._stream = memory.create_stream()
        self._buffers: dict[str, DeviceBuffer] = {}
        self._shapes: dict[str, tuple[int, ...]] = {}
        self._inputs, self._outputs = _io_specs(engine, trt)
        self._provenance = provenance

    @classmethod
    def create(cls, backend: TrtBackend) -> TrtSession:
        if not os.path.isfile(backend.path):
            raise ManifestError(
                f"{backend.path}: engine file does not exist; build it with: mmharness build MODEL_DIR --target trt"
            )
        trt = import_tensorrt()
        memory = select_device_memory(backend.memory, backend.device_id)
        sm = memory.compute_capability()
        sidecar = (
            check_engine_files(backend.path, trt_version=trt.__version__, sm=sm) if backend.check_sidecar else None
        )
        logger = trt.Logger(trt.Logger.WARNING)
        runtime = trt.Runtime(logger)
        with open(backend.path, "rb") as handle:
            engine = runtime.deserialize_cuda_engine(handle.read())
        if engine is None:
            raise ManifestError(
                f"{backend.path}: TensorRT {trt.__version__} could not deserialize this engine (corrupt, or built elsewhere)"
            )
        missing = [api for api in _REQUIRED_API if not hasattr(engine, api)]
        if missing:
            raise BackendUnavailable(
                f"TensorRT {trt.__version__} lacks the named-tensor API ({', '.join(missing)}); install TensorRT 10+"
            )
        provenance = {
            "backend": "trt",
            "runtime": "tensorrt",
            "runtime_version": trt.__version__,
            "provider": "tensorrt",
            "device": f"cuda:{backend.device_id}",
            "gpu_sm": sm,
            "device_memory": memory.name,
            "engine": os.path.basename(backend.path),
            "precision": sidecar.precision if sidecar else None,
            "sidecar_checked": sidecar is not None,
        }
        return cls(backend, engine, memory, provenance, trt)

    def _buffer(self, name: str, nbytes: int) -> DeviceBuffer:
        buffer = self._buffers.get(name)
        if buffer is None or buffer.nbytes < nbytes:
            if buffer is not None:
                self._memory.free(buffer)
            buffer = self._memory.allocate(nbytes)
            self._buffers[name] = buffer
        return buffer

    def _bind_inputs(self, feeds: Mapping[str, npt.NDArray[Any]]) -> None:
        for spec in self._inputs:
            array = np.ascontiguousarray(feeds[spec.name])
            if self._shapes.get(spec.name) != array.shape:
                if not self._context.set_input_shape(spec.name, array.shape):
                    raise BadInputError(
                        f"trt feed: {spec.name}: shape {array.shape} is outside the engine's optimization profile {spec.shape}"
                    )
                self._shapes[spec.name] = array.shape
            buffer = self._buffer(spec.name, array.nbytes)
            self._memory.copy_htod(buffer, array, self._stream)
            self._context.set_tensor_address(spec.name, buffer.ptr)

    def _bind_outputs(self) -> dict[str, npt.NDArray[Any]]:
        hosts = {}
        for spec in self._outputs:
            shape = tuple(self._context.get_tensor_shape(spec.name))
            if any(dim < 0 for dim in shape):
                raise InfrastructureError(f"trt: output {spec.name} has a data-dependent shape {shape}; not supported")
            host = np.empty(shape, dtype=spec.dtype)
            self._context.set_tensor_address(spec.name, self._buffer(spec.name, host.nbytes).ptr)
            hosts[spec.name] = host
        return hosts

    def run_timed(self, feeds: Mapping[str, npt.NDArray[Any]]) -> tuple[dict[str, npt.NDArray[Any]], dict[str, float]]:
        """Outputs plus ``h2d_ms``, ``compute_ms``, ``d2h_ms`` (stream-synchronized wall clock)."""
        check_feed(feeds, self._inputs, where="trt feed")
        t0 = time.perf_counter()
        self._bind_inputs(feeds)
        outputs = self._bind_outputs()
        self._memory.synchronize(self._stream)
        t1 = time.perf_counter()
        if not self._context.execute_async_v3(self._memory.stream_handle(self._stream)):
            raise InfrastructureError(
                f"trt: execute_async_v3 failed for {os.path.basename(self.backend.path)} (see TensorRT log above)"
            )
        self._memory.synchronize(self._stream)
        t2 = time.perf_counter()
        for name, host in outputs.items():
            self._memory.copy_dtoh(host, self._buffers[name], self._stream)
        self._memory.synchronize(self._stream)
        t3 = time.perf_counter()
        return outputs, {"h2d_ms": (t1 - t0) * 1e3, "compute_ms": (t2 - t1) * 1e3, "d2h_ms": (t3 - t2) * 1e3}

    def run(self, feeds: Mapping[str, npt.NDArray[Any]]) -> dict[str, npt.NDArray[Any]]:
        return self.run_timed(feeds)[0]

    def close(self) -> None:
        """Free buffers and the stream, release the context (idempotent)."""
        if self._engine is None:
            return
        for buffer in self._buffers.values():
            self._memory.free(buffer)
        self._buffers.clear()
        if self._stream is not None:
            self._memory.destroy_stream(self._stream)
            self._stream = None
        self._context = None
        self._engine = None
        self._memory.close()


def _io_specs(engine: Any, trt: Any) -> tuple[list[TensorSpec], list[TensorSpec]]:
    """Inputs and outputs of ``engine`` in binding order, with -1 dims as ``None``."""
    inputs: list[TensorSpec] = []
    outputs: list[TensorSpec] = []
    for index in range(engine.num_io_tensors):
        name = engine.get_tensor_name(index)
        shape = tuple(None if dim < 0 else int(dim) for dim in engine.get_tensor_shape(name))
        spec = TensorSpec(name, trt_dtype_to_numpy(engine.get_tensor_dtype(name)), shape)
        (inputs if engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT else outputs).append(spec)
    return inputs, outputs


def availability() -> Availability:
    """Can ``trt`` run here? tensorrt importable, a CUDA binding that reaches a GPU."""
    try:
        trt = import_tensorrt()
    except BackendUnavailable as error:
        return Availability(
            "trt",
            False,
            str(error).split("; install with:")[0],  # the fix is the next field, not repeated
            "pip install 'mmharness[tensorrt]' on a machine with an NVIDIA GPU (JetPack ships it on Jetson)",
        )
    try:
        memory = select_device_memory("auto", 0)
    except BackendUnavailable as error:
        return Availability(
            "trt",
            False,
            f"tensorrt {trt.__version__} imports, but {error}",
            "install the NVIDIA driver and pycuda or cuda-python",
        )
    try:
        sm = memory.compute_capability()
    finally:
        memory.close()
    return Availability("trt", True, f"tensorrt {trt.__version__}, {memory.name}, GPU SM {sm}")


def trt_backend(path: str, options: Mapping[str, str]) -> TrtBackend:
    return TrtBackend.from_options(path, options)
