"""``build_engine`` against a recording fake of the TensorRT API (10.x and 11.x shapes): what
reaches TensorRT (flags, workspace, profiles, calibrator, timing cache), what is written
(engine, sidecar, typed ONNX), caches reused, and every failure path. The real build is a
``gpu``/``tensorrt`` test that skips here."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import onnx
import pytest
from fake_trt import HostMemory, make_trt

from exporters.tensorrt import DeviceInfo, EngineOptions, build_engine, query_device
from harness.backends.engine_sidecar import check_sidecar, read_sidecar
from harness.variants.calibration import CalibrationPlan, CalibrationReader
from harness.data import open_dataset
from harness.errors import ConfigError, InfrastructureError
from harness.manifest import load_manifest, validate_against_graph

ORIN = DeviceInfo(gpu_id=0, name="Orin", sm="8.7")


def _contract(model):
    return validate_against_graph(load_manifest(model.dir))


def _reader(contract, samples=8, batch=4):
    def make():
        return CalibrationReader(contract, open_dataset("synthetic:size=16,length=8", split="train"), CalibrationPlan(samples, batch))
    return make


def _calls(trt, name):
    return [c for c in trt.calls if c[0] == name]


def test_trt10_fp16_sets_the_flag_workspace_profile_and_timing_cache(model, tmp_path):
    trt = make_trt(10)
    contract = _contract(model)
    options = EngineOptions("fp16", workspace_mib=1024, opt_batch=2, cache_dir=str(tmp_path / "cache"))
    result = build_engine(contract, options, trt=trt, device=ORIN)
    assert _calls(trt, "create_network") == [("create_network", 0)]  # no EXPLICIT_BATCH (deprecated in 10)
    assert _calls(trt, "set_flag") == [("set_flag", "FP16")]
    assert _calls(trt, "set_memory_pool_limit") == [("set_memory_pool_limit", "WORKSPACE", 1024 << 20)]
    assert ("set_shape", "rgb", (1, 3, 16, 16), (2, 3, 16, 16), (8, 3, 16, 16)) in trt.calls
    assert _calls(trt, "parse_from_file") == [("parse_from_file", model.path)]
    assert _calls(trt, "create_timing_cache") == [("create_timing_cache", b"")]
    assert result.engine.read_bytes() == b"ENGINE" and result.engine.name == "model.fp16.engine"

    side = read_sidecar(result.engine)
    assert (side.precision, side.strategy, side.sm, side.device_name, side.trt_version) == ("fp16", "builder-flags", "8.7", "Orin", "10.3.0")
    assert side.profiles[0]["depth"]["max"] == (8, 3, 16, 16)
    assert side.build["builder_flags"] == ["FP16"] and side.built_from is None
    check_sidecar(side, trt_version="10.3.0", sm="8.7", where="x")  # what the trt backend will do

    trt2 = make_trt(10)  # a second build reads the timing cache the first one saved
    build_engine(contract, options, trt=trt2, device=ORIN)
    assert _calls(trt2, "create_timing_cache") == [("create_timing_cache", b"timing:")]


def test_trt10_int8_calibrates_once_then_reuses_the_cache(model, tmp_path):
    contract = _contract(model)
    options = EngineOptions("int8", cache_dir=str(tmp_path / "cache"))
    memory = HostMemory()
    trt = make_trt(10)
    result = build_engine(contract, options, _reader(contract), trt=trt, device=ORIN, memory=memory)
    assert _calls(trt, "set_flag") == [("set_flag", "INT8")]
    assert _calls(trt, "int8_calibrator") == [("int8_calibrator", "IInt8EntropyCalibrator2")]
    (calibration_profile,) = _calls(trt, "set_calibration_profile")
    assert calibration_profile[1]["rgb"] == ((4, 3, 16, 16),) * 3  # fixed at the calibration batch
    assert _calls(trt, "calibrated") == [("calibrated", False)]
    # the calibrator copied real preprocessed batches: the last copy is the second batch of rgb
    reader = _reader(contract)()
    last = list(reader.batches())[-1]
    assert last["rgb"].tobytes() in memory.buffers.values()
    assert sorted(memory.freed) == sorted(memory.buffers)  # every device buffer released
    assert memory.syncs == 2  # one synchronize per batch before TensorRT reads the buffers
    calib = result.details["calibration"]
    assert calib["cache_reused"] is False and calib["num_samples"] == 8
    assert os.path.isfile(tmp_path / "cache" / calib["cache"])

    trt2 = make_trt(10)
    again = build_engine(contract, options, _reader(contract), trt=trt2, device=ORIN, memory=HostMemory())
    assert _calls(trt2, "calibrated") == [("calibrated", True)]
    assert again.details["calibration"]["cache_reused"] is True
    assert read_sidecar(again.engine).build["calibration"]["cache"] == calib["cache"]


def test_trt11_fp16_builds_from_a_typed_onnx_with_float32_io(model, tmp_path):
    trt = make_trt(11)
    result = build_engine(_contract(model), EngineOptions("fp16", cache_dir=str(tmp_path)), trt=trt, device=ORIN)
    typed = os.path.join(model.dir, "model.fp16.onnx")
    assert _calls(trt, "parse_from_file") == [("parse_from_file", typed)]
    assert _calls(trt, "set_flag") == [] and _calls(trt, "create_network") == [("create_network", 0)]
    graph = onnx.load(typed)
    assert all(i.data_type == onnx.TensorProto.FLOAT16 for i in graph.graph.initializer)
    assert {v.type.tensor_type.elem_type for v in graph.graph.input} == {onnx.TensorProto.FLOAT}
    side = read_sidecar(result.engine)
    assert side.strategy == "strongly-typed" and side.built_from == "model.fp16.onnx" and len(side.built_from_sha256) == 64


def test_trt11_int8_uses_symmetric_qdq_from_the_same_calibration_reader(model, tmp_path):
    contract = _contract(model)
    trt = make_trt(11)
    result = build_engine(contract, EngineOptions("int8", cache_dir=str(tmp_path)), _reader(contract), trt=trt, device=ORIN)
    assert result.typed_onnx is not None and result.typed_onnx.name == "model.int8-trt.onnx"
    graph = onnx.load(result.typed_onnx)
    assert {"QuantizeLinear", "DequantizeLinear"} <= {n.op_type for n in graph.graph.node}
    zero_points = [onnx.numpy_helper.to_array(i) for i in graph.graph.initializer if i.name.endswith("zero_point")]
    assert zero_points and all(z.dtype == np.int8 and not z.any() for z in zero_points)  # symmetric int8
    assert _calls(trt, "int8_calibrator") == []  # TRT 11 has no implicit calibration


def test_strongly_typed_flag_on_trt10(model, tmp_path):
    trt = make_trt(10)
    build_engine(_contract(model), EngineOptions("fp16", strongly_typed=True, cache_dir=str(tmp_path)), trt=trt, device=ORIN)
    strongly = 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    assert _calls(trt, "create_network") == [("create_network", strongly)] and _calls(trt, "set_flag") == []


def test_int8_on_a_gpu_without_int8_is_refused_before_building(model, tmp_path):
    contract = _contract(model)
    with pytest.raises(ConfigError, match=r"SM 5\.2\) has no fast INT8"):
        build_engine(contract, EngineOptions("int8", cache_dir=str(tmp_path)), _reader(contract), trt=make_trt(10),
                     device=DeviceInfo(0, "Maxwell", "5.2"))
    trt = make_trt(10, fast_int8=False)
    with pytest.raises(ConfigError, match="no fast INT8"):
        build_engine(contract, EngineOptions("int8", cache_dir=str(tmp_path)), _reader(contract), trt=trt, device=ORIN)
    assert _calls(trt, "build_serialized_network") == []


def test_parser_and_builder_failures_are_infrastructure_errors(model, tmp_path):
    contract = _contract(model)
    with pytest.raises(InfrastructureError, match=r"could not parse model.onnx: In node 0 \(Conv\)"):
        build_engine(contract, EngineOptions("fp32", cache_dir=str(tmp_path)), trt=make_trt(10, parse_ok=False), device=ORIN)
    with pytest.raises(InfrastructureError, match="failed to build model.fp32.engine"):
        build_engine(contract, EngineOptions("fp32", cache_dir=str(tmp_path)), trt=make_trt(10, build_ok=False), device=ORIN)
    assert not os.path.exists(os.path.join(model.dir, "model.fp32.engine"))


def test_option_validation():
    with pytest.raises(ConfigError, match="--gpu-id -1"):
        EngineOptions("fp16", gpu_id=-1)
    with pytest.raises(ConfigError, match="--workspace 0"):
        EngineOptions("fp16", workspace_mib=0)


def test_device_query_without_a_driver_says_so():
    pytest.importorskip("cuda.bindings.runtime", reason="cuda-python is not installed")
    if shutil.which("nvidia-smi"):
        pytest.skip("an NVIDIA driver is present; the no-driver path cannot be exercised")
    with pytest.raises(InfrastructureError, match="cudaGetDeviceCount failed: cudaErrorInsufficientDriver"):
        query_device(0)


@pytest.mark.gpu
@pytest.mark.tensorrt
def test_real_fp16_engine_build(model, tmp_path):
    result = build_engine(_contract(model), EngineOptions("fp16", cache_dir=str(tmp_path)))
    side = read_sidecar(result.engine)
    assert side.precision == "fp16" and result.engine.stat().st_size > 0
    assert json.loads(result.sidecar.read_text())["engine"] == "model.fp16.engine"
