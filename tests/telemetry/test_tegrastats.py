"""tegrastats parsing on recorded-format lines of Orin Nano/NX, AGX Orin and the original Nano.

Expected values are read off the fixture text by hand (and, for the rails, by an independent
regex written here), never from the parser's own output.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness.telemetry.tegrastats import board_total, parse_line

FIXTURES = Path(__file__).parent / "fixtures"
ALL = sorted(FIXTURES.glob("*.txt"))


def _lines(name: str) -> list[str]:
    return [line for line in (FIXTURES / name).read_text().splitlines() if line.strip()]


def test_fixtures_hold_several_lines_per_device():
    names = {path.stem for path in ALL}
    assert {"orin_nano_jp6", "orin_nx_jp5", "agx_orin_jp5", "agx_orin_jp6", "nano_jp4"} <= names
    assert all(len(_lines(path.name)) >= 2 for path in ALL)


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.stem)
def test_every_rail_matches_an_independent_regex(path):
    oracle = re.compile(r"\b([A-Z][A-Z0-9_]+) (\d+)(?:mW)?/(\d+)(?:mW)?(?=\s|$)")
    for line in _lines(path.name):
        parsed = parse_line(line)
        expected = {name: float(cur) for name, cur, _ in oracle.findall(line)}
        expected_avg = {name: float(avg) for name, _, avg in oracle.findall(line)}
        assert parsed.rails_mw == expected
        assert parsed.rails_avg_mw == expected_avg
        assert expected, "fixture line without rails"


def test_orin_nano_jetpack6_line():
    line = parse_line(_lines("orin_nano_jp6.txt")[1])
    assert line.timestamp == "11-25-2026 09:14:03"
    assert line.ram_mb == (2291.0, 7620.0)
    assert line.swap_mb == (221.0, 3810.0)
    assert line.cpu_load_pct == [38.0, 12.0, 9.0, 21.0, 4.0, 7.0]
    assert line.cpu_freq_mhz == [1510] * 6
    assert line.utilization_pct == {"gpu": 61.0}
    assert line.frequencies_mhz == {}  # JetPack 6 prints GR3D load without a frequency
    assert line.temperatures_c["tj"] == pytest.approx(56.968)
    assert line.temperatures_c["gpu"] == pytest.approx(56.125)
    assert line.total() == (7185.0, "input rail VDD_IN")  # sub-rails are not added to the input


def test_orin_nx_jetpack5_drops_powered_off_sensors_and_reads_both_gpcs():
    line = parse_line(_lines("orin_nx_jp5.txt")[0])
    assert "cv0" not in line.temperatures_c and "gpu" not in line.temperatures_c  # -256C = off
    assert line.temperatures_c["cpu"] == pytest.approx(45.062)
    assert line.cpu_load_pct[4:] == [None, None, None, None]
    assert line.frequencies_mhz["GR3D_FREQ"] == [305, 305]
    assert line.utilization_pct == {"gpu": 0.0, "emc": 0.0}
    loaded = parse_line(_lines("orin_nx_jp5.txt")[2])
    assert loaded.frequencies_mhz["GR3D_FREQ"] == [918, 918]
    assert loaded.utilization_pct["gpu"] == 92.0
    assert loaded.rails_mw["VDD_CPU_GPU_CV"] == 4662.0
    assert loaded.total()[0] == 10214.0


@pytest.mark.parametrize("name", ["agx_orin_jp5.txt", "agx_orin_jp6.txt"])
def test_agx_orin_total_is_the_sum_of_its_module_rails(name):
    for text in _lines(name):
        line = parse_line(text)
        assert "VDD_IN" not in line.rails_mw
        rails = {k: v for k, v in line.rails_mw.items() if k != "NC"}
        assert set(rails) == {"VDD_GPU_SOC", "VDD_CPU_CV", "VIN_SYS_5V0", "VDDQ_VDD2_1V8AO"}
        total, how = line.total()
        assert total == sum(rails.values())
        assert how.startswith("sum of module rails") and "NC" not in how.split("rails ")[1].split("+")


def test_agx_orin_jetpack5_values():
    line = parse_line(_lines("agx_orin_jp5.txt")[1])
    assert line.total()[0] == 9854 + 2415 + 5120 + 1007
    assert line.temperatures_c["tboard"] == 37.0
    assert line.ram_mb == (3420.0, 30536.0)
    assert len(line.cpu_load_pct) == 12 and line.cpu_load_pct.count(None) == 4
    assert "NVDLA0_FREQ" in line.unparsed  # kept, not fatal


def test_original_nano_unitless_rails_and_single_gpu_frequency():
    line = parse_line(_lines("nano_jp4.txt")[1])
    assert line.timestamp is None
    assert line.rails_mw == {"POM_5V_IN": 4531.0, "POM_5V_GPU": 1113.0, "POM_5V_CPU": 539.0}
    assert line.total() == (4531.0, "input rail POM_5V_IN")
    assert line.frequencies_mhz["GR3D_FREQ"] == [921]
    assert line.utilization_pct["gpu"] == 86.0
    assert line.temperatures_c["pmic"] == 100.0


def test_single_frequency_cpu_list_of_older_releases():
    line = parse_line("RAM 1000/3956MB (lfb 1x4MB) CPU [10%,off,30%,0%]@1734 VDD_IN 3000/3000")
    assert line.cpu_load_pct == [10.0, None, 30.0, 0.0]
    assert line.cpu_freq_mhz == [1734, None, 1734, 1734]


@pytest.mark.parametrize("junk", ["", "tegrastats: started", "Usage: tegrastats [-option]"])
def test_a_line_without_any_measurement_is_rejected(junk):
    with pytest.raises(ValueError, match="not a tegrastats line"):
        parse_line(junk)


def test_board_total_without_rails():
    assert board_total({}) == (None, "no power rails reported")
    assert board_total({"NC": 0.0}) == (None, "no power rails reported")
