"""``mmharness build --target trt`` end to end with the recording fake TensorRT: flags reach the
builder, the engine is registered where ``--backend trt`` looks, and the ``trt`` backend's
sidecar check accepts it on the same machine and refuses it on another."""

from __future__ import annotations

import json

import pytest
from fake_trt import HostMemory, make_trt

import exporters.variants.features as features_module
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


# ---- issue 9 "Bad input", each through the CLI: exit code 2 and one line on stderr ----------


def _one_line_error(capsys) -> str:
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert captured.out == "" and len(err.splitlines()) == 1, err
    return err


def test_precision_typo_suggests_the_valid_one(model, capsys):
    assert main(["build", model.dir, "--precision", "int9", "--target", "ort"]) == ExitCode.BAD_INPUT
    err = _one_line_error(capsys)
    assert "--precision" in err and "did you mean 'int8'" in err
    assert main(["build", model.dir, "--precision", "FP16", "--target", "ort", "--dry-run"]) == ExitCode.OK  # case-insensitive


def test_too_few_calibration_samples_names_the_count(model, capsys):
    args = ["build", model.dir, "--precision", "int8", "--target", "ort", "--calib-data", "synthetic:size=16,length=3",
            "--calib-samples", "8", "--calib-batch", "4"]
    assert main(args) == ExitCode.BAD_INPUT
    err = _one_line_error(capsys)
    assert "has 3 samples, calibration needs 8" in err and "--calib-samples" in err
    assert "model.int8" not in load_manifest(model.dir).graphs  # nothing registered


def test_calibration_data_without_a_model_modality_names_it(tmp_path, capsys):
    from onnx_graphs import build_seg_model_dir

    thermal = build_seg_model_dir(tmp_path / "thermal", modalities={"rgb": 3, "thermal": 3}, size=(16, 16), num_classes=3)
    assert main(["build", thermal.dir, "--precision", "int8", "--target", "ort", *CALIB]) == ExitCode.BAD_INPUT
    err = _one_line_error(capsys)
    assert "missing: thermal" in err and "synthetic" in err


def test_int8_engine_on_a_gpu_without_int8_is_refused_before_building(model, fake_gpu, monkeypatch, capsys):
    monkeypatch.setattr(builder_module, "query_device", lambda gpu_id: DeviceInfo(gpu_id, "GTX 980", "5.2"))
    assert main(["build", model.dir, "--precision", "int8", *CALIB]) == ExitCode.BAD_INPUT
    err = _one_line_error(capsys)
    assert "SM 5.2" in err and "no fast INT8" in err
    assert not any(call[0] == "build_serialized_network" for call in fake_gpu.calls)
    assert "model.int8.engine" not in load_manifest(model.dir).graphs


def test_engine_from_another_gpu_or_tensorrt_is_refused_by_validate(model, fake_gpu, tmp_path, monkeypatch, capsys):
    from harness.commands import validate

    assert main(["build", model.dir, "--precision", "fp16", "--cache-dir", str(tmp_path / "c")]) == ExitCode.OK
    capsys.readouterr()
    monkeypatch.setattr(validate, "_machine_facts", lambda: ("10.3.0", "8.7"))  # the building machine
    assert main(["validate", model.dir]) == ExitCode.OK
    capsys.readouterr()
    monkeypatch.setattr(validate, "_machine_facts", lambda: ("10.8.0", "8.7"))
    assert main(["validate", model.dir]) == ExitCode.BAD_INPUT
    assert "built with TensorRT 10.3.0, this machine has TensorRT 10.8.0" in _one_line_error(capsys)
    monkeypatch.setattr(validate, "_machine_facts", lambda: ("10.3.0", "8.6"))
    assert main(["validate", model.dir]) == ExitCode.BAD_INPUT
    assert "built for SM 8.7 (Orin), this GPU is SM 8.6" in _one_line_error(capsys)
