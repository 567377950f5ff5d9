"""Choose the power source that can run here and wrap a measured phase in telemetry.

Order for ``auto``: the Jetson INA3221 sysfs rails (fast, no root), then ``tegrastats``, then
NVML. Every source not used is recorded with its reason — absent hardware is a ``skipped``
entry in the results, never a silent gap. ``Telemetry`` is what ``bench`` and ``run`` use::

    with Telemetry("auto") as telemetry:
        t0 = now(); ...; t1 = now()
    record = telemetry.record(t0, t1, inferences=n)
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from harness.errors import ConfigError
from harness.telemetry.interface import Skipped, SourceUnavailable, TelemetrySource
from harness.telemetry.jetson import Runner, query_power_config, run_tool
from harness.telemetry.sampler import Sampler

SourceKind = Literal["auto", "off", "ina3221", "tegrastats", "nvml"]
SOURCE_KINDS: tuple[str, ...] = ("auto", "off", "ina3221", "tegrastats", "nvml")


def _open_ina3221(sysfs_root: Path) -> TelemetrySource:
    from harness.telemetry.ina3221 import Ina3221Source

    return Ina3221Source(sysfs_root)


def _open_tegrastats(interval_ms: int) -> TelemetrySource:
    from harness.telemetry.tegrastats import TegrastatsSource

    return TegrastatsSource(interval_ms=interval_ms)


def _open_nvml() -> TelemetrySource:
    from harness.telemetry.nvml import NvmlSource

    return NvmlSource()


def open_power_source(
    kind: str = "auto",
    interval_s: float = 0.05,
    sysfs_root: Path | None = None,
    openers: dict[str, Callable[[], TelemetrySource]] | None = None,
) -> tuple[TelemetrySource | None, list[Skipped]]:
    """The first source of ``kind`` (or of the ``auto`` order) that opens, and the skipped ones.

    ``openers`` replaces the real constructors (tests inject fakes); unknown kinds are a
    ``ConfigError`` naming the choices.
    """
    if kind not in SOURCE_KINDS:
        raise ConfigError(f"--telemetry: unknown source {kind!r}; choose one of {', '.join(SOURCE_KINDS)}")
    if kind == "off":
        return None, [Skipped("telemetry", "disabled by the user (bench --telemetry off, run --no-telemetry)")]
    root = sysfs_root if sysfs_root is not None else Path("/sys/bus/i2c/drivers")
    table = openers or {
        "ina3221": lambda: _open_ina3221(root),
        "tegrastats": lambda: _open_tegrastats(max(10, int(interval_s * 1000))),
        "nvml": _open_nvml,
    }
    order = ["ina3221", "tegrastats", "nvml"] if kind == "auto" else [kind]
    skipped: list[Skipped] = []
    chosen: TelemetrySource | None = None
    for name in order:
        if chosen is not None:
            skipped.append(Skipped(name, f"not used: {chosen.name} was available first"))
            continue
        try:
            chosen = table[name]()
        except SourceUnavailable as error:
            skipped.append(Skipped(name, str(error)))
        except Exception as error:  # a broken driver is recorded like absent hardware
            skipped.append(Skipped(name, f"failed to open: {type(error).__name__}: {error}"))
    return chosen, skipped


class Telemetry:
    """Power sampling plus the Jetson power configuration around one measured phase."""

    def __init__(
        self,
        kind: str = "auto",
        interval_s: float = 0.05,
        sysfs_root: Path | None = None,
        openers: dict[str, Callable[[], TelemetrySource]] | None = None,
        runner: Runner = run_tool,
    ) -> None:
        self.kind = kind
        self.interval_s = interval_s
        self._sysfs_root = sysfs_root
        self._openers = openers
        self._runner = runner
        self.sampler: Sampler | None = None
        self.skipped: list[Skipped] = []
        self.power_config: dict[str, Any] = {}

    def start(self) -> Telemetry:
        """Probe, read the power configuration and start sampling (same as entering)."""
        return self.__enter__()

    def stop(self) -> None:
        """Stop sampling (idempotent); ``record`` still works afterwards."""
        if self.sampler is not None:
            self.sampler.stop()

    def __enter__(self) -> Telemetry:
        source, self.skipped = open_power_source(self.kind, self.interval_s, self._sysfs_root, self._openers)
        if self.kind != "off":
            self.power_config, config_skipped = query_power_config(self._runner)
            self.skipped.extend(config_skipped)
        if source is not None:
            self.sampler = Sampler(source, self.interval_s).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def record(self, t0: float, t1: float, inferences: int) -> dict[str, Any]:
        """The ``telemetry`` section of the results for the window ``[t0, t1]``."""
        out: dict[str, Any] = {
            "requested": self.kind,
            "skipped": [s.to_json() for s in self.skipped],
            "power_config": self.power_config,
        }
        out["power"] = self.sampler.summary(t0, t1, inferences) if self.sampler is not None else None
        return out
