"""Read Jetson power rails straight from the INA3221 monitors' hwmon files (JetPack 5/6).

Layout (Linux ``ina3221`` driver, Documentation/hwmon/ina3221.rst)::

    /sys/bus/i2c/drivers/ina3221/1-0040/hwmon/hwmon3/in1_label    VDD_IN
                                                     in1_input    bus voltage, mV
                                                     curr1_input  current, mA

Channels 1–3 carry a rail each; power = mV × mA / 1000 (mW). Channels without a label, labelled
``NC`` or disabled (``in*_enable`` = 0) are ignored; ``in7``/``curr4`` are the summation channel
and are not a rail. Reading sysfs needs no root and is sampled far faster than tegrastats'
interval, which is why the probe prefers it.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

from harness.telemetry.interface import Reading, SourceUnavailable
from harness.telemetry.tegrastats import UNCONNECTED_RAILS, board_total

DEFAULT_ROOT = Path("/sys/bus/i2c/drivers")
_CHANNEL = re.compile(r"^in([123])_label$")


@dataclass(frozen=True)
class Channel:
    """One monitored rail: its label and the two files that give its power."""

    label: str
    voltage_file: Path
    current_file: Path


def discover(root: Path = DEFAULT_ROOT) -> list[Channel]:
    """Every labelled, enabled rail under ``root/ina3221*/*/hwmon/hwmon*``, sorted by path."""
    channels: list[Channel] = []
    for hwmon in sorted(root.glob("ina3221*/*/hwmon/hwmon*")):
        for label_file in sorted(hwmon.iterdir()):
            match = _CHANNEL.match(label_file.name)
            if not match:
                continue
            n = match.group(1)
            label = label_file.read_text().strip()
            enable = hwmon / f"in{n}_enable"
            if not label or label in UNCONNECTED_RAILS:
                continue
            if enable.exists() and enable.read_text().strip() == "0":
                continue
            volt, curr = hwmon / f"in{n}_input", hwmon / f"curr{n}_input"
            if volt.exists() and curr.exists():
                channels.append(Channel(label, volt, curr))
    return channels


class Ina3221Source:
    """Polls the discovered channels; ``read()`` returns every rail and the board total."""

    name = "ina3221"

    def __init__(self, root: Path = DEFAULT_ROOT) -> None:
        if not root.is_dir():
            raise SourceUnavailable(f"{root} does not exist (no I2C power monitors: not a Jetson)")
        self.channels = discover(root)
        if not self.channels:
            raise SourceUnavailable(f"no labelled INA3221 hwmon channels under {root}/ina3221*/*/hwmon/hwmon*")

    def read(self) -> Reading:
        rails: dict[str, float] = {}
        for channel in self.channels:
            millivolts = float(channel.voltage_file.read_text())
            milliamps = float(channel.current_file.read_text())
            rails[channel.label] = millivolts * milliamps / 1000.0
        total_mw, total_from = board_total(rails)
        return Reading(t_s=time.perf_counter(), rails_mw=rails, total_mw=total_mw, total_from=total_from)

    def close(self) -> None:
        """Nothing to release: each read opens and closes its files."""
