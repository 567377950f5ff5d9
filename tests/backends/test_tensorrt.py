"""Native TensorRT backend: everything around the GPU is tested here (dtype mapping, sidecar
checks, device-memory selection and the real cuda-python error path, the named-tensor call
sequence against a NumPy stand-in); the real engine run is marked gpu/tensorrt."""

from __future__ import annotations

import enum
import hashlib
import re
import sys
import types

import numpy as np
import pytest
from onnx_graphs import build_seg_model_dir, random_feeds

from harness.backends import cast_feeds_to, cuda_memory, parse_backend
from harness.backends.cuda_memory import (
    CudaPythonMemory,
    DeviceBuffer,
    cudart_call,
    select_device_memory,
)
from harness.backends.engine_sidecar import EngineSidecar, write_sidecar
from harness.backends.tensorrt import (
    TrtBackend,
    TrtSession,
    check_engine_files,
    import_tensorrt,
    trt_dtype_to_numpy,
)
from harness.errors import BackendUnavailable, BadInputError, ConfigError, ManifestError


def _gpu_usable() -> bool:
    try:
        CudaPythonMemory(0)
    except BackendUnavailable:
        return False
    return True


# ---- dtype mapping, options, import ---------------------------------------------------------


@pytest.mark.parametrize(
    "name, dtype",
    [
        ("FLOAT", np.float32),
        ("HALF", np.float16),
        ("INT8", np.int8),
        ("INT32", np.int32),
        ("INT64", np.int64),
        ("BOOL", np.bool_),
        ("UINT8", np.uint8),
    ],
)
def test_trt_dtype_mapping(name, dtype):
    assert trt_dtype_to_numpy(name) == np.dtype(dtype)
    member = enum.Enum("DataType", [name])[name]  # the enum member form TensorRT hands out
    assert trt_dtype_to_numpy(member) == np.dtype(dtype)


@pytest.mark.parametrize("name", ["BF16", "FP8", "INT4"])
def test_trt_dtype_without_numpy_equivalent_is_refused(name):
    with pytest.raises(ManifestError, match=f"engine I/O tensor type {name} has no NumPy equivalent"):
        trt_dtype_to_numpy(name)


def test_trt_options():
    backend = TrtBackend.from_options("m.engine", {"device_id": "1", "memory": "cuda-python", "check_sidecar": "false"})
    assert (backend.device_id, backend.memory, backend.check_sidecar) == (1, "cuda-python", False)
    with pytest.raises(ConfigError, match="workspace not understood by trt"):
        parse_backend("trt", ["workspace=1"])
    with pytest.raises(ConfigError, match="expected one of auto, pycuda, cuda-python"):
        parse_backend("trt", ["memory=cupy"])


