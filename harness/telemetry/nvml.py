"""Desktop/server NVIDIA GPU power, temperature and load through NVML (``nvidia-ml-py``).

``pynvml`` is imported only when the source opens; when it is missing or NVML cannot
initialise (no driver) the probe records the source as skipped with that reason. Power is
``nvmlDeviceGetPowerUsage`` (mW, the board power of each GPU); the total is the sum over GPUs.
Where the GPU has an energy counter (``nvmlDeviceGetTotalEnergyConsumption``) it is read too,
and the sampler prefers its exact differences to integrating sampled power.
"""

from __future__ import annotations

import time
from typing import Any

from harness.telemetry.interface import Reading, SourceUnavailable


class NvmlSource:
    """All visible GPUs, rails named ``gpu0``, ``gpu1``..."""

    name = "nvml"

    def __init__(self) -> None:
        try:
            import pynvml
        except ImportError as error:
            raise SourceUnavailable(f"pynvml is not importable ({error}); install with: pip install nvidia-ml-py") from error
        self._nvml: Any = pynvml
        try:
            pynvml.nvmlInit()
        except Exception as error:  # pynvml raises NVMLError subclasses per error code
            raise SourceUnavailable(f"NVML failed to initialise: {error} (no NVIDIA driver?)") from error
        count = pynvml.nvmlDeviceGetCount()
        if count == 0:
            pynvml.nvmlShutdown()
            raise SourceUnavailable("NVML reports no GPU")
        self._handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
        self._has_counter = True

    def _energy_mj(self) -> float | None:
        """Sum of ``nvmlDeviceGetTotalEnergyConsumption`` (mJ since driver load; Volta and newer)."""
        if not self._has_counter:
            return None
        try:
            return float(sum(self._nvml.nvmlDeviceGetTotalEnergyConsumption(h) for h in self._handles))
        except Exception:  # NVMLError_NotSupported on older GPUs: fall back to sampled power for good
            self._has_counter = False
            return None

    def read(self) -> Reading:
        nvml = self._nvml
        rails: dict[str, float] = {}
        temps: dict[str, float] = {}
        util: dict[str, float] = {}
        for i, handle in enumerate(self._handles):
            rails[f"gpu{i}"] = float(nvml.nvmlDeviceGetPowerUsage(handle))
            temps[f"gpu{i}"] = float(nvml.nvmlDeviceGetTemperature(handle, nvml.NVML_TEMPERATURE_GPU))
            util[f"gpu{i}"] = float(nvml.nvmlDeviceGetUtilizationRates(handle).gpu)
        total = sum(rails.values())
        return Reading(
            t_s=time.perf_counter(),
            rails_mw=rails,
            total_mw=total,
            total_from="sum of GPU board power (NVML)",
            temperatures_c=temps,
            utilization_pct=util,
            energy_counter_mj=self._energy_mj(),
        )

    def close(self) -> None:
        try:
            self._nvml.nvmlShutdown()
        except Exception:  # shutdown after a driver fault must not mask the run's result
            pass
