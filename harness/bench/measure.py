"""The timed loop: warm-up by time, then at least N iterations *and* at least T seconds.

This is trtexec's scheme (``--warmUp`` ms, then ``--iterations`` and ``--duration`` both as
minimums) and MLPerf SingleStream's (one query at a time, the next issued when the previous
returns; the run ends only when both the minimum query count and the minimum duration are
met). Each iteration is timed on the host with ``perf_counter_ns`` around one blocking call;
when the call also returns a device split (host→device, compute, device→host in ms, from CUDA
events) those are kept per iteration too.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from harness.errors import ConfigError

Step = Callable[[], "dict[str, float] | None"]


@dataclass(frozen=True)
class Schedule:
    """How long to warm up and the two minimums of the measured phase."""

    warmup_s: float = 1.0
    min_iterations: int = 100
    min_duration_s: float = 3.0
    max_iterations: int | None = None
    flag_prefix: str = field(default="", compare=False)  # "cell-" names --cell-iterations in errors

    def __post_init__(self) -> None:
        if isinstance(self.min_iterations, bool) or not isinstance(self.min_iterations, int) or self.min_iterations < 1:
            raise ConfigError(f"--{self.flag_prefix}iterations: must be a whole number >= 1, got {self.min_iterations!r}")
        if not self.warmup_s >= 0:
            raise ConfigError(f"--{self.flag_prefix}warmup: must be >= 0 seconds, got {self.warmup_s!r}")
        if not self.min_duration_s >= 0:
            raise ConfigError(f"--{self.flag_prefix}duration: must be >= 0 seconds, got {self.min_duration_s!r}")
        if self.max_iterations is not None and self.max_iterations < self.min_iterations:
            raise ConfigError(
                f"--max-iterations: {self.max_iterations} is below --iterations {self.min_iterations}; raise it or drop it"
            )

    def describe(self) -> str:
        cap = f", at most {self.max_iterations} iterations" if self.max_iterations else ""
        return (
            f"warm-up {self.warmup_s:g} s (not measured), then at least {self.min_iterations} iterations "
            f"and at least {self.min_duration_s:g} s{cap}; one inference in flight at a time "
            "(trtexec --warmUp/--iterations/--duration; MLPerf SingleStream)"
        )


@dataclass
class Measurement:
    """Raw timings of one measured phase; ``t0``/``t1`` are ``perf_counter`` seconds."""

    latencies_ms: list[float] = field(default_factory=list)
    device_ms: dict[str, list[float]] = field(default_factory=dict)
    warmup_iterations: int = 0
    t0: float = 0.0
    t1: float = 0.0

    @property
    def wall_s(self) -> float:
        return self.t1 - self.t0


def measure(step: Step, schedule: Schedule, clock_ns: Callable[[], int] = time.perf_counter_ns) -> Measurement:
    """Run ``step`` per the schedule and return every timing (warm-up iterations discarded)."""
    out = Measurement()
    warm_end = clock_ns() + int(schedule.warmup_s * 1e9)
    while clock_ns() < warm_end:
        step()
        out.warmup_iterations += 1
    start = clock_ns()
    out.t0 = start / 1e9
    min_end = start + int(schedule.min_duration_s * 1e9)
    n = 0
    now = start
    while n < schedule.min_iterations or now < min_end:
        if schedule.max_iterations is not None and n >= schedule.max_iterations:
            break
        before = clock_ns()
        split = step()
        now = clock_ns()
        out.latencies_ms.append((now - before) / 1e6)
        if split:
            for key, value in split.items():
                out.device_ms.setdefault(key, []).append(float(value))
        n += 1
    out.t1 = now / 1e9
    return out