def test_tensorrt_not_importable_is_backend_unavailable(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", None)
    with pytest.raises(BackendUnavailable, match=r"tensorrt is not importable .*pip install 'mmharness\[tensorrt\]'"):
        import_tensorrt()


def test_a_module_named_tensorrt_that_is_not_tensorrt_is_refused(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", types.ModuleType("tensorrt"))
    with pytest.raises(BackendUnavailable, match="lacks __version__, Runtime, Logger, TensorIOMode"):
        import_tensorrt()


def test_opening_trt_here_fails_clearly(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", None)
    engine = tmp_path / "model.engine"
    engine.write_bytes(b"engine")
    with pytest.raises(BackendUnavailable, match="tensorrt is not importable"):
        TrtBackend(str(engine)).open()
    with pytest.raises(ManifestError, match="engine file does not exist"):
        TrtBackend(str(tmp_path / "missing.engine")).open()


# ---- device memory: the real cuda-python error path -----------------------------------------


@pytest.mark.skipif(_gpu_usable(), reason="a GPU is usable here; this tests the no-driver path")
def test_cuda_python_reports_the_real_driver_error():
    pytest.importorskip("cuda.bindings")
    with pytest.raises(BackendUnavailable) as caught:
        CudaPythonMemory(0)
    message = str(caught.value)
    assert "cuda-python: cudaGetDeviceCount failed: cudaErrorInsufficientDriver" in message
    assert "install/upgrade the driver" in message


@pytest.mark.skipif(_gpu_usable(), reason="a GPU is usable here; this tests the no-driver path")
def test_auto_selection_lists_every_reason(monkeypatch):
    monkeypatch.setitem(sys.modules, "pycuda", None)
    monkeypatch.setitem(sys.modules, "pycuda.driver", None)
    with pytest.raises(BackendUnavailable) as caught:
        select_device_memory("auto", 0)
    message = str(caught.value)
    assert message.startswith("no usable CUDA device memory binding: pycuda is not importable")
    assert "cudaErrorInsufficientDriver" in message


def test_cudart_call_maps_error_codes():
    class Err(enum.IntEnum):
        cudaSuccess = 0
        cudaErrorMemoryAllocation = 2

    fake = types.SimpleNamespace(
        cudaMalloc=lambda n: (Err.cudaErrorMemoryAllocation, 0) if n > 100 else (Err.cudaSuccess, 4096),
        cudaGetErrorString=lambda e: (Err.cudaSuccess, b"out of memory"),
    )
    assert cudart_call(fake, "cudaMalloc", 10) == (4096,)
    with pytest.raises(BackendUnavailable, match="cudaMalloc failed: cudaErrorMemoryAllocation out of memory"):
        cudart_call(fake, "cudaMalloc", 1000)


# ---- sidecar checks ---------------------------------------------------------------------------


def _engine_with_sidecar(folder, sm="8.7", trt="10.3.0", source_bytes=b"onnx-bytes"):
    (folder / "model.onnx").write_bytes(source_bytes)
    engine = folder / "model.engine"
    engine.write_bytes(b"serialized")
    sidecar = EngineSidecar(
        engine="model.engine",
        precision="fp16",
        strategy="builder-flags",
        trt_version=trt,
        device_name="Orin",
        sm=sm,
        source_onnx="model.onnx",
        source_sha256=hashlib.sha256(source_bytes).hexdigest(),
    )
    write_sidecar(engine, sidecar)
    return engine


def test_matching_sidecar_passes(tmp_path):
    engine = _engine_with_sidecar(tmp_path)
    assert check_engine_files(str(engine), trt_version="10.3.0", sm="8.7").precision == "fp16"
    # unknown machine facts skip only those comparisons
    assert check_engine_files(str(engine), trt_version=None, sm=None).sm == "8.7"


@pytest.mark.parametrize(
    "trt, sm, message",
    [
        ("10.7.0", "8.7", "built with TensorRT 10.3.0, this machine has TensorRT 10.7.0"),
        ("10.3.0", "8.6", r"built for SM 8.7 \(Orin\), this GPU is SM 8.6"),
    ],
)
def test_sidecar_mismatch_is_refused(tmp_path, trt, sm, message):
    engine = _engine_with_sidecar(tmp_path)
    with pytest.raises(ManifestError, match=message):
        check_engine_files(str(engine), trt_version=trt, sm=sm)


def test_sidecar_source_hash_mismatch_is_refused(tmp_path):
    engine = _engine_with_sidecar(tmp_path)
    (tmp_path / "model.onnx").write_bytes(b"re-exported")
    with pytest.raises(ManifestError, match="built from model.onnx sha256"):
        check_engine_files(str(engine), trt_version=None, sm=None)


def test_missing_sidecar_is_refused(tmp_path):
    (tmp_path / "model.engine").write_bytes(b"x")
    with pytest.raises(ManifestError, match="engine sidecar not found"):
        check_engine_files(str(tmp_path / "model.engine"), trt_version="10.3.0", sm="8.7")


def _model_dir_with_engine(tmp_path, sm="8.7"):
    model = build_seg_model_dir(
        tmp_path / "m", manifest_overrides={"graphs": {"model": "model.onnx", "model.engine": "model.engine"}}
    )
    engine = tmp_path / "m" / "model.engine"
    engine.write_bytes(b"serialized")
    with open(model.path, "rb") as handle:
        digest = hashlib.sha256(handle.read()).hexdigest()
    write_sidecar(
        engine, EngineSidecar("model.engine", "fp16", "builder-flags", "10.3.0", "Orin", sm, "model.onnx", digest)
    )
    return model


def test_validate_checks_engine_sidecars(tmp_path, capsys, monkeypatch):
    from harness.cli import main
    from harness.commands import validate

    model = _model_dir_with_engine(tmp_path)
    monkeypatch.setattr(validate, "_machine_facts", lambda: (None, None))
    assert main(["validate", model.dir, "--backend", "trt"]) == 0
    out = capsys.readouterr().out
    assert "TensorRT 10.3.0, SM 8.7, fp16" in out and "TensorRT version and GPU SM not compared" in out
    monkeypatch.setattr(validate, "_machine_facts", lambda: ("10.3.0", "8.6"))  # as on an RTX 30xx
    assert main(["validate", model.dir]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "built for SM 8.7 (Orin), this GPU is SM 8.6" in err


# ---- the named-tensor call sequence, against a NumPy stand-in ---------------------------------


class FakeMemory:
    """Host dict standing in for device memory; records every call."""

    name = "fake"

    def __init__(self):
        self.blocks: dict[int, bytearray] = {}
        self.next = 0x1000
        self.calls: list[str] = []

    def compute_capability(self):
        return "8.7"

    def allocate(self, nbytes):
        self.calls.append(f"alloc {nbytes}")
        ptr, self.next = self.next, self.next + 0x10000
        self.blocks[ptr] = bytearray(nbytes)
        return DeviceBuffer(ptr, nbytes)

    def free(self, buffer):
        self.calls.append("free")
        del self.blocks[buffer.ptr]

    def create_stream(self):
        return "stream"

    def stream_handle(self, stream):
        return 7

    def destroy_stream(self, stream):
        self.calls.append(f"destroy {stream}")

    def copy_htod(self, dst, src, stream):
        self.blocks[dst.ptr][: src.nbytes] = src.tobytes()

    def copy_dtoh(self, dst, src, stream):
        dst[...] = np.frombuffer(bytes(self.blocks[src.ptr][: dst.nbytes]), dtype=dst.dtype).reshape(dst.shape)

    def synchronize(self, stream):
        pass

    def close(self):
        self.calls.append("close")


def make_fake_trt(memory: FakeMemory):
    """Engine: input x HALF [-1, 3], output y HALF = 2 * x (named-tensor API only)."""
    DataType = enum.Enum("DataType", ["FLOAT", "HALF"])
    TensorIOMode = enum.Enum("TensorIOMode", ["INPUT", "OUTPUT"])

    class Context:
        def __init__(self):
            self.shapes, self.addresses, self.log = {}, {}, []

        def set_input_shape(self, name, shape):
            self.log.append(("set_input_shape", name, tuple(shape)))
            if shape[0] > 8:
                return False
            self.shapes[name] = tuple(shape)
            return True

        def get_tensor_shape(self, name):
            return self.shapes["x"] if name == "y" else self.shapes[name]

        def set_tensor_address(self, name, ptr):
            self.addresses[name] = ptr

        def execute_async_v3(self, stream):
            shape = self.shapes["x"]
            count = int(np.prod(shape))
            x = np.frombuffer(bytes(memory.blocks[self.addresses["x"]][: count * 2]), np.float16).reshape(shape)
            memory.blocks[self.addresses["y"]][: count * 2] = (x * np.float16(2)).tobytes()
            self.log.append(("execute", stream))
            return True

    class Engine:
        num_io_tensors = 2

        def get_tensor_name(self, i):
            return ["x", "y"][i]

        def get_tensor_mode(self, name):
            return TensorIOMode.INPUT if name == "x" else TensorIOMode.OUTPUT

        def get_tensor_dtype(self, name):
            return DataType.HALF

        def get_tensor_shape(self, name):
            return (-1, 3)

        def create_execution_context(self):
            self.context = Context()
            return self.context

    return types.SimpleNamespace(TensorIOMode=TensorIOMode, __version__="10.3.0"), Engine()


def test_trt_session_call_sequence_and_fp16_io():
    memory = FakeMemory()
    trt, engine = make_fake_trt(memory)
    session = TrtSession(TrtBackend("m.engine"), engine, memory, {"backend": "trt"}, trt)
    assert [(s.name, s.dtype, s.shape) for s in session.inputs] == [("x", np.dtype(np.float16), (None, 3))]
    assert [(s.name, s.dtype) for s in session.outputs] == [("y", np.dtype(np.float16))]
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    with pytest.raises(BadInputError, match="x: dtype float32, expected float16"):
        session.run({"x": x})
    feeds = cast_feeds_to({"x": x}, session.inputs)
    np.testing.assert_array_equal(session.run(feeds)["y"], (x * 2).astype(np.float16))
    np.testing.assert_array_equal(session.run(feeds)["y"], (x * 2).astype(np.float16))
    bigger = {"x": np.ones((4, 3), np.float16)}
    outputs, timing = session.run_timed(bigger)
    np.testing.assert_array_equal(outputs["y"], np.full((4, 3), 2, np.float16))
    assert set(timing) == {"h2d_ms", "compute_ms", "d2h_ms"}
    log = engine.context.log
    # set_input_shape only when the shape changes: (2,3) once, (4,3) once
    assert [entry for entry in log if entry[0] == "set_input_shape"] == [
        ("set_input_shape", "x", (2, 3)),
        ("set_input_shape", "x", (4, 3)),
    ]
    assert [entry for entry in log if entry[0] == "execute"] == [("execute", 7)] * 3
    # buffers reused until a bigger batch needs more room: x and y allocated twice each
    assert [c for c in memory.calls if c.startswith("alloc")] == ["alloc 12", "alloc 12", "alloc 24", "alloc 24"]
    with pytest.raises(BadInputError, match="outside the engine's optimization profile"):
        session.run({"x": np.ones((9, 3), np.float16)})
    session.close()
    assert memory.calls[-2:] == ["destroy stream", "close"] and memory.blocks == {}
    session.close()  # idempotent: nothing freed or popped twice
    assert memory.calls[-2:] == ["destroy stream", "close"]


@pytest.mark.gpu
@pytest.mark.tensorrt
def test_real_engine_matches_numpy(tmp_path):
    import tensorrt as trt

    model = build_seg_model_dir(tmp_path / "m")
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)
    parser = trt.OnnxParser(network, logger)
    assert parser.parse_from_file(model.path)
    config = builder.create_builder_config()
    profile = builder.create_optimization_profile()
    for name, channels in model.modalities.items():
        profile.set_shape(name, (1, channels, 8, 8), (2, channels, 8, 8), (4, channels, 8, 8))
    config.add_optimization_profile(profile)
    engine_path = tmp_path / "m" / "model.engine"
    engine_path.write_bytes(bytes(builder.build_serialized_network(network, config)))
    memory = select_device_memory("auto", 0)
    sm = memory.compute_capability()
    memory.close()
    with open(model.path, "rb") as handle:
        digest = hashlib.sha256(handle.read()).hexdigest()
    write_sidecar(
        engine_path,
        EngineSidecar("model.engine", "fp32", "builder-flags", trt.__version__, "gpu", sm, "model.onnx", digest),
    )
    feeds = random_feeds(model, batch=2)
    with TrtBackend(str(engine_path)).open() as session:
        out = session.run(feeds)["logits"]
        assert session.provenance["runtime_version"] == trt.__version__
    np.testing.assert_allclose(out, model.forward(feeds), rtol=1e-3, atol=1e-3)


def test_device_memory_choices_are_validated():
    with pytest.raises(ConfigError):
        select_device_memory("cupy")
    assert set(cuda_memory.IMPLEMENTATIONS) == {"pycuda", "cuda-python"}


@pytest.mark.gpu
@pytest.mark.parametrize("choice", ["cuda-python", "pycuda"])
def test_device_memory_round_trip_on_a_gpu(choice):
    try:
        memory = select_device_memory(choice, 0)
    except BackendUnavailable as error:
        pytest.skip(f"{choice} not usable here: {error}")
    try:
        host = np.arange(1000, dtype=np.float32)
        back = np.empty_like(host)
        stream = memory.create_stream()
        buffer = memory.allocate(host.nbytes)
        memory.copy_htod(buffer, host, stream)
        memory.copy_dtoh(back, buffer, stream)
        memory.synchronize(stream)
        np.testing.assert_array_equal(back, host)
        assert re.fullmatch(r"\d+\.\d+", memory.compute_capability())
        memory.free(buffer)
        memory.destroy_stream(stream)
    finally:
        memory.close()
