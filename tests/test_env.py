"""Environment provenance: parsers on recorded tool output, probe failures recorded with a
reason, the two-ONNX-Runtime-wheels warning, and no heavy import at module import time."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from harness import env

SMI_OUTPUT = """0, NVIDIA GeForce RTX 3090, 8.6, 550.54.15, 24576
1, NVIDIA A100-SXM4-80GB, 8.0, 550.54.15, 81920
"""
TEGRA_JP6 = "# R36 (release), REVISION: 3.0, GCID: 36191598, BOARD: generic, EABI: aarch64, DATE: Mon May  6 17:34:21 UTC 2024\n"
TEGRA_JP5 = "# R35 (release), REVISION: 4.1, GCID: 33958178, BOARD: t186ref, EABI: aarch64, DATE: Tue Aug  1 19:57:35 UTC 2023\n"


def test_parse_nvidia_smi():
    gpus = env.parse_nvidia_smi(SMI_OUTPUT)
    assert gpus == [
        {"index": 0, "name": "NVIDIA GeForce RTX 3090", "sm": "8.6", "driver": "550.54.15", "memory_mib": 24576},
        {"index": 1, "name": "NVIDIA A100-SXM4-80GB", "sm": "8.0", "driver": "550.54.15", "memory_mib": 81920},
    ]
    assert env.gpu_sm({"gpu": {"devices": gpus}}, 1) == "8.0"
    assert env.gpu_sm({"gpu": {"devices": gpus}}, 2) is None
    with pytest.raises(ValueError, match="unexpected nvidia-smi line"):
        env.parse_nvidia_smi("garbage")
    with pytest.raises(ValueError, match="no compute capability"):
        env.parse_nvidia_smi("0, Orin (nvgpu), [N/A], 540.3.0, [N/A]")


def test_gpu_probe_falls_back_to_cuda_runtime_on_jetson(monkeypatch):
    monkeypatch.setattr(env, "_run", lambda argv: "0, Orin (nvgpu), [N/A], 540.3.0, [N/A]\n")
    monkeypatch.setattr(env, "cuda_runtime_devices", lambda: [{"index": 0, "name": "Orin", "sm": "8.7"}])
    info = env.run_probe(env.probe_gpus)
    assert info == {"present": True, "source": "cuda-python", "devices": [{"index": 0, "name": "Orin", "sm": "8.7"}]}


@pytest.mark.parametrize(
    "text, l4t, board",
    [(TEGRA_JP6, "36.3.0", "generic"), (TEGRA_JP5, "35.4.1", "t186ref")],
)
def test_parse_tegra_release(text, l4t, board):
    info = env.parse_tegra_release(text)
    assert info["l4t"] == l4t and info["board"] == board and info["eabi"] == "aarch64"


def test_jetson_probe_reads_release_model_and_power_mode(tmp_path, monkeypatch):
    release = tmp_path / "nv_tegra_release"
    release.write_text(TEGRA_JP6)
    model = tmp_path / "model"
    model.write_bytes(b"NVIDIA Jetson Orin Nano Developer Kit\x00")
    monkeypatch.setattr(env, "TEGRA_RELEASE", str(release))
    monkeypatch.setattr(env, "DEVICE_TREE_MODEL", str(model))
    monkeypatch.setattr(env, "_run", lambda argv: "NV Power Mode: 15W\n0\n" if argv[0] == "nvpmodel" else "")
    info = env.run_probe(env.probe_jetson)
    assert info["l4t"] == "36.3.0"
    assert info["model"] == "NVIDIA Jetson Orin Nano Developer Kit"
    assert info["power_mode"] == {"name": "15W", "id": 0}


def test_jetson_probe_records_nvpmodel_failure(tmp_path, monkeypatch):
    release = tmp_path / "nv_tegra_release"
    release.write_text(TEGRA_JP5)
    monkeypatch.setattr(env, "TEGRA_RELEASE", str(release))
    monkeypatch.setattr(env, "DEVICE_TREE_MODEL", str(tmp_path / "absent"))

    def no_tool(argv):
        raise FileNotFoundError("nvpmodel not found on PATH")

    monkeypatch.setattr(env, "_run", no_tool)
    info = env.run_probe(env.probe_jetson)
    assert info["power_mode"] == {"available": False, "reason": "nvpmodel not found on PATH"}


def test_gpu_probe_from_nvidia_smi(monkeypatch):
    monkeypatch.setattr(env, "_run", lambda argv: SMI_OUTPUT)
    info = env.run_probe(env.probe_gpus)
    assert info["present"] is True and info["source"] == "nvidia-smi" and len(info["devices"]) == 2


def test_gpu_probe_records_every_reason_when_absent(monkeypatch):
    def no_smi(argv):
        raise FileNotFoundError("nvidia-smi not found on PATH")

    def no_cuda():
        raise RuntimeError("cuda-python: cudaGetDeviceCount failed: cudaErrorNoDevice")

    monkeypatch.setattr(env, "_run", no_smi)
    monkeypatch.setattr(env, "cuda_runtime_devices", no_cuda)
    info = env.run_probe(env.probe_gpus)
    assert info == {
        "present": False,
        "devices": [],
        "reason": "nvidia-smi not found (no NVIDIA driver installed); cuda-python: cudaGetDeviceCount failed: cudaErrorNoDevice",
    }


def test_probe_failures_are_recorded_not_raised():
    def broken():
        raise KeyError("boom")

    def absent():
        raise env.ProbeUnavailable("not here")

    result = env.collect_environment({"broken": broken, "absent": absent, "fine": lambda: {"x": 1}})
    assert result["broken"] == {"available": False, "reason": "probe failed: KeyError: 'boom'"}
    assert result["absent"] == {"available": False, "reason": "not here"}
    assert result["fine"] == {"x": 1}
    assert result["mmharness"]


def test_two_onnxruntime_wheels_are_flagged(monkeypatch):
    versions = {"onnxruntime": "1.20.1", "onnxruntime-gpu": "1.20.1"}
    monkeypatch.setattr(env, "package_version", versions.get)
    assert env.onnxruntime_distributions() == ["onnxruntime", "onnxruntime-gpu"]
    info = env.run_probe(env.probe_onnxruntime)
    assert "onnxruntime and onnxruntime-gpu are installed together" in info["warning"]
    assert "pip uninstall -y onnxruntime onnxruntime-gpu" in info["warning"]


def test_collected_environment_is_json_and_matches_this_machine():
    import numpy
    import onnxruntime

    result = env.collect_environment()
    json.dumps(result)  # JSON-ready
    assert result["python"]["version"] == ".".join(map(str, sys.version_info[:3]))
    assert result["packages"]["numpy"] == numpy.__version__
    assert result["onnxruntime"]["version"] == onnxruntime.__version__
    assert result["onnxruntime"]["build_providers"] == onnxruntime.get_available_providers()
    assert set(result) >= {"mmharness", "python", "cpu", "packages", "onnxruntime", "tensorrt", "gpu", "cuda_driver", "jetson"}


def test_importing_env_is_light():
    code = "import sys, harness.env; print(','.join(m for m in ('onnxruntime', 'onnx', 'tensorrt', 'cuda') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""


@pytest.mark.parametrize(
    "text, model",
    [
        ("processor\t: 0\nmodel name\t: AMD EPYC 7763 64-Core Processor\nflags\t: fpu\n", "AMD EPYC 7763 64-Core Processor"),
        # Jetson Orin (aarch64): no "model name"; older kernels give "Hardware", newer "Model"
        ("processor\t: 0\nBogoMIPS\t: 62.50\nCPU part\t: 0xd42\n\nHardware\t: NVIDIA Orin\n", "NVIDIA Orin"),
        ("processor\t: 0\nCPU part\t: 0xd42\nModel\t: NVIDIA Jetson AGX Orin Developer Kit\n", "NVIDIA Jetson AGX Orin Developer Kit"),
        ("processor\t: 0\nflags\t: fpu\n", None),
    ],
)
def test_parse_cpuinfo(text, model):
    assert env.parse_cpuinfo(text) == model


def test_cpu_probe_matches_this_process():
    info = env.run_probe(env.probe_cpu)
    assert info["logical_cores"] == os.cpu_count()
    assert info["usable_cores"] == len(os.sched_getaffinity(0)) <= info["logical_cores"]
    assert isinstance(info["model"], str) and info["model"]
