"""``mmharness build --target trt`` end to end with the recording fake TensorRT: flags reach the
builder, the engine is registered where ``--backend trt`` looks, and the ``trt`` backend's
sidecar check accepts it on the same machine and refuses it on another."""

from __future__ import annotations

import json

import pytest
from fake_trt import HostMemory, make_trt

import exporters.precision.features as features_module
import exporters.tensorrt as builder_module
from exporters.tensorrt import DeviceInfo
from harness.backends.tensorrt import check_engine_files
from harness.cli import main
from harness.errors import ExitCode, ManifestError
from harness.manifest import load_manifest, validate_against_graph

CALIB = ["--calib-data", "synthetic:size=16,length=8", "--calib-samples", "8", "--calib-batch", "4"]


@pytest.fixture()
def fake_gpu(monkeypatch):
    """TensorRT 10 fake + an 'Orin' (SM 8.7) + host-memory calibration buffers."""
    trt = make_trt(10)
    monkeypatch.setattr(features_module, "import_tensorrt", lambda: trt)
    monkeypatch.setattr(builder_module, "query_device", lambda gpu_id: DeviceInfo(gpu_id, "Orin", "8.7"))
    monkeypatch.setattr(builder_module, "device_memory", lambda gpu_id: HostMemory())
    return trt


def test_int8_engine_build_from_the_command_line(model, fake_gpu, tmp_path, capsys):
    args = ["build", model.dir, "--precision", "int8", *CALIB, "--workspace", "512", "--opt-batch", "2",
            "--cache-dir", str(tmp_path / "cache")]
    assert main(args) == ExitCode.OK
    summary = json.loads(capsys.readouterr().out)
    assert summary["written"] == "model.int8.engine" and summary["sidecar"] == "model.int8.engine.json"
    assert ("set_memory_pool_limit", "WORKSPACE", 512 << 20) in fake_gpu.calls
    assert ("set_shape", "rgb", (1, 3, 16, 16), (2, 3, 16, 16), (8, 3, 16, 16)) in fake_gpu.calls
    manifest = load_manifest(model.dir)
    assert manifest.graphs["model.int8.engine"] == "model.int8.engine"
    validate_against_graph(manifest)
    engine = manifest.graph_path("model.int8.engine")
    assert check_engine_files(engine, trt_version="10.3.0", sm="8.7").precision == "int8"
    with pytest.raises(ManifestError, match="this GPU is SM 7.2"):
        check_engine_files(engine, trt_version="10.3.0", sm="7.2")


def test_fp32_engine_is_the_plain_trt_role_and_dry_run_builds_nothing(model, fake_gpu, tmp_path, capsys):
    assert main(["build", model.dir, "--precision", "fp32", "--dry-run"]) == ExitCode.OK
    out = json.loads(capsys.readouterr().out)
    assert out["tensorrt"] == "10.3.0" and out["plan"]["role"] == "model.engine" and out["plan"]["builder_flags"] == []
    assert "model.engine" not in load_manifest(model.dir).graphs
    assert main(["build", model.dir, "--precision", "fp32", "--cache-dir", str(tmp_path)]) == ExitCode.OK
    assert load_manifest(model.dir).graphs["model.engine"] == "model.fp32.engine"


def test_bad_flags_are_exit_2(model, fake_gpu, capsys):
    assert main(["build", model.dir, "--precision", "fp16", "--gpu-id", "-1"]) == ExitCode.BAD_INPUT
    assert "--gpu-id -1" in capsys.readouterr().err
    assert main(["build", model.dir, "--precision", "int8", *CALIB[:2], "--calib-samples", "6"]) == ExitCode.BAD_INPUT
    assert "not a multiple of --calib-batch 8" in capsys.readouterr().err
    assert main(["build", model.dir, "--precision", "fp16", "--target", "tensorrt"]) == ExitCode.BAD_INPUT
    assert "did you mean 'trt'" in capsys.readouterr().err


def test_dry_run_plans_for_an_assumed_tensorrt_without_importing_it(model, capsys):
    assert main(["build", model.dir, "--precision", "int8", "--dry-run", "--assume-trt", "11"]) == ExitCode.OK
    plan = json.loads(capsys.readouterr().out)["plan"]
    assert (plan["strategy"], plan["transform"], plan["typed_onnx"]) == ("strongly-typed", "int8-qdq", "model.int8-trt.onnx")
    assert main(["build", model.dir, "--precision", "int8", "--dry-run", "--assume-trt", "10"]) == ExitCode.OK
    plan = json.loads(capsys.readouterr().out)["plan"]
    assert (plan["strategy"], plan["builder_flags"], plan["calibrator"]) == ("builder-flags", ["INT8"], True)
    assert main(["build", model.dir, "--precision", "int8", "--assume-trt", "10"]) == ExitCode.BAD_INPUT
    assert "only plans" in capsys.readouterr().err
