"""Thermal (LWIR) camera corruptions on [0, 1] thermal batches.

Microbolometers show temporal noise, washed-out contrast in fog or at thermal crossover,
and fixed-pattern noise (per-column offsets from the readout, per-pixel gain spread). The
pattern is drawn from the sample's generator: a fresh sensor per frame, so a model cannot
learn one pattern (the conservative choice).
"""

from __future__ import annotations

import numpy as np

from harness.corruptions._ops import normal
from harness.corruptions.registry import FloatBatch, Rngs, register

THERMAL_NOISE_STD = (
    0.01,
    0.02,
    0.04,
    0.07,
    0.1,
)  # additive temporal noise, full scale 1
THERMAL_CONTRAST = (
    0.7,
    0.5,
    0.35,
    0.2,
    0.1,
)  # deviation from the frame mean scaled by c
FIXED_PATTERN_STD = (
    0.01,
    0.02,
    0.04,
    0.06,
    0.1,
)  # column-offset std s, row s/2, pixel gain s


@register(
    "thermal_noise",
    kinds=("thermal",),
    family="thermal",
    severities=THERMAL_NOISE_STD,
    summary="additive Gaussian temporal noise, std (full scale 1)",
)
def thermal_noise(x: FloatBatch, severity: int, rngs: Rngs) -> FloatBatch:
    return np.clip(
        x + normal(rngs, x.shape[1:3] + (1,), THERMAL_NOISE_STD[severity - 1]), 0.0, 1.0
    )


@register(
    "thermal_low_contrast",
    kinds=("thermal",),
    family="thermal",
    severities=THERMAL_CONTRAST,
    summary="deviation from the frame mean scaled by c",
)
def thermal_low_contrast(x: FloatBatch, severity: int, rngs: Rngs) -> FloatBatch:
    mean = x.mean(axis=(1, 2, 3), keepdims=True)
    return ((x - mean) * np.float32(THERMAL_CONTRAST[severity - 1]) + mean).astype(
        np.float32
    )


@register(
    "thermal_fixed_pattern",
    kinds=("thermal",),
    family="thermal",
    severities=FIXED_PATTERN_STD,
    summary="column offsets N(0,s), row offsets N(0,s/2), pixel gain N(1,s); std s",
)
def thermal_fixed_pattern(x: FloatBatch, severity: int, rngs: Rngs) -> FloatBatch:
    s = FIXED_PATTERN_STD[severity - 1]
    _, h, w, _ = x.shape
    columns = normal(rngs, (1, w, 1), s)
    rows = normal(rngs, (h, 1, 1), s / 2)
    gain = 1.0 + normal(rngs, (h, w, 1), s)
    return np.clip(x * gain + columns + rows, 0.0, 1.0)
