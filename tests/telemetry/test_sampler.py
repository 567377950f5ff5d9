"""The sampler thread and the energy arithmetic, checked against closed-form integrals."""

from __future__ import annotations

import threading
import time

import pytest

from harness.telemetry.interface import Reading
from harness.telemetry.probe import Telemetry
from harness.telemetry.sampler import Sampler, integrate_mj


def test_constant_power_energy_is_power_times_time():
    assert integrate_mj([0.5, 1.0, 1.7], [4000.0] * 3, 0.0, 2.0) == pytest.approx(8000.0)


def test_linear_ramp_matches_the_analytic_integral():
    # P(t) = 1000 + 500 t mW on [0, 4] s: integral over [1, 3] = 1000*2 + 250*(9 - 1) = 4000 mJ
    times = [0.0, 0.5, 2.0, 4.0]
    power = [1000 + 500 * t for t in times]
    assert integrate_mj(times, power, 1.0, 3.0) == pytest.approx(4000.0)


def test_window_shorter_than_one_interval_uses_the_held_value():
    assert integrate_mj([10.0], [3000.0], 10.2, 10.3) == pytest.approx(300.0)
    with pytest.raises(ValueError):
        integrate_mj([], [], 0.0, 1.0)


class _Scripted:
    """A source replaying scripted power values; raises where the script says so."""

    name = "scripted"

    def __init__(self, script):
        self.script = list(script)
        self.calls = 0
        self.closed = threading.Event()

    def read(self) -> Reading:
        self.calls += 1
        item = self.script[min(self.calls - 1, len(self.script) - 1)]
        if isinstance(item, Exception):
            raise item
        return Reading(time.perf_counter(), {"VDD_IN": item}, item, "input rail VDD_IN", {"tj": 50.0}, {"gpu": 90.0})

    def close(self) -> None:
        self.closed.set()


def _wait_for(predicate, timeout=3.0):
    end = time.perf_counter() + timeout
    while not predicate() and time.perf_counter() < end:
        time.sleep(0.005)


def test_sampler_records_failures_and_keeps_sampling():
    source = _Scripted([OSError("i2c read failed"), OSError("i2c read failed"), 5000.0])
    sampler = Sampler(source, interval_s=0.005).start()
    t0 = time.perf_counter()
    _wait_for(lambda: len(sampler.readings) >= 3)
    t1 = time.perf_counter()
    sampler.stop()
    assert source.closed.is_set()
    summary = sampler.summary(t0, t1, inferences=4)
    assert summary["failures"] == [{"message": "OSError: i2c read failed", "count": 2}]
    assert summary["status"] == "ok"
    assert summary["mean_power_w"] == pytest.approx(5.0)
    assert summary["energy_j"] == pytest.approx(5.0 * (t1 - t0))
    assert summary["energy_per_inference_mj"] == pytest.approx(5000.0 * (t1 - t0) / 4)
    assert summary["temperature_max_c"] == {"tj": 50.0}


def test_sampler_gives_up_on_a_dead_source_and_says_so():
    source = _Scripted([RuntimeError("tegrastats exited with code 1")])
    sampler = Sampler(source, interval_s=0.001, max_consecutive_failures=5).start()
    _wait_for(lambda: source.calls >= 5)
    sampler.stop()
    summary = sampler.summary(0.0, 1.0, inferences=1)
    assert summary["status"] == "no power samples"
    assert summary["gave_up"] == "stopped sampling after 5 consecutive failures"
    assert summary["failures"][0]["count"] == 5


def test_telemetry_wraps_a_window_with_a_working_source():
    source = _Scripted([2500.0])
    with Telemetry("tegrastats", interval_s=0.005, openers={"tegrastats": lambda: source},
                   runner=lambda argv: "NV Power Mode: MAXN\n0\n") as telemetry:
        t0 = time.perf_counter()
        _wait_for(lambda: len(telemetry.sampler.readings) >= 2)
        t1 = time.perf_counter()
    record = telemetry.record(t0, t1, inferences=10)
    assert record["power"]["source"] == "scripted"
    assert record["power"]["mean_power_w"] == pytest.approx(2.5)
    assert record["power_config"]["nvpmodel"] == {"name": "MAXN", "id": 0}


def test_bad_interval_is_rejected():
    with pytest.raises(ValueError, match="positive"):
        Sampler(_Scripted([1.0]), interval_s=0)


def test_energy_counter_beats_integration_when_present():
    from harness.telemetry.sampler import counter_energy_mj

    def r(t, counter, power=1000.0):
        return Reading(t, {"gpu0": power}, power, "nvml", energy_counter_mj=counter)

    # counter advances 300 mJ over the 1.5 s sampled span inside a 2 s window -> 400 mJ
    readings = [r(0.0, 0.0), r(0.5, 100.0), r(1.0, 200.0), r(2.0, 400.0), r(3.0, 999.0)]
    assert counter_energy_mj(readings, 0.25, 2.25) == pytest.approx(300.0 * 2.0 / 1.5)
    assert counter_energy_mj(readings[:1], 0.0, 1.0) is None  # one reading: no difference
    assert counter_energy_mj([r(0.0, 5.0), r(1.0, 4.0)], 0.0, 1.0) is None  # counter reset
    sampler = Sampler(_Scripted([1.0]), interval_s=1.0)
    sampler._readings = readings  # the summary is a pure function of the readings
    summary = sampler.summary(0.25, 2.25, inferences=4)
    assert summary["energy_from"].startswith("hardware energy counter")
    assert summary["energy_j"] == pytest.approx(0.4) and summary["energy_per_inference_mj"] == pytest.approx(100.0)
