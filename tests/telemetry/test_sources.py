"""INA3221 sysfs reader, nvpmodel/jetson_clocks parsing, and the probe's skipped records."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import ConfigError
from harness.telemetry.ina3221 import Ina3221Source
from harness.telemetry.interface import Reading, SourceUnavailable
from harness.telemetry.jetson import (
    parse_jetson_clocks,
    parse_nvpmodel,
    query_power_config,
)
from harness.telemetry.probe import Telemetry, open_power_source


def _hwmon(root: Path, device: str, hwmon: str, channels: dict[int, tuple[str, int, int]], driver="ina3221") -> Path:
    folder = root / driver / device / "hwmon" / hwmon
    folder.mkdir(parents=True)
    for n, (label, mv, ma) in channels.items():
        (folder / f"in{n}_label").write_text(label + "\n")
        (folder / f"in{n}_input").write_text(f"{mv}\n")
        (folder / f"curr{n}_input").write_text(f"{ma}\n")
    return folder


def test_ina3221_orin_nx_rails_and_input_total(tmp_path):
    _hwmon(tmp_path, "1-0040", "hwmon1", {1: ("VDD_IN", 5000, 1200), 2: ("VDD_CPU_GPU_CV", 4992, 160), 3: ("VDD_SOC", 4984, 280)})
    reading = Ina3221Source(tmp_path).read()
    assert reading.rails_mw == {"VDD_IN": 6000.0, "VDD_CPU_GPU_CV": 4992 * 160 / 1000, "VDD_SOC": 4984 * 280 / 1000}
    assert reading.total_mw == 6000.0 and reading.total_from == "input rail VDD_IN"


def test_ina3221_agx_orin_two_monitors_skip_unconnected_and_disabled(tmp_path):
    _hwmon(tmp_path, "1-0040", "hwmon3", {1: ("VDD_GPU_SOC", 843, 6170), 2: ("VDD_CPU_CV", 780, 3437), 3: ("VIN_SYS_5V0", 4968, 953)})
    second = _hwmon(tmp_path, "1-0041", "hwmon4", {1: ("NC", 0, 0), 2: ("VDDQ_VDD2_1V8AO", 1800, 341), 3: ("", 0, 0)})
    (second / "in3_enable").write_text("0\n")
    (second / "in7_label").write_text("sum of shunt voltages\n")  # summation channel: not a rail
    source = Ina3221Source(tmp_path)
    assert [c.label for c in source.channels] == ["VDD_GPU_SOC", "VDD_CPU_CV", "VIN_SYS_5V0", "VDDQ_VDD2_1V8AO"]
    reading = source.read()
    expected = 843 * 6170 / 1000 + 780 * 3437 / 1000 + 4968 * 953 / 1000 + 1800 * 341 / 1000
    assert reading.total_mw == pytest.approx(expected)
    assert reading.total_from.startswith("sum of module rails")


def _iio(root: Path, device: str, iio: str, channels: dict[int, tuple[str, int]]) -> Path:
    """A JetPack 4 ``ina3221x`` IIO device folder as L4T 32 lays it out (power in mW per channel,
    plus the current/voltage/limit files the reader must not mistake for rails)."""
    folder = root / "ina3221x" / device / iio
    folder.mkdir(parents=True)
    for n, (label, mw) in channels.items():
        (folder / f"rail_name_{n}").write_text(label + "\n")
        (folder / f"in_power{n}_input").write_text(f"{mw}\n")
        (folder / f"in_current{n}_input").write_text("123\n")
        (folder / f"in_voltage{n}_input").write_text("5000\n")
        (folder / f"crit_current_limit_{n}").write_text("3000\n")
    (folder / "name").write_text("ina3221x\n")
    return folder


def test_ina3221x_jetpack4_nano_reads_power_files_and_input_total(tmp_path):
    _iio(tmp_path, "6-0040", "iio:device0", {0: ("POM_5V_IN", 3186), 1: ("POM_5V_GPU", 41), 2: ("POM_5V_CPU", 442)})
    source = Ina3221Source(tmp_path)
    assert [c.label for c in source.channels] == ["POM_5V_IN", "POM_5V_GPU", "POM_5V_CPU"]
    reading = source.read()
    assert reading.rails_mw == {"POM_5V_IN": 3186.0, "POM_5V_GPU": 41.0, "POM_5V_CPU": 442.0}
    assert (reading.total_mw, reading.total_from) == (3186.0, "input rail POM_5V_IN")


def test_ina3221x_jetpack4_agx_xavier_two_devices_sum_and_unconnected_channel(tmp_path):
    _iio(tmp_path, "1-0040", "iio:device0", {0: ("GPU", 155), 1: ("CPU", 310), 2: ("SOC", 1241)})
    second = _iio(tmp_path, "1-0041", "iio:device1", {0: ("CV", 0), 1: ("VDDRQ", 155), 2: ("SYS5V", 1561)})
    (second / "rail_name_1").unlink()  # channel without a rail name: not connected, skipped
    source = Ina3221Source(tmp_path)
    assert [c.label for c in source.channels] == ["GPU", "CPU", "SOC", "CV", "SYS5V"]
    reading = source.read()
    assert reading.total_mw == 155 + 310 + 1241 + 0 + 1561
    assert reading.total_from == "sum of module rails CPU+CV+GPU+SOC+SYS5V"
    (tmp_path / "ina3221x" / "1-0040" / "iio:device0" / "in_power2_input").write_text("1300\n")
    assert source.read().rails_mw["SOC"] == 1300.0  # re-read on every sample


def test_ina3221_absent_is_unavailable_with_reason(tmp_path):
    with pytest.raises(SourceUnavailable, match="does not exist"):
        Ina3221Source(tmp_path / "nope")
    (tmp_path / "ina3221").mkdir()
    with pytest.raises(SourceUnavailable, match="no labelled INA3221 channels.*JetPack 4"):
        Ina3221Source(tmp_path)


NVPMODEL_ORIN = "NV Fan Mode:quiet\nNV Power Mode: 15W\n2\n"
JETSON_CLOCKS_AGX = """SOC family:tegra234  Machine:NVIDIA Jetson AGX Orin Developer Kit
Online CPUs: 0-11
cpu0: Online=1 Governor=schedutil MinFreq=2201600 MaxFreq=2201600 CurrentFreq=2201600 IdleStates: WFI=0 c7=0
cpu1: Online=1 Governor=schedutil MinFreq=2201600 MaxFreq=2201600 CurrentFreq=2201600 IdleStates: WFI=0 c7=0
GPU MinFreq=1300500000 MaxFreq=1300500000 CurrentFreq=1300500000
EMC MinFreq=204000000 MaxFreq=3199000000 CurrentFreq=3199000000 FreqOverride=1
DLA0_CORE:   Online=1 MinFreq=0 MaxFreq=1600000000 CurrentFreq=1600000000
FAN Dynamic Speed control=active hwmon4_pwm=255
NV Power Mode: MAXN
"""


def test_nvpmodel_and_jetson_clocks_parsing():
    assert parse_nvpmodel(NVPMODEL_ORIN) == {"name": "15W", "id": 2}
    clocks = parse_jetson_clocks(JETSON_CLOCKS_AGX)
    assert clocks["soc_family"] == "tegra234"
    assert clocks["machine"] == "NVIDIA Jetson AGX Orin Developer Kit"
    assert clocks["cpus"]["cpu1"]["Governor"] == "schedutil"
    assert clocks["engines"]["GPU"]["MaxFreq"] == 1300500000
    assert clocks["engines"]["DLA0_CORE"]["CurrentFreq"] == 1600000000
    assert clocks["power_mode"] == "MAXN"
    assert clocks["clocks_at_max"] is True
    dynamic = JETSON_CLOCKS_AGX.replace("GPU MinFreq=1300500000 MaxFreq=1300500000 CurrentFreq=1300500000",
                                        "GPU MinFreq=306000000 MaxFreq=1300500000 CurrentFreq=306000000")
    assert parse_jetson_clocks(dynamic)["clocks_at_max"] is False
    with pytest.raises(ValueError):
        parse_nvpmodel("garbage")


def test_power_config_records_each_failure_as_skipped():
    def runner(argv):
        if argv[0] == "nvpmodel":
            return NVPMODEL_ORIN
        raise RuntimeError("jetson_clocks --show exited 1: must be run as root")

    found, skipped = query_power_config(runner)
    assert found == {"nvpmodel": {"name": "15W", "id": 2}}
    assert [(s.source, s.reason) for s in skipped] == [("jetson_clocks --show", "jetson_clocks --show exited 1: must be run as root")]


class _Fake:
    name = "fake"

    def read(self) -> Reading:
        import time

        return Reading(time.perf_counter(), {"VDD_IN": 5000.0}, 5000.0, "input rail VDD_IN")

    def close(self) -> None:
        pass


def _unavailable(reason):
    def opener():
        raise SourceUnavailable(reason)

    return opener


def test_probe_order_and_skipped_reasons():
    openers = {"ina3221": _unavailable("no sysfs"), "tegrastats": _Fake, "nvml": _unavailable("no driver")}
    source, skipped = open_power_source("auto", openers=openers)
    assert source is not None and source.name == "fake"
    assert [(s.source, s.reason) for s in skipped] == [
        ("ina3221", "no sysfs"),
        ("nvml", "not used: fake was available first"),
    ]
    source, skipped = open_power_source("off")
    assert source is None and skipped[0].reason.startswith("disabled by the user")
    with pytest.raises(ConfigError, match="unknown source 'jtop'"):
        open_power_source("jtop")


def test_on_this_machine_every_source_is_skipped_with_a_reason(tmp_path):
    """No Jetson and no GPU here: the real probe must say why for each source."""
    source, skipped = open_power_source("auto", sysfs_root=tmp_path / "absent")
    if source is not None:  # a real Jetson or GPU host
        source.close()
        pytest.skip(f"telemetry hardware present here ({source.name})")
    names = [s.source for s in skipped]
    assert names == ["ina3221", "tegrastats", "nvml"]
    assert all(s.reason for s in skipped)


def test_telemetry_record_without_hardware_is_skipped_not_missing(tmp_path):
    def runner(argv):
        raise FileNotFoundError(f"{argv[0]} not found on PATH")

    openers = {"ina3221": _unavailable("a"), "tegrastats": _unavailable("b"), "nvml": _unavailable("c")}
    with Telemetry("auto", openers=openers, runner=runner) as telemetry:
        pass
    record = telemetry.record(0.0, 1.0, inferences=10)
    assert record["power"] is None
    assert {s["source"] for s in record["skipped"]} == {"ina3221", "tegrastats", "nvml", "nvpmodel -q", "jetson_clocks --show"}


def test_tegrastats_source_streams_a_real_subprocess(tmp_path, monkeypatch):
    """A stand-in ``tegrastats`` executable prints fixture lines; the source parses the stream."""
    import sys
    import time

    from harness.telemetry.tegrastats import TegrastatsSource

    fixture = Path(__file__).parent / "fixtures" / "orin_nano_jp6.txt"
    script = tmp_path / "tegrastats"
    script.write_text(
        f"#!{sys.executable}\n"
        "import sys, time\n"
        "assert sys.argv[1] == '--interval'\n"
        f"for line in open({str(fixture)!r}):\n"
        "    print(line.strip(), flush=True); time.sleep(0.01)\n"
        "time.sleep(30)\n"
    )
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{__import__('os').environ['PATH']}")
    source = TegrastatsSource(interval_ms=10)
    try:
        deadline = time.perf_counter() + 5
        reading = None
        while time.perf_counter() < deadline:
            try:
                reading = source.read()
            except RuntimeError:
                time.sleep(0.01)
                continue
            if reading.rails_mw["VDD_IN"] == 5095.0:  # the last fixture line
                break
            time.sleep(0.01)
        assert reading is not None and reading.rails_mw["VDD_IN"] == 5095.0
        assert reading.total_from == "input rail VDD_IN"
    finally:
        source.close()


def test_tegrastats_that_exits_mid_run_is_a_failure_not_a_stale_reading(tmp_path, monkeypatch):
    import os
    import sys
    import time

    from harness.telemetry.tegrastats import TegrastatsSource

    script = tmp_path / "tegrastats"
    script.write_text(
        f"#!{sys.executable}\n"
        "import sys\n"
        "print('RAM 1490/3956MB (lfb 334x4MB) POM_5V_IN 3186/3186', flush=True)\n"
        "sys.stderr.write('tegrastats: lost the i2c bus\\n'); sys.exit(1)\n"
    )
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    source = TegrastatsSource(interval_ms=10)
    try:
        deadline = time.perf_counter() + 5
        while (source._proc.poll() is None or source._latest is None) and time.perf_counter() < deadline:
            time.sleep(0.01)
        assert source._latest is not None and source._latest.rails_mw == {"POM_5V_IN": 3186.0}  # a line was read
        for _ in range(2):  # the same one-line reason every time
            with pytest.raises(RuntimeError, match="tegrastats exited with code 1: tegrastats: lost the i2c bus"):
                source.read()
    finally:
        source.close()


def test_tegrastats_absent_is_unavailable():
    from harness.telemetry.tegrastats import TegrastatsSource

    with pytest.raises(SourceUnavailable, match="not found on PATH"):
        TegrastatsSource(executable="tegrastats-definitely-absent")


@pytest.mark.gpu
def test_nvml_reads_gpu_power():
    pytest.importorskip("pynvml", reason="pynvml not installed (pip install nvidia-ml-py)")
    from harness.telemetry.nvml import NvmlSource

    source = NvmlSource()
    try:
        reading = source.read()
    finally:
        source.close()
    assert reading.total_mw is not None and reading.total_mw > 0
    assert set(reading.rails_mw) == {f"gpu{i}" for i in range(len(reading.rails_mw))}


class _FakeNvml:
    """Stands in for ``pynvml`` with two GPUs; the energy counter advances 1 J per read."""

    NVML_TEMPERATURE_GPU = 0

    def __init__(self, fail_init=False, counter=True):
        self.fail_init, self.counter, self.energy, self.shutdowns = fail_init, counter, 1_000_000, 0

    def nvmlInit(self):
        if self.fail_init:
            raise RuntimeError("NVML Shared Library Not Found")

    def nvmlDeviceGetCount(self):
        return 2

    def nvmlDeviceGetHandleByIndex(self, i):
        return i

    def nvmlDeviceGetPowerUsage(self, h):
        return [70_000, 45_500][h]

    def nvmlDeviceGetTemperature(self, h, sensor):
        return [61, 55][h]

    def nvmlDeviceGetUtilizationRates(self, h):
        return type("U", (), {"gpu": [99, 10][h]})()

    def nvmlDeviceGetTotalEnergyConsumption(self, h):
        if not self.counter:
            raise RuntimeError("Not Supported")
        self.energy += 500
        return self.energy

    def nvmlShutdown(self):
        self.shutdowns += 1


def test_nvml_source_with_a_stand_in_library(monkeypatch):
    import sys

    from harness.telemetry.nvml import NvmlSource

    fake = _FakeNvml()
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    source = NvmlSource()
    reading = source.read()
    source.close()
    assert reading.rails_mw == {"gpu0": 70000.0, "gpu1": 45500.0}
    assert reading.total_mw == 115500.0 and reading.total_from == "sum of GPU board power (NVML)"
    assert reading.temperatures_c == {"gpu0": 61.0, "gpu1": 55.0} and reading.utilization_pct["gpu0"] == 99.0
    assert reading.energy_counter_mj == float(1_000_500 + 1_001_000)
    assert fake.shutdowns == 1
    no_counter = _FakeNvml(counter=False)
    monkeypatch.setitem(sys.modules, "pynvml", no_counter)
    assert NvmlSource().read().energy_counter_mj is None
    monkeypatch.setitem(sys.modules, "pynvml", _FakeNvml(fail_init=True))
    with pytest.raises(SourceUnavailable, match="NVML failed to initialise: NVML Shared Library Not Found"):
        NvmlSource()
