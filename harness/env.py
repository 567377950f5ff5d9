"""Provenance of a run: what software and hardware produced a number.

``collect_environment()`` returns a JSON-ready dict (mmharness, Python, platform, CPU, package
versions, ONNX Runtime and its providers, TensorRT, CUDA driver, GPUs with their SM, Jetson
model, L4T release, power mode). Every probe is independent and cheap; a probe that cannot
answer records ``{"available": false, "reason": ...}`` instead of failing, so provenance is
never silently absent. Nothing heavy is imported at module import time.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import re
import subprocess
import sys
from collections.abc import Callable, Mapping
from typing import Any

from harness import __version__

TEGRA_RELEASE = "/etc/nv_tegra_release"
DEVICE_TREE_MODEL = "/proc/device-tree/model"
ORT_DISTRIBUTIONS = (
    "onnxruntime",
    "onnxruntime-gpu",
    "onnxruntime-directml",
    "onnxruntime-openvino",
    "onnxruntime-qnn",
    "onnxruntime-training",
    "ort-nightly",
    "ort-nightly-gpu",
)
PACKAGES = (
    "numpy",
    "onnx",
    "onnxruntime",
    "onnxruntime-gpu",
    "onnxruntime-genai",
    "tensorrt",
    "tensorrt-cu12",
    "tensorrt-cu13",
    "pycuda",
    "cuda-python",
    "cuda-bindings",
    "nvidia-ml-py",
)
_TIMEOUT_S = 5.0


class ProbeUnavailable(Exception):
    """A probe that has nothing to report here; the message is the reason."""


def package_version(name: str) -> str | None:
    """Installed version of distribution ``name`` (None when absent); imports nothing."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def onnxruntime_distributions() -> list[str]:
    """ONNX Runtime wheels installed together. More than one share the ``onnxruntime`` folder
    and overwrite each other's files: the environment is broken (``doctor`` warns)."""
    return [name for name in ORT_DISTRIBUTIONS if package_version(name) is not None]


def _run(argv: list[str]) -> str:
    from harness.telemetry.jetson import run_tool

    return run_tool(argv, timeout_s=_TIMEOUT_S)


# ---- parsers (pure, tested with recorded outputs) -------------------------------------------

_SMI_FIELDS = ("index", "name", "compute_cap", "driver_version", "memory_total_mib")


def parse_nvidia_smi(text: str) -> list[dict[str, Any]]:
    """``nvidia-smi --query-gpu=index,name,compute_cap,driver_version,memory.total
    --format=csv,noheader,nounits`` -> one dict per GPU (``sm`` as ``"8.6"``)."""
    gpus = []
    for line in text.strip().splitlines():
        parts = [part.strip() for part in line.split(",")]
        if len(parts) != len(_SMI_FIELDS):
            raise ValueError(f"unexpected nvidia-smi line {line!r} (expected {len(_SMI_FIELDS)} fields)")
        row = dict(zip(_SMI_FIELDS, parts, strict=True))
        if not re.fullmatch(r"\d+\.\d+", row["compute_cap"]):
            # Jetson's nvidia-smi answers "[N/A]" for most queries; the CUDA runtime knows the SM
            raise ValueError(f"nvidia-smi reports no compute capability for GPU {row['index']} ({row['compute_cap']})")
        gpus.append(
            {
                "index": int(row["index"]),
                "name": row["name"],
                "sm": row["compute_cap"],
                "driver": row["driver_version"],
                "memory_mib": int(float(row["memory_total_mib"]))
                if row["memory_total_mib"].replace(".", "").isdigit()
                else None,
            }
        )
    return gpus


_TEGRA = re.compile(r"#\s*R(?P<major>\d+)\s*\(release\),\s*REVISION:\s*(?P<revision>[\d.]+)(?P<rest>.*)")


