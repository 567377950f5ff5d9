"""tegrastats parsing on lines of Orin Nano/NX and AGX Orin (JetPack 5/6), Xavier NX, AGX Xavier,
TX2 and the original Nano (JetPack 4).

The fixtures are written in the formats those releases print (NVIDIA's Jetson Linux developer
guide and published captures), not recorded on a device here: one file per board and release,
idle and loaded lines. Expected values are read off the fixture text by hand (and, for the
rails, by an independent regex written here), never from the parser's own output; mean power
and energy per inference are checked against trapezoids computed by hand in the comments.
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
    assert {"orin_nano_jp6", "orin_nx_jp5", "agx_orin_jp5", "agx_orin_jp6", "nano_jp4", "xavier_nx_jp4",
            "agx_xavier_jp4", "tx2_jp4"} <= names
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
    assert line.utilization_pct == {"gpu": 61.0, "emc": 9.0}
    assert line.frequencies_mhz == {}  # JetPack 6 prints GR3D/EMC load without a frequency
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
    line = parse_line(_lines("nano_jp4.txt")[2])
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


def test_orin_nano_jetpack6_idle_line_in_the_published_format():
    line = parse_line(_lines("orin_nano_jp6.txt")[4])
    assert line.ram_mb == (2448.0, 7620.0)
    assert line.utilization_pct == {"emc": 0.0, "gpu": 0.0}
    assert line.rails_mw == {"VDD_IN": 5095.0, "VDD_CPU_GPU_CV": 1035.0, "VDD_SOC": 1514.0}
    assert line.rails_avg_mw["VDD_IN"] == 6731.0
    assert line.total() == (5095.0, "input rail VDD_IN")
    assert line.unparsed == []  # every token of this format is understood


def test_original_nano_idle_gpu_at_76_mhz():
    line = parse_line(_lines("nano_jp4.txt")[0])
    assert line.utilization_pct == {"emc": 0.0, "gpu": 0.0}
    assert line.frequencies_mhz == {"EMC_FREQ": [204], "GR3D_FREQ": [76]}
    assert line.rails_mw == {"POM_5V_IN": 3186.0, "POM_5V_GPU": 0.0, "POM_5V_CPU": 442.0}
    assert line.total()[0] == 3186.0


def test_xavier_nx_jetpack4_unitless_vdd_in_and_mts_tokens():
    line = parse_line(_lines("xavier_nx_jp4.txt")[1])
    assert line.rails_mw == {"VDD_IN": 8167.0, "VDD_CPU_GPU_CV": 4247.0, "VDD_SOC": 1634.0}
    assert line.total() == (8167.0, "input rail VDD_IN")
    assert line.frequencies_mhz["GR3D_FREQ"] == [1109] and line.utilization_pct["gpu"] == 93.0
    assert line.cpu_load_pct == [35.0, 22.0, 18.0, 25.0, None, None]
    assert line.temperatures_c["thermal"] == pytest.approx(39.2)
    assert {"MTS", "fg", "bg"} <= set(line.unparsed)  # kept aside, not mistaken for loads or rails


def test_agx_xavier_jetpack4_cpu_and_gpu_are_rails_there_and_the_total_is_their_sum():
    line = parse_line(_lines("agx_xavier_jp4.txt")[1])
    assert line.rails_mw == {"GPU": 9768.0, "CPU": 1396.0, "SOC": 2638.0, "CV": 0.0, "VDDRQ": 1552.0, "SYS5V": 2424.0}
    assert line.total() == (9768 + 1396 + 2638 + 0 + 1552 + 2424, "sum of module rails CPU+CV+GPU+SOC+SYS5V+VDDRQ")
    assert line.cpu_load_pct[0] == 28.0 and line.cpu_freq_mhz[0] == 2265  # "CPU [..]" is still the CPU list
    assert line.temperatures_c["cpu"] == 40.0 and line.temperatures_c["gpu"] == 40.5
    assert line.frequencies_mhz["GR3D_FREQ"] == [1377]


def test_tx2_jetpack4_input_rail_among_sub_rails():
    line = parse_line(_lines("tx2_jp4.txt")[1])
    assert line.total() == (8429.0, "input rail VDD_IN")
    assert line.rails_mw["VDD_SYS_GPU"] == 3891.0 and line.rails_mw["VDD_4V0_WIFI"] == 0.0
    assert line.cpu_load_pct[1:3] == [None, None]


def _summary(name: str, times: list[float], t0: float, t1: float, inferences: int) -> dict:
    """The sampler summary of a fixture's lines stamped at ``times`` (a tegrastats interval)."""
    from harness.telemetry.sampler import Sampler

    class _Stub:
        name = "tegrastats"

        def read(self):  # never called: the summary is a pure function of the readings
            raise AssertionError

        def close(self):
            pass

    sampler = Sampler(_Stub(), interval_s=1.0)
    sampler._readings = [parse_line(text).reading(t) for text, t in zip(_lines(name), times)]
    return sampler.summary(t0, t1, inferences)


