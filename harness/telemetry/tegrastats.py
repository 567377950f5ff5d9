"""Parse ``tegrastats`` lines (Jetson Nano/TX2/Xavier/Orin, JetPack 4–6) and stream them.

One line looks like (Orin NX, JetPack 6)::

    11-25-2026 10:00:01 RAM 2436/15656MB (lfb 9x4MB) SWAP 0/7828MB (cached 0MB)
    CPU [2%@729,1%@729,off,...] GR3D_FREQ 0% cpu@45.06C soc2@43.5C ... tj@45.06C
    VDD_IN 4414mW/4414mW VDD_CPU_GPU_CV 482mW/482mW VDD_SOC 1365mW/1365mW

The layout differs between boards and releases, so the parser is token-driven rather than one
big regex: ``NAME cur/avg`` with optional ``mW`` is a power rail (``POM_5V_IN 4122/3107`` on
the Nano and TX2 is the same thing without units), ``name@42.5C`` is a temperature (``-256C``
means the sensor is off and is dropped), ``GR3D_FREQ 61%@[921,921]`` / ``61%@921`` / ``61%``
is GPU load. The board total is the input rail when the board has one (``VDD_IN``,
``POM_5V_IN``); AGX Orin has none, so its total is the sum of its module rails, and the reading
says so in ``total_from``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass, field

from harness.telemetry.interface import Reading, SourceUnavailable

# Input rails: everything else on the board is fed from these, so when one exists it *is* the
# board/module power and the sub-rails must not be added to it.
INPUT_RAILS = ("VDD_IN", "POM_5V_IN")
# Rails that appear in tegrastats output but are not connected to anything.
UNCONNECTED_RAILS = frozenset({"NC"})
# A temperature reported as -256 C means "sensor powered off" (e.g. CV0 when the DLA is idle).
SENSOR_OFF_C = -256.0

_RAIL = re.compile(r"^(\d+(?:\.\d+)?)(mW)?/(\d+(?:\.\d+)?)(mW)?$")
_TEMP = re.compile(r"^([A-Za-z][A-Za-z0-9_]*)@(-?\d+(?:\.\d+)?)C$")
_LOAD = re.compile(r"^(\d+)%(?:@\[?([\d,]*)\]?)?$")
_MEM = re.compile(r"^(\d+)/(\d+)([MkG]B)$")
_RAIL_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")
_TIMESTAMP = re.compile(r"^\d{2}-\d{2}-\d{4}$")
_CLOCK = re.compile(r"^\d{2}:\d{2}:\d{2}$")
_LOAD_KEYS = {"GR3D_FREQ": "gpu", "GR3D2_FREQ": "gpu_gpc1", "EMC_FREQ": "emc"}
_ANNOTATIONS = ("(lfb", "(cached")
_UNIT_MB = {"kB": 1.0 / 1024.0, "MB": 1.0, "GB": 1024.0}


@dataclass(frozen=True)
class TegrastatsLine:
    """Everything one tegrastats line says, in fixed units (mW, °C, %, MB, MHz)."""

    timestamp: str | None
    rails_mw: dict[str, float]
    rails_avg_mw: dict[str, float]
    temperatures_c: dict[str, float]
    utilization_pct: dict[str, float]
    frequencies_mhz: dict[str, list[int]]
    cpu_load_pct: list[float | None]
    cpu_freq_mhz: list[int | None]
    ram_mb: tuple[float, float] | None
    swap_mb: tuple[float, float] | None
    unparsed: list[str] = field(default_factory=list)

    def total(self) -> tuple[float | None, str]:
        """(total board power in mW, how it was formed) — see the module docstring."""
        return board_total(self.rails_mw)

    def reading(self, t_s: float) -> Reading:
        total_mw, total_from = self.total()
        return Reading(
            t_s=t_s,
            rails_mw=dict(self.rails_mw),
            total_mw=total_mw,
            total_from=total_from,
            temperatures_c=dict(self.temperatures_c),
            utilization_pct=dict(self.utilization_pct),
        )


def board_total(rails_mw: dict[str, float]) -> tuple[float | None, str]:
    """Total power from named rails: the input rail if present, else the sum of the rails."""
    for rail in INPUT_RAILS:
        if rail in rails_mw:
            return rails_mw[rail], f"input rail {rail}"
    connected = sorted(rail for rail in rails_mw if rail not in UNCONNECTED_RAILS)
    if not connected:
        return None, "no power rails reported"
    return sum(rails_mw[rail] for rail in connected), "sum of module rails " + "+".join(connected)


def parse_line(line: str) -> TegrastatsLine:
    """Parse one tegrastats line; raise ``ValueError`` (naming the line) if it holds nothing.

    Unknown tokens are kept in ``unparsed`` rather than rejected: new JetPack releases add
    engines (``NVDLA0_FREQ``, ``OFA``...) and a parser that fails on them would lose the power.
    """
    tokens = line.split()
    timestamp = None
    if len(tokens) >= 2 and _TIMESTAMP.match(tokens[0]) and _CLOCK.match(tokens[1]):
        timestamp = f"{tokens[0]} {tokens[1]}"
        tokens = tokens[2:]
    fields = _Fields()
    i = 0
    while i < len(tokens):
        used = fields.take(tokens[i], tokens[i + 1] if i + 1 < len(tokens) else "")
        if not used:
            fields.unparsed.append(tokens[i])
        i += max(used, 1)
    if not fields.rails and not fields.temps and fields.ram is None and not fields.util:
        raise ValueError(f"not a tegrastats line (no RAM, rails, temperatures or loads): {line.strip()[:80]!r}")
    return TegrastatsLine(
        timestamp, fields.rails, fields.rails_avg, fields.temps, fields.util, fields.freqs,
        fields.cpu_load, fields.cpu_freq, fields.ram, fields.swap, fields.unparsed,
    )


@dataclass
class _Fields:
    """What has been read from a line so far; ``take`` consumes one field (1 or 2 tokens)."""

    rails: dict[str, float] = field(default_factory=dict)
    rails_avg: dict[str, float] = field(default_factory=dict)
    temps: dict[str, float] = field(default_factory=dict)
    util: dict[str, float] = field(default_factory=dict)
    freqs: dict[str, list[int]] = field(default_factory=dict)
    cpu_load: list[float | None] = field(default_factory=list)
    cpu_freq: list[int | None] = field(default_factory=list)
    ram: tuple[float, float] | None = None
    swap: tuple[float, float] | None = None
    unparsed: list[str] = field(default_factory=list)

    def take(self, tok: str, nxt: str) -> int:
        """Tokens consumed by the field starting at ``tok`` (0: not a field this parser knows)."""
        temp = _TEMP.match(tok)
        if temp:
            if float(temp.group(2)) > SENSOR_OFF_C:
                self.temps[temp.group(1).lower()] = float(temp.group(2))
            return 1
        memory = _MEM.match(nxt) if tok in ("RAM", "SWAP", "IRAM") else None
        if memory:
            used, total, unit = memory.groups()
            pair = (float(used) * _UNIT_MB[unit], float(total) * _UNIT_MB[unit])
            self.ram = pair if tok == "RAM" else self.ram
            self.swap = pair if tok == "SWAP" else self.swap
            return 2
        if tok in _ANNOTATIONS and nxt.endswith(")"):
            return 2  # "(lfb 1x4MB)" largest free block, "(cached 0MB)" swap cache: not recorded
        if tok == "CPU" and nxt.startswith("["):
            self.cpu_load, self.cpu_freq = _parse_cpu(nxt)
            return 2
        load = _LOAD.match(nxt) if tok in _LOAD_KEYS else None
        if load:
            self.util[_LOAD_KEYS[tok]] = float(load.group(1))
            if load.group(2):
                self.freqs[tok] = [int(f) for f in load.group(2).split(",") if f]
            return 2
        rail = _RAIL.match(nxt) if _RAIL_NAME.match(tok) else None
        if rail:
            self.rails[tok] = float(rail.group(1))
            self.rails_avg[tok] = float(rail.group(3))
            return 2
        return 0


def _parse_cpu(token: str) -> tuple[list[float | None], list[int | None]]:
    """``[2%@729,off,5%@1510]`` (per-core freq) or ``[2%,3%]@1479`` (one freq, JetPack 4 TX1)."""
    body, _, common = token.strip("[").partition("]")
    common_mhz = int(common[1:]) if common.startswith("@") and common[1:].isdigit() else None
    loads: list[float | None] = []
    mhz: list[int | None] = []
    for core in body.split(","):
        if core == "off" or not core:
            loads.append(None)
            mhz.append(None)
            continue
        pct, _, freq = core.partition("@")
        loads.append(float(pct.rstrip("%")))
        mhz.append(int(freq) if freq.isdigit() else common_mhz)
    return loads, mhz


class TegrastatsSource:
    """Runs ``tegrastats --interval MS`` and keeps the newest parsed line.

    A reader thread consumes stdout so the pipe never fills; ``read()`` returns the newest
    line (stamped with the time it arrived) and raises if none arrived yet or the process has
    exited (then its last line is stale: the sampler records the failure instead of holding it).
    """

    name = "tegrastats"

    def __init__(self, interval_ms: int = 100, executable: str = "tegrastats") -> None:
        path = shutil.which(executable)
        if path is None:
            raise SourceUnavailable(f"{executable} not found on PATH (not a Jetson, or L4T tools not installed)")
        try:
            self._proc = subprocess.Popen(
                [path, "--interval", str(int(interval_ms))],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                bufsize=1,
            )
        except OSError as error:
            raise SourceUnavailable(f"cannot start {path}: {error}") from error
        self._lock = threading.Lock()
        self._latest: Reading | None = None
        self._error: str | None = None
        self._exit_message: str | None = None
        self._thread = threading.Thread(target=self._pump, name="tegrastats-reader", daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            now = time.perf_counter()
            try:
                reading = parse_line(line).reading(now)
            except ValueError as error:
                with self._lock:
                    self._error = str(error)
                continue
            with self._lock:
                self._latest = reading
                self._error = None

    def read(self) -> Reading:
        with self._lock:
            latest, error = self._latest, self._error
        if self._proc.poll() is not None:  # its last line would otherwise be held as if still current
            if self._exit_message is None:
                stderr = self._proc.stderr.read().strip() if self._proc.stderr else ""
                self._exit_message = f"tegrastats exited with code {self._proc.returncode}: {stderr[:200]}"
            raise RuntimeError(self._exit_message)
        if error is not None:
            raise ValueError(error)
        if latest is None:
            raise RuntimeError("tegrastats has not printed a line yet")
        return latest

    def close(self) -> None:
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=2)
        self._thread.join(timeout=2)
        for stream in (self._proc.stdout, self._proc.stderr):
            if stream is not None:
                stream.close()
