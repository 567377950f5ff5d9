"""Read Jetson power rails straight from the INA3221 monitors' sysfs files.

Two driver layouts exist, and the reader handles both:

JetPack 5/6, mainline ``ina3221`` hwmon driver (Documentation/hwmon/ina3221.rst)::

    /sys/bus/i2c/drivers/ina3221/1-0040/hwmon/hwmon3/in1_label    VDD_IN
                                                     in1_input    bus voltage, mV
                                                     curr1_input  current, mA

  Channels 1–3 carry a rail each; power = mV × mA / 1000 (mW). Channels without a label,
  labelled ``NC`` or disabled (``in*_enable`` = 0) are ignored; ``in7``/``curr4`` are the
  summation channel and are not a rail.

JetPack 4.x (L4T 32), NVIDIA's IIO ``ina3221x`` driver (staging/iio/meter/ina3221.c)::

    /sys/bus/i2c/drivers/ina3221x/6-0040/iio:device0/rail_name_0       POM_5V_IN
                                                    in_power0_input   power, mW

  Channels 0–2; the driver computes the power itself, so it is read directly. A channel
  without a ``rail_name_N`` file is not connected.

Reading sysfs needs no root and is sampled far faster than tegrastats' interval, which is why
the probe prefers it.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

from harness.telemetry.interface import Reading, SourceUnavailable
from harness.telemetry.tegrastats import UNCONNECTED_RAILS, board_total

DEFAULT_ROOT = Path("/sys/bus/i2c/drivers")
HWMON_GLOB = "ina3221/*/hwmon/hwmon*"
IIO_GLOB = "ina3221x/*/iio:device*"
_HWMON_CHANNEL = re.compile(r"^in([123])_label$")
_IIO_CHANNEL = re.compile(r"^rail_name_([012])$")


@dataclass(frozen=True)
class Channel:
    """One monitored rail: its label and the files that give its power — either one power
    file in mW (``ina3221x``) or a bus-voltage (mV) and a current (mA) file (hwmon)."""

    label: str
    voltage_file: Path | None = None
    current_file: Path | None = None
    power_file: Path | None = None

    def read_mw(self) -> float:
        if self.power_file is not None:
            return float(self.power_file.read_text())
        assert self.voltage_file is not None and self.current_file is not None
        return float(self.voltage_file.read_text()) * float(self.current_file.read_text()) / 1000.0


def _connected(label: str) -> bool:
    return bool(label) and label not in UNCONNECTED_RAILS


def _hwmon_channels(root: Path) -> list[Channel]:
    channels: list[Channel] = []
    for hwmon in sorted(root.glob(HWMON_GLOB)):
        for label_file in sorted(hwmon.iterdir()):
            match = _HWMON_CHANNEL.match(label_file.name)
            if not match or not _connected(label_file.read_text().strip()):
                continue
            n = match.group(1)
            enable = hwmon / f"in{n}_enable"
            if enable.exists() and enable.read_text().strip() == "0":
                continue
            volt, curr = hwmon / f"in{n}_input", hwmon / f"curr{n}_input"
            if volt.exists() and curr.exists():
                channels.append(Channel(label_file.read_text().strip(), voltage_file=volt, current_file=curr))
    return channels


def _iio_channels(root: Path) -> list[Channel]:
    channels: list[Channel] = []
    for device in sorted(root.glob(IIO_GLOB)):
        for name_file in sorted(device.iterdir()):
            match = _IIO_CHANNEL.match(name_file.name)
            label = name_file.read_text().strip() if match else ""
            if not match or not _connected(label):
                continue
            power = device / f"in_power{match.group(1)}_input"
            if power.exists():
                channels.append(Channel(label, power_file=power))
    return channels


def discover(root: Path = DEFAULT_ROOT) -> list[Channel]:
    """Every labelled, enabled rail under ``root`` in either layout, sorted by path."""
    return _hwmon_channels(root) + _iio_channels(root)


class Ina3221Source:
    """Polls the discovered channels; ``read()`` returns every rail and the board total."""

    name = "ina3221"

    def __init__(self, root: Path = DEFAULT_ROOT) -> None:
        if not root.is_dir():
            raise SourceUnavailable(f"{root} does not exist (no I2C power monitors: not a Jetson)")
        self.channels = discover(root)
        if not self.channels:
            raise SourceUnavailable(
                f"no labelled INA3221 channels under {root}/{HWMON_GLOB} (JetPack 5/6) or {root}/{IIO_GLOB} (JetPack 4)"
            )

    def read(self) -> Reading:
        rails = {channel.label: channel.read_mw() for channel in self.channels}
        total_mw, total_from = board_total(rails)
        return Reading(t_s=time.perf_counter(), rails_mw=rails, total_mw=total_mw, total_from=total_from)

    def close(self) -> None:
        """Nothing to release: each read opens and closes its files."""