def test_mean_power_and_energy_per_inference_by_hand_orin_nano():
    # VDD_IN at t = 0, 1, 2, 3 s: 4673, 7185, 8392, 8310 mW; window [0.5, 3.0] s, 50 inferences.
    # P(0.5) = (4673 + 7185) / 2 = 5929.  Trapezoids: [0.5,1] 0.5*(5929+7185)/2 = 3278.5,
    # [1,2] (7185+8392)/2 = 7788.5, [2,3] (8392+8310)/2 = 8351  ->  19418 mJ over 2.5 s.
    out = _summary("orin_nano_jp6.txt", [0.0, 1.0, 2.0, 3.0], 0.5, 3.0, 50)
    assert out["total_from"] == "input rail VDD_IN"
    assert out["energy_j"] == pytest.approx(19.418)
    assert out["mean_power_w"] == pytest.approx(19418 / 2.5 / 1000)  # 7.7672 W
    assert out["energy_per_inference_mj"] == pytest.approx(19418 / 50)  # 388.36 mJ
    # rail means over the samples inside the window (t = 1, 2, 3)
    assert out["rails_mean_mw"]["VDD_SOC"] == pytest.approx((1712 + 1853 + 1849) / 3)
    assert out["utilization_mean_pct"]["gpu"] == pytest.approx((61 + 99 + 98) / 3)


def test_mean_power_and_energy_per_inference_by_hand_agx_orin():
    # No input rail: totals are the module-rail sums 3150+14312+4968+1091 = 23521,
    # 14787+2810+5521+1372 = 24490, 15102+2764+5560+1388 = 24814 mW at t = 0, 1, 2 s.
    # Window [0, 2]: (23521+24490)/2 + (24490+24814)/2 = 24005.5 + 24652 = 48657.5 mJ.
    out = _summary("agx_orin_jp6.txt", [0.0, 1.0, 2.0], 0.0, 2.0, 100)
    assert out["energy_j"] == pytest.approx(48.6575)
    assert out["mean_power_w"] == pytest.approx(24.32875)
    assert out["energy_per_inference_mj"] == pytest.approx(486.575)
    assert out["total_from"].startswith("sum of module rails")


def test_mean_power_by_hand_nano_jetpack4_window_past_the_last_sample():
    # POM_5V_IN 3186, 4122, 4531 mW at t = 0, 1, 2; window [1, 3] holds the last value after t = 2:
    # (4122+4531)/2 + 4531 = 8857.5 mJ over 2 s; 10 inferences -> 885.75 mJ each.
    out = _summary("nano_jp4.txt", [0.0, 1.0, 2.0], 1.0, 3.0, 10)
    assert out["energy_j"] == pytest.approx(8.8575)
    assert out["mean_power_w"] == pytest.approx(4.42875)
    assert out["energy_per_inference_mj"] == pytest.approx(885.75)
