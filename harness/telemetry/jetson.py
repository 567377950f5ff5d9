"""The Jetson power configuration a latency figure depends on: ``nvpmodel -q`` and
``jetson_clocks --show``.

A Jetson benchmark without its power mode is not reproducible (15 W and MAXN differ by 2–3×),
and one taken with dynamic clocks varies run to run; so both are recorded next to the figures.
Each query either returns parsed values or a ``Skipped`` with the reason (tool absent, needs
root, unexpected output); nothing here fails a run.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable
from typing import Any

from harness.telemetry.interface import Skipped

Runner = Callable[[list[str]], str]

_MODE = re.compile(r"NV Power Mode:\s*(.+?)\s*$")
_KV = re.compile(r"(\w+)=(\S+)")


def run_tool(argv: list[str], timeout_s: float = 10.0) -> str:
    """stdout of ``argv``; ``FileNotFoundError`` when absent, ``RuntimeError`` on failure."""
    path = shutil.which(argv[0])
    if path is None:
        raise FileNotFoundError(f"{argv[0]} not found on PATH (not a Jetson, or L4T tools not installed)")
    proc = subprocess.run([path, *argv[1:]], capture_output=True, text=True, timeout=timeout_s)
    if proc.returncode != 0:
        message = (proc.stderr or proc.stdout).strip().splitlines()
        raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}: {message[-1] if message else ''}")
    return proc.stdout


def parse_nvpmodel(text: str) -> dict[str, Any]:
    """``NV Power Mode: MAXN`` followed by the mode id on its own line -> {name, id}."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for i, line in enumerate(lines):
        match = _MODE.search(line)
        if match:
            mode_id = int(lines[i + 1]) if i + 1 < len(lines) and lines[i + 1].isdigit() else None
            return {"name": match.group(1), "id": mode_id}
    raise ValueError(f"nvpmodel -q printed no 'NV Power Mode:' line: {text.strip()[:80]!r}")


def parse_jetson_clocks(text: str) -> dict[str, Any]:
    """Parse ``jetson_clocks --show``: SoC, machine, per-CPU governor/frequencies (kHz), GPU and
    EMC frequencies (Hz), power mode, and whether GPU and EMC sit at their maximum (the state
    ``jetson_clocks`` pins them to)."""
    out: dict[str, Any] = {"cpus": {}, "engines": {}}
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("SOC family:"):
            soc, _, machine = line[len("SOC family:") :].partition("Machine:")
            out["soc_family"] = soc.strip()
            out["machine"] = machine.strip()
        elif re.match(r"^cpu\d+:", line):
            name, _, rest = line.partition(":")
            out["cpus"][name] = {k: _number(v) for k, v in _KV.findall(rest)}
        elif _MODE.search(line):
            out["power_mode"] = _MODE.search(line).group(1)  # type: ignore[union-attr]
        else:
            head = re.match(r"^([A-Z][A-Z0-9_]*):?\s+(.*)$", line)
            if head and "Freq=" in head.group(2):
                out["engines"][head.group(1)] = {k: _number(v) for k, v in _KV.findall(head.group(2))}
    if not out["cpus"] and not out["engines"]:
        raise ValueError(f"jetson_clocks --show printed no CPU or engine clocks: {text.strip()[:80]!r}")
    pinned = [
        engine["CurrentFreq"] == engine["MaxFreq"]
        for name, engine in out["engines"].items()
        if name in ("GPU", "EMC") and "CurrentFreq" in engine and "MaxFreq" in engine
    ]
    out["clocks_at_max"] = all(pinned) if pinned else None
    return out


def _number(value: str) -> int | float | str:
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


def query_power_config(runner: Runner = run_tool) -> tuple[dict[str, Any], list[Skipped]]:
    """{"nvpmodel": ..., "jetson_clocks": ...} for what could be read, plus the skipped ones."""
    found: dict[str, Any] = {}
    skipped: list[Skipped] = []
    for key, argv, parse in (
        ("nvpmodel", ["nvpmodel", "-q"], parse_nvpmodel),
        ("jetson_clocks", ["jetson_clocks", "--show"], parse_jetson_clocks),
    ):
        try:
            found[key] = parse(runner(argv))
        except (OSError, RuntimeError, ValueError, subprocess.SubprocessError) as error:
            skipped.append(Skipped(" ".join(argv), str(error)))
    return found, skipped
