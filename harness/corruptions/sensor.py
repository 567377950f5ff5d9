"""Camera sensor faults on [0, 1] image batches: exposure errors, dead/hot pixels, rolling stripes.

Not part of ImageNet-C; parameters are chosen so severity 1 is a mild field fault and 5 a
badly broken camera. A "pixel site" is one (y, x) position across all its channels.
"""

from __future__ import annotations

import numpy as np

from harness.corruptions._ops import normal, scalars, uniform
from harness.corruptions.registry import FloatBatch, Rngs, register

OVEREXPOSURE_GAIN = (
    1.4,
    1.8,
    2.3,
    3.0,
    4.0,
)  # linear gain before the sensor saturates at 1
UNDEREXPOSURE = (
    (0.6, 0.005),
    (0.45, 0.01),
    (0.3, 0.015),
    (0.2, 0.02),
    (0.1, 0.03),
)  # (gain, read-noise std)
DEAD_PIXEL_FRACTION = (
    0.001,
    0.003,
    0.01,
    0.03,
    0.1,
)  # of pixel sites; 80% stuck dark, 20% stuck bright
STRIPE_AMPLITUDE = (0.05, 0.1, 0.2, 0.3, 0.45)  # relative brightness modulation of rows
HOT_SHARE = 0.2


@register(
    "overexposure",
    kinds=("image", "thermal"),
    family="sensor",
    severities=OVEREXPOSURE_GAIN,
    summary="gain g then saturation at full scale",
)
def overexposure(x: FloatBatch, severity: int, rngs: Rngs) -> FloatBatch:
    return np.clip(x * np.float32(OVEREXPOSURE_GAIN[severity - 1]), 0.0, 1.0)


@register(
    "underexposure",
    kinds=("image", "thermal"),
    family="sensor",
    severities=UNDEREXPOSURE,
    summary="gain g plus Gaussian read noise: (gain, noise std)",
)
def underexposure(x: FloatBatch, severity: int, rngs: Rngs) -> FloatBatch:
    gain, read_noise = UNDEREXPOSURE[severity - 1]
    return np.clip(
        x * np.float32(gain) + normal(rngs, x.shape[1:], read_noise), 0.0, 1.0
    )


@register(
    "dead_pixels",
    kinds=("image", "thermal"),
    family="sensor",
    severities=DEAD_PIXEL_FRACTION,
    summary="fraction of pixel sites stuck (80% at 0, 20% at full scale)",
)
def dead_pixels(x: FloatBatch, severity: int, rngs: Rngs) -> FloatBatch:
    fraction = np.float32(DEAD_PIXEL_FRACTION[severity - 1])
    u = uniform(rngs, x.shape[1:3] + (1,))
    out = np.where(u < fraction * (1 - HOT_SHARE), np.float32(0.0), x)
    return np.where(
        (u >= fraction * (1 - HOT_SHARE)) & (u < fraction), np.float32(1.0), out
    )


@register(
    "rolling_stripes",
    kinds=("image", "thermal"),
    family="sensor",
    severities=STRIPE_AMPLITUDE,
    summary="rolling-shutter flicker: rows scaled by 1 + a*sin(2 pi y / period + phase), amplitude a",
)
def rolling_stripes(x: FloatBatch, severity: int, rngs: Rngs) -> FloatBatch:
    amplitude = STRIPE_AMPLITUDE[severity - 1]
    h = x.shape[1]
    periods = scalars(
        rngs, h / 20.0, h / 4.0
    )  # LED flicker band height, drawn per frame
    phases = scalars(rngs, 0.0, 2 * np.pi)
    rows = np.arange(h, dtype=np.float64)[None, :]
    gain = 1.0 + amplitude * np.sin(
        2 * np.pi * rows / periods[:, None] + phases[:, None]
    )
    return np.clip(x * gain[:, :, None, None].astype(np.float32), 0.0, 1.0)
