"""The values and protocol shared by every telemetry source.

A source answers ``read()`` with one ``Reading``: the power of each rail it sees (mW), the
total board/module power it can vouch for and how that total was formed, plus any
temperatures (°C) and utilizations (%) it reports. A source that cannot run on this machine is
never silently absent: the probe records a ``Skipped`` with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class Reading:
    """One telemetry sample.

    ``t_s`` is ``time.perf_counter()`` seconds when the values were observed (the same clock
    the bench uses, so samples can be cut to the measured window). ``rails_mw`` maps a rail
    name (``VDD_IN``, ``VDD_CPU_GPU_CV``, ``gpu0`` ...) to its instantaneous power in mW.
    ``total_mw`` is the power the energy figures are computed from, ``None`` when the source
    has no rail to form it; ``total_from`` says how it was formed. ``energy_counter_mj`` is a
    monotonic hardware energy counter (its differences are exact energy, no sampling error).
    """

    t_s: float
    rails_mw: dict[str, float]
    total_mw: float | None
    total_from: str
    temperatures_c: dict[str, float] = field(default_factory=dict)
    utilization_pct: dict[str, float] = field(default_factory=dict)
    energy_counter_mj: float | None = None  # a hardware energy accumulator (NVML), when the device has one


@dataclass(frozen=True)
class Skipped:
    """A telemetry source that did not run, and why (in words a user can act on)."""

    source: str
    reason: str

    def to_json(self) -> dict[str, str]:
        return {"source": self.source, "reason": self.reason}


@runtime_checkable
class TelemetrySource(Protocol):
    """A live reader of one kind of hardware counter."""

    name: str

    def read(self) -> Reading:
        """The newest sample; raises ``OSError``/``RuntimeError``/``ValueError`` on failure."""
        ...

    def close(self) -> None: ...


class SourceUnavailable(Exception):
    """Raised by a source's ``open`` function when the hardware or library is absent here.

    Not a ``HarnessError``: absent telemetry never fails a run, it is recorded as skipped.
    """
