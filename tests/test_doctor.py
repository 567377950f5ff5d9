"""``mmharness doctor``: environment plus per-backend can-run / why / fix; plain about no GPU."""

from __future__ import annotations

import json
import re

import pytest

from harness import env
from harness.cli import main


def _no_gpu_here() -> bool:
    return not env.run_probe(env.probe_gpus).get("present")


def test_doctor_json_lists_every_backend(capsys):
    assert main(["doctor", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    backends = {b["backend"]: b for b in report["backends"]}
    assert set(backends) == {"ort:cpu", "ort:cuda", "ort:tensorrt", "trt"}
    assert backends["ort:cpu"]["can_run"] is True
    for name, backend in backends.items():
        assert backend["why"], name
        if not backend["can_run"]:
            assert backend["fix"], f"{name} cannot run but gives no fix"
            assert "install with" not in backend["why"], f"{name}: the fix belongs in 'fix', not repeated in 'why'"
    assert report["environment"]["python"]["version"]


@pytest.mark.skipif(not _no_gpu_here(), reason="a GPU is present here")
def test_doctor_says_plainly_that_no_gpu_is_present(capsys):
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "GPU: NONE. No NVIDIA GPU is usable on this machine" in out
    # the reason names the probe that failed (nvidia-smi absent, or the CUDA runtime refusing)
    assert re.search(r"^GPU: NONE\. No NVIDIA GPU is usable on this machine \((nvidia-smi|cuda-python)\b.+\)$", out, re.M), out
    lines = {
        line.split()[0]: line for line in out.splitlines() if line.startswith("  ort:") or line.startswith("  trt")
    }
    assert " yes " in lines["ort:cpu"]
    for name in ("ort:cuda", "ort:tensorrt", "trt"):
        assert " NO " in lines[name], lines[name]
    report = json.loads((main(["doctor", "--json"]), capsys.readouterr().out)[1])
    assert report["gpu_present"] is False


def test_doctor_warns_about_two_onnxruntime_wheels(capsys, monkeypatch):
    real = env.package_version
    monkeypatch.setattr(env, "package_version", lambda name: "1.20.1" if name == "onnxruntime-gpu" else real(name))
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "WARNING: onnxruntime and onnxruntime-gpu are installed together" in out
