"""A thread that polls one telemetry source while a benchmark or sweep runs, and the energy
arithmetic over its samples.

Failures never stop the run: a ``read()`` that raises is counted (per distinct message) and
the thread keeps polling; after ``max_consecutive_failures`` in a row it gives up on the
source and records that. Energy is the time integral of the total power over the measured
window, with the samples joined linearly and held flat before the first and after the last
sample (so a window shorter than the sampling interval still gets the one value seen).
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from typing import Any

from harness.telemetry.interface import Reading, TelemetrySource


@dataclass(frozen=True)
class Failure:
    """How often one failure message occurred while sampling."""

    message: str
    count: int

    def to_json(self) -> dict[str, Any]:
        return {"message": self.message, "count": self.count}


def integrate_mj(times_s: list[float], power_mw: list[float], t0: float, t1: float) -> float:
    """Energy in mJ of a power trace over ``[t0, t1]``.

    ``times_s`` ascending; power linear between samples, constant outside them. mW × s = mJ.
    """
    if not times_s:
        raise ValueError("no power samples to integrate")
    if t1 <= t0:
        return 0.0
    points = [t0] + [t for t in times_s if t0 < t < t1] + [t1]
    values = [_interp(t, times_s, power_mw) for t in points]
    return sum((b - a) * (va + vb) / 2.0 for a, b, va, vb in zip(points, points[1:], values, values[1:]))


def _interp(t: float, times: list[float], values: list[float]) -> float:
    if t <= times[0]:
        return values[0]
    if t >= times[-1]:
        return values[-1]
    lo, hi = 0, len(times) - 1
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if times[mid] <= t:
            lo = mid
        else:
            hi = mid
    span = times[hi] - times[lo]
    frac = (t - times[lo]) / span if span > 0 else 0.0
    return values[lo] + frac * (values[hi] - values[lo])


def counter_energy_mj(readings: list[Reading], t0: float, t1: float) -> float | None:
    """Energy over ``[t0, t1]`` from a cumulative energy counter: the counter difference between
    the first and last reading inside the window, scaled by window / sampled span. None unless
    at least two readings inside the window carry the counter and it advanced monotonically."""
    inside = [r for r in readings if t0 <= r.t_s <= t1 and r.energy_counter_mj is not None]
    if len(inside) < 2:
        return None
    first, last = inside[0], inside[-1]
    span = last.t_s - first.t_s
    delta = last.energy_counter_mj - first.energy_counter_mj  # type: ignore[operator]
    if span <= 0 or delta < 0:
        return None
    return delta * (t1 - t0) / span


class Sampler:
    """Polls ``source.read()`` every ``interval_s`` on a daemon thread between start and stop."""

    def __init__(self, source: TelemetrySource, interval_s: float = 0.05, max_consecutive_failures: int = 20) -> None:
        if not (interval_s > 0 and math.isfinite(interval_s)):
            raise ValueError(f"sampling interval must be a positive number of seconds, got {interval_s!r}")
        self.source = source
        self.interval_s = interval_s
        self.max_consecutive_failures = max_consecutive_failures
        self._readings: list[Reading] = []
        self._failures: dict[str, int] = {}
        self._gave_up: str | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False

    def start(self) -> Sampler:
        if self._thread is not None:
            raise RuntimeError("sampler already started")
        self._thread = threading.Thread(target=self._loop, name=f"telemetry-{self.source.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop polling (idempotent) and close the source."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=max(2.0, 4 * self.interval_s))
        try:
            self.source.close()
        except Exception as error:  # a failing close is recorded, the run still succeeds
            self._record_failure(f"close: {type(error).__name__}: {error}")

    def __enter__(self) -> Sampler:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _loop(self) -> None:
        consecutive = 0
        while not self._stop.is_set():
            try:
                reading = self.source.read()
            except Exception as error:  # any source fault is data about the run, not a crash
                consecutive += 1
                self._record_failure(f"{type(error).__name__}: {error}")
                if consecutive >= self.max_consecutive_failures:
                    self._gave_up = f"stopped sampling after {consecutive} consecutive failures"
                    return
            else:
                consecutive = 0
                with self._lock:
                    if not self._readings or reading.t_s > self._readings[-1].t_s:
                        self._readings.append(reading)
            self._stop.wait(self.interval_s)

    def _record_failure(self, message: str) -> None:
        with self._lock:
            self._failures[message] = self._failures.get(message, 0) + 1

    @property
    def readings(self) -> list[Reading]:
        with self._lock:
            return list(self._readings)

    @property
    def failures(self) -> list[Failure]:
        with self._lock:
            return [Failure(message, count) for message, count in sorted(self._failures.items())]

    def summary(self, t0: float, t1: float, inferences: int) -> dict[str, Any]:
        """The JSON record of the window ``[t0, t1]`` (``perf_counter`` seconds) in which
        ``inferences`` samples were processed: mean power (W), energy (J), energy per inference
        (mJ), per-rail mean power, peak temperatures, mean utilisations, failures."""
        readings = self.readings
        powered = [r for r in readings if r.total_mw is not None]
        in_window = [r for r in readings if t0 <= r.t_s <= t1]
        out: dict[str, Any] = {
            "source": self.source.name,
            "interval_s": self.interval_s,
            "samples": len(readings),
            "samples_in_window": len(in_window),
            "window_s": t1 - t0,
            "failures": [f.to_json() for f in self.failures],
            "gave_up": self._gave_up,
        }
        if not powered:
            out["status"] = "no power samples"
            return out
        times = [r.t_s for r in powered]
        energy_mj = integrate_mj(times, [r.total_mw for r in powered], t0, t1)  # type: ignore[misc]
        energy_from = "power samples integrated over the window (linear between samples, held at the ends)"
        counted = counter_energy_mj(readings, t0, t1)
        if counted is not None:
            energy_mj, energy_from = counted, "hardware energy counter, scaled from the sampled span to the window"
        duration = t1 - t0
        out.update(
            status="ok",
            total_from=powered[-1].total_from,
            energy_from=energy_from,
            mean_power_w=(energy_mj / duration / 1000.0) if duration > 0 else powered[-1].total_mw / 1000.0,  # type: ignore[operator]
            energy_j=energy_mj / 1000.0,
            energy_per_inference_mj=(energy_mj / inferences) if inferences > 0 else None,
            rails_mean_mw=_means([r.rails_mw for r in in_window or powered]),
            temperature_max_c=_maxima([r.temperatures_c for r in in_window or powered]),
            utilization_mean_pct=_means([r.utilization_pct for r in in_window or powered]),
        )
        return out


def _means(rows: list[dict[str, float]]) -> dict[str, float]:
    keys = sorted({k for row in rows for k in row})
    return {k: sum(row[k] for row in rows if k in row) / sum(1 for row in rows if k in row) for k in keys}


def _maxima(rows: list[dict[str, float]]) -> dict[str, float]:
    keys = sorted({k for row in rows for k in row})
    return {k: max(row[k] for row in rows if k in row) for k in keys}


def now() -> float:
    """The clock samples and bench windows share."""
    return time.perf_counter()
