"""Device memory and streams for the native TensorRT backend, behind one small interface.

Two implementations, chosen by what imports and initializes: pycuda (what many deployment
images already carry) and cuda-python (``cuda.bindings``, NVIDIA's choice in the current
TensorRT samples; pip-installable on x86_64 and aarch64). Every CUDA error becomes a
``BackendUnavailable`` naming the call and the CUDA error, never a bare traceback. Buffers
are plain device pointers (``int``) so TensorRT's ``set_tensor_address`` takes them as is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from harness.errors import BackendUnavailable, ConfigError

MEMORY_CHOICES = ("auto", "pycuda", "cuda-python")


@dataclass
class DeviceBuffer:
    """A device allocation: pointer, size, and the object that owns it (freed by ``free``)."""

    ptr: int
    nbytes: int
    owner: Any = None


@runtime_checkable
class DeviceMemory(Protocol):
    """What the TensorRT session needs from a CUDA binding."""

    name: str

    def compute_capability(self) -> str: ...

    def allocate(self, nbytes: int) -> DeviceBuffer: ...

    def free(self, buffer: DeviceBuffer) -> None: ...

    def create_stream(self) -> Any: ...

    def stream_handle(self, stream: Any) -> int: ...

    def destroy_stream(self, stream: Any) -> None: ...

    def copy_htod(self, dst: DeviceBuffer, src: npt.NDArray[Any], stream: Any) -> None: ...

    def copy_dtoh(self, dst: npt.NDArray[Any], src: DeviceBuffer, stream: Any) -> None: ...

    def synchronize(self, stream: Any) -> None: ...

    def close(self) -> None: ...


# ---- cuda-python ----------------------------------------------------------------------------


def import_cudart() -> Any:
    """The cuda-python runtime module: ``cuda.bindings.runtime`` (>= 12.6) or ``cuda.cudart``."""
    try:
        from cuda.bindings import runtime

        return runtime
    except ImportError:
        pass
    try:
        from cuda import cudart  # cuda-python < 12.6 layout

        return cudart
    except ImportError:
        raise BackendUnavailable("cuda-python is not importable; pip install cuda-python (or pycuda)") from None


def cudart_call(cudart: Any, function: str, *args: Any) -> tuple[Any, ...]:
    """Call ``cudart.<function>(*args)``; a non-success error code raises ``BackendUnavailable``
    with the CUDA error name and text. Returns the remaining result values."""
    result = getattr(cudart, function)(*args)
    error, values = (result[0], tuple(result[1:])) if isinstance(result, tuple) else (result, ())
    if int(error) != 0:
        name = getattr(error, "name", str(error))
        try:
            text = cudart.cudaGetErrorString(error)[1]
            text = text.decode() if isinstance(text, bytes) else str(text)
        except Exception:
            text = ""
        hint = (
            " (no NVIDIA driver or a driver older than this CUDA runtime; install/upgrade the driver)"
            if "Driver" in name
            else ""
        )
        raise BackendUnavailable(f"cuda-python: {function} failed: {name} {text}{hint}".rstrip())
    return values


class CudaPythonMemory:
    """``DeviceMemory`` on ``cuda.bindings.runtime``; initializing it selects the device."""

    name = "cuda-python"

    def __init__(self, device_id: int = 0) -> None:
        self._rt = import_cudart()
        count = cudart_call(self._rt, "cudaGetDeviceCount")[0]
        if device_id >= count:
            raise BackendUnavailable(f"cuda-python: device_id {device_id} requested, {count} GPU(s) present")
        cudart_call(self._rt, "cudaSetDevice", device_id)
        self.device_id = device_id

    def compute_capability(self) -> str:
        props = cudart_call(self._rt, "cudaGetDeviceProperties", self.device_id)[0]
        return f"{props.major}.{props.minor}"

    def allocate(self, nbytes: int) -> DeviceBuffer:
        size = max(int(nbytes), 1)  # zero-row tensors still need a valid address
        ptr = cudart_call(self._rt, "cudaMalloc", size)[0]
        return DeviceBuffer(int(ptr), size)

    def free(self, buffer: DeviceBuffer) -> None:
        cudart_call(self._rt, "cudaFree", buffer.ptr)

    def create_stream(self) -> Any:
        return cudart_call(self._rt, "cudaStreamCreate")[0]

    def stream_handle(self, stream: Any) -> int:
        return int(stream)

    def destroy_stream(self, stream: Any) -> None:
        cudart_call(self._rt, "cudaStreamDestroy", stream)

    def copy_htod(self, dst: DeviceBuffer, src: npt.NDArray[Any], stream: Any) -> None:
        kind = self._rt.cudaMemcpyKind.cudaMemcpyHostToDevice
        cudart_call(self._rt, "cudaMemcpyAsync", dst.ptr, src.ctypes.data, src.nbytes, kind, stream)

    def copy_dtoh(self, dst: npt.NDArray[Any], src: DeviceBuffer, stream: Any) -> None:
        kind = self._rt.cudaMemcpyKind.cudaMemcpyDeviceToHost
        cudart_call(self._rt, "cudaMemcpyAsync", dst.ctypes.data, src.ptr, dst.nbytes, kind, stream)

    def synchronize(self, stream: Any) -> None:
        cudart_call(self._rt, "cudaStreamSynchronize", stream)

    def close(self) -> None:
        """Nothing to release beyond buffers/streams the session frees itself."""


# ---- pycuda ---------------------------------------------------------------------------------


class PyCudaMemory:
    """``DeviceMemory`` on pycuda, using the device's primary context (shared with TensorRT)."""

    name = "pycuda"

    def __init__(self, device_id: int = 0) -> None:
        try:
            import pycuda.driver as driver
        except ImportError:
            raise BackendUnavailable(
                "pycuda is not importable; pip install 'mmharness[tensorrt]' or use cuda-python"
            ) from None
        try:
            driver.init()
            self._device = driver.Device(device_id)
            self._context = self._device.retain_primary_context()
            self._context.push()
        except Exception as error:  # pycuda.driver.Error subclasses
            raise BackendUnavailable(f"pycuda: cannot open GPU {device_id}: {error}") from None
        self._driver = driver

    def compute_capability(self) -> str:
        major, minor = self._device.compute_capability()
        return f"{major}.{minor}"

    def allocate(self, nbytes: int) -> DeviceBuffer:
        allocation = self._driver.mem_alloc(max(int(nbytes), 1))
        return DeviceBuffer(int(allocation), max(int(nbytes), 1), allocation)

    def free(self, buffer: DeviceBuffer) -> None:
        buffer.owner.free()

    def create_stream(self) -> Any:
        return self._driver.Stream()

    def stream_handle(self, stream: Any) -> int:
        return int(stream.handle)

    def destroy_stream(self, stream: Any) -> None:
        """pycuda releases a ``Stream`` when it is garbage collected."""

    def copy_htod(self, dst: DeviceBuffer, src: npt.NDArray[Any], stream: Any) -> None:
        self._driver.memcpy_htod_async(dst.ptr, src, stream)

    def copy_dtoh(self, dst: npt.NDArray[Any], src: DeviceBuffer, stream: Any) -> None:
        self._driver.memcpy_dtoh_async(dst, src.ptr, stream)

    def synchronize(self, stream: Any) -> None:
        stream.synchronize()

    def close(self) -> None:
        self._context.pop()


IMPLEMENTATIONS: dict[str, type] = {"pycuda": PyCudaMemory, "cuda-python": CudaPythonMemory}


def select_device_memory(choice: str = "auto", device_id: int = 0) -> DeviceMemory:
    """The first implementation that initializes (``auto``: pycuda, then cuda-python), or the
    named one. When none works, ``BackendUnavailable`` lists every reason."""
    if choice not in MEMORY_CHOICES:
        raise ConfigError(f"--backend-opt memory={choice}: expected one of {', '.join(MEMORY_CHOICES)}")
    order = list(IMPLEMENTATIONS) if choice == "auto" else [choice]
    reasons = []
    for name in order:
        try:
            return IMPLEMENTATIONS[name](device_id)
        except BackendUnavailable as error:
            reasons.append(str(error))
    raise BackendUnavailable("no usable CUDA device memory binding: " + "; ".join(reasons))


def host_array(shape: tuple[int, ...], dtype: np.dtype) -> npt.NDArray[Any]:
    """A C-contiguous host array for device->host copies."""
    return np.empty(shape, dtype=dtype)
