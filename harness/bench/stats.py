"""Latency statistics with the conventions stated, so figures can be compared across tools.

Percentiles are **nearest-rank** (the value at 1-based rank ⌈p/100 · n⌉ of the sorted
samples; MLPerf's LoadGen and trtexec both report an observed sample, never an interpolated
one). The coefficient of variation is the population standard deviation over the mean; above
``COV_WARN`` (2.5 %) the measurement is flagged as unstable (thermal throttling, dynamic
clocks, a noisy neighbour) and should not be used to compare builds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from fractions import Fraction

PERCENTILES: tuple[int, ...] = (50, 90, 95, 99)
COV_WARN = 0.025
PERCENTILE_METHOD = "nearest-rank: value at rank ceil(p/100*n) of the sorted samples"
COV_METHOD = "population standard deviation / mean"


def nearest_rank(sorted_samples: Sequence[float], p: float) -> float:
    """The ``p``-th percentile (0 < p <= 100) of ascending ``sorted_samples`` by nearest rank."""
    if not sorted_samples:
        raise ValueError("no samples")
    if not 0 < p <= 100:
        raise ValueError(f"percentile must be in (0, 100], got {p}")
    # Exact decimal arithmetic: in floats 99.9 / 100 * 1000 is 999.0000000000001, whose ceiling
    # would pick rank 1000 instead of 999.
    rank = math.ceil(Fraction(str(p)) * len(sorted_samples) / 100)
    return float(sorted_samples[max(rank, 1) - 1])


@dataclass(frozen=True)
class LatencyStats:
    """Summary of per-iteration latencies in milliseconds."""

    count: int
    mean_ms: float
    min_ms: float
    max_ms: float
    std_ms: float
    cov: float
    p50_ms: float
    p90_ms: float
    p95_ms: float
    p99_ms: float

    @classmethod
    def from_ms(cls, samples_ms: Sequence[float]) -> LatencyStats:
        if not samples_ms:
            raise ValueError("no latency samples")
        ordered = sorted(float(x) for x in samples_ms)
        n = len(ordered)
        mean = math.fsum(ordered) / n
        std = math.sqrt(math.fsum((x - mean) ** 2 for x in ordered) / n)
        p = {q: nearest_rank(ordered, q) for q in PERCENTILES}
        return cls(
            count=n,
            mean_ms=mean,
            min_ms=ordered[0],
            max_ms=ordered[-1],
            std_ms=std,
            cov=std / mean if mean > 0 else 0.0,
            p50_ms=p[50],
            p90_ms=p[90],
            p95_ms=p[95],
            p99_ms=p[99],
        )

    @property
    def unstable(self) -> bool:
        return self.cov > COV_WARN

    def to_json(self) -> dict[str, float | int | bool]:
        return {**asdict(self), "unstable": self.unstable}