def parse_tegra_release(text: str) -> dict[str, Any]:
    """``# R36 (release), REVISION: 3.0, GCID: ..., BOARD: generic, EABI: aarch64, DATE: ...``
    -> ``{"l4t": "36.3.0", "release": "R36", "revision": "3.0", "board": ..., ...}``."""
    match = _TEGRA.search(text)
    if match is None:
        raise ValueError(f"unrecognised {TEGRA_RELEASE} content: {text.strip()[:80]!r}")
    revision = match.group("revision")
    l4t = f"{match.group('major')}.{revision}"
    if l4t.count(".") == 1:
        l4t += ".0"
    info: dict[str, Any] = {"l4t": l4t, "release": f"R{match.group('major')}", "revision": revision}
    for key, value in re.findall(r",\s*([A-Z]+):\s*([^,]+)", match.group("rest")):
        info[key.lower()] = value.strip()
    return info


# ---- probes ---------------------------------------------------------------------------------


def probe_python() -> dict[str, Any]:
    return {
        "version": platform.python_version(),
        "implementation": platform.python_implementation(),
        "executable": sys.executable,
        "platform": platform.platform(),
        "machine": platform.machine(),
    }


def parse_cpuinfo(text: str) -> str | None:
    """CPU model from ``/proc/cpuinfo``: ``model name`` (x86), else ``Hardware``/``Model`` (Arm)."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and value.strip():
            fields.setdefault(key.strip(), value.strip())
    return next((fields[key] for key in ("model name", "Hardware", "Model") if key in fields), None)


def probe_cpu() -> dict[str, Any]:
    """CPU model and core counts: CPU figures (the default backend) depend on them. ``usable``
    is this process's affinity (containers and ``taskset`` restrict it), not the host's count."""
    info: dict[str, Any] = {"logical_cores": os.cpu_count()}
    if hasattr(os, "sched_getaffinity"):
        info["usable_cores"] = len(os.sched_getaffinity(0))
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            model = parse_cpuinfo(handle.read())
    except OSError:
        model = None
    info["model"] = model or platform.processor() or platform.machine()
    return info


def probe_packages() -> dict[str, Any]:
    return {name: version for name in PACKAGES if (version := package_version(name)) is not None}


def probe_onnxruntime() -> dict[str, Any]:
    distributions = onnxruntime_distributions()
    if not distributions:
        raise ProbeUnavailable(
            "onnxruntime is not installed; pip install 'mmharness[cpu]' (or [gpu] on an NVIDIA machine)"
        )
    import onnxruntime

    info: dict[str, Any] = {
        "version": onnxruntime.__version__,
        "distributions": distributions,
        "build_providers": list(onnxruntime.get_available_providers()),
        "note": "build_providers is what this wheel was compiled with, not what the hardware can run",
    }
    if len(distributions) > 1:
        info["warning"] = (
            f"{' and '.join(distributions)} are installed together; they share one folder and break each other. "
            f"Fix: pip uninstall -y {' '.join(distributions)} && pip install 'mmharness[cpu]' (or [gpu])"
        )
    return info


def probe_tensorrt() -> dict[str, Any]:
    from harness.backends.tensorrt import import_tensorrt
    from harness.errors import BackendUnavailable

    try:
        tensorrt = import_tensorrt()
    except BackendUnavailable as error:
        raise ProbeUnavailable(str(error)) from None
    return {"version": tensorrt.__version__, "path": os.path.dirname(getattr(tensorrt, "__file__", "") or "")}


def probe_gpus() -> dict[str, Any]:
    """GPUs from nvidia-smi; on Jetson (no nvidia-smi on older L4T) from the CUDA runtime."""
    reasons = []
    try:
        gpus = parse_nvidia_smi(
            _run(
                [
                    "nvidia-smi",
                    "--query-gpu=index,name,compute_cap,driver_version,memory.total",
                    "--format=csv,noheader,nounits",
                ]
            )
        )
        return {"present": bool(gpus), "source": "nvidia-smi", "devices": gpus}
    except FileNotFoundError:
        reasons.append("nvidia-smi not found (no NVIDIA driver installed)")
    except (OSError, RuntimeError, ValueError, subprocess.SubprocessError) as error:
        reasons.append(f"nvidia-smi: {error}")
    try:
        return {"present": True, "source": "cuda-python", "devices": cuda_runtime_devices()}
    except Exception as error:  # ImportError, driver errors: all are reasons, none is fatal
        text = str(error)
        reasons.append(text if text.startswith("cuda-python") else f"cuda-python: {text}")
    return {"present": False, "devices": [], "reason": "; ".join(reasons)}


def cuda_runtime_devices() -> list[dict[str, Any]]:
    """GPUs as the CUDA runtime (cuda-python) sees them; raises with the CUDA error otherwise."""
    from harness.backends.cuda_memory import cudart_call, import_cudart

    cudart = import_cudart()
    count = cudart_call(cudart, "cudaGetDeviceCount")[0]
    devices = []
    for index in range(count):
        props = cudart_call(cudart, "cudaGetDeviceProperties", index)[0]
        name = props.name.decode() if isinstance(props.name, bytes) else str(props.name)
        devices.append({"index": index, "name": name.strip("\x00"), "sm": f"{props.major}.{props.minor}"})
    return devices


def probe_cuda_driver() -> dict[str, Any]:
    try:
        from harness.backends.cuda_memory import cudart_call, import_cudart

        cudart = import_cudart()
        version = cudart_call(cudart, "cudaDriverGetVersion")[0]
    except Exception as error:
        raise ProbeUnavailable(str(error)) from None
    if version == 0:
        raise ProbeUnavailable("no CUDA driver installed (cudaDriverGetVersion returned 0)")
    return {"version": f"{version // 1000}.{(version % 1000) // 10}"}


def probe_jetson() -> dict[str, Any]:
    if not os.path.exists(TEGRA_RELEASE):
        raise ProbeUnavailable(f"not a Jetson ({TEGRA_RELEASE} absent)")
    with open(TEGRA_RELEASE, encoding="utf-8", errors="replace") as handle:
        info = parse_tegra_release(handle.read())
    if os.path.exists(DEVICE_TREE_MODEL):
        with open(DEVICE_TREE_MODEL, encoding="utf-8", errors="replace") as handle:
            info["model"] = handle.read().strip("\x00\n ")
    try:
        from harness.telemetry.jetson import parse_nvpmodel

        info["power_mode"] = parse_nvpmodel(_run(["nvpmodel", "-q"]))
    except (OSError, RuntimeError, ValueError, subprocess.SubprocessError) as error:
        info["power_mode"] = {"available": False, "reason": str(error)}
    return info


PROBES: Mapping[str, Callable[[], dict[str, Any]]] = {
    "python": probe_python,
    "cpu": probe_cpu,
    "packages": probe_packages,
    "onnxruntime": probe_onnxruntime,
    "tensorrt": probe_tensorrt,
    "gpu": probe_gpus,
    "cuda_driver": probe_cuda_driver,
    "jetson": probe_jetson,
}


def run_probe(probe: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Result of one probe, or ``{"available": False, "reason": ...}``; never raises."""
    try:
        return probe()
    except ProbeUnavailable as reason:
        return {"available": False, "reason": str(reason)}
    except Exception as error:  # a probe bug must not take the run down, but it is recorded
        return {"available": False, "reason": f"probe failed: {type(error).__name__}: {error}"}


def collect_environment(probes: Mapping[str, Callable[[], dict[str, Any]]] = PROBES) -> dict[str, Any]:
    """The provenance dict recorded in every results.json (see module docstring)."""
    env: dict[str, Any] = {"mmharness": __version__}
    for name, probe in probes.items():
        env[name] = run_probe(probe)
    return env


def gpu_sm(env: Mapping[str, Any], device_id: int = 0) -> str | None:
    """SM (``"8.7"``) of GPU ``device_id`` in a collected environment, None without a GPU."""
    for device in env.get("gpu", {}).get("devices", []):
        if device.get("index") == device_id:
            return device.get("sm")
    return None
