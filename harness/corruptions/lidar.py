"""LiDAR corruptions on projected range/intensity images, as DELIVER stores them (0 = no point).

A projected scan is sparse: valid pixels are the points. Beams map to horizontal bands of
the image; with no calibration at hand the band height is ``H / BEAMS`` for an assumed
64-beam sensor (documented approximation: real beams are not exactly image rows). Draws are
per pixel site (or per band) and shared by all channels.
"""

from __future__ import annotations

import numpy as np

from harness.corruptions._ops import drop_sites, normal
from harness.corruptions.registry import FloatBatch, Rngs, register

BEAMS = 64
BEAM_DROPOUT = (0.1, 0.2, 0.35, 0.5, 0.7)  # fraction of beams (bands) lost
POINT_REDUCTION = (0.2, 0.4, 0.6, 0.8, 0.9)  # fraction of points removed at random
RANGE_NOISE_STD = (
    0.005,
    0.01,
    0.02,
    0.04,
    0.07,
)  # additive std on valid points, fraction of range
RING_KEEP_EVERY = (2, 3, 4, 6, 8)  # keep one beam in k: 64 -> 32, 21, 16, 10, 8 beams


def _bands(h: int) -> np.ndarray:
    """The beam index of every image row."""
    return np.minimum((np.arange(h) * BEAMS) // h, BEAMS - 1)


def _valid(x: FloatBatch) -> np.ndarray:
    return (x > 0).any(axis=3, keepdims=True)


@register(
    "lidar_beam_dropout",
    kinds=("lidar",),
    family="lidar",
    severities=BEAM_DROPOUT,
    summary=f"random beams lost ({BEAMS} row bands), fraction",
)
def lidar_beam_dropout(x: FloatBatch, severity: int, rngs: Rngs) -> FloatBatch:
    fraction = BEAM_DROPOUT[severity - 1]
    lost = np.stack([rng.random(BEAMS) < fraction for rng in rngs])  # N x BEAMS
    rows = lost[:, _bands(x.shape[1])]  # N x H
    return np.where(rows[:, :, None, None], np.float32(0.0), x)


@register(
    "lidar_point_reduction",
    kinds=("lidar",),
    family="lidar",
    severities=POINT_REDUCTION,
    summary="points removed independently, fraction",
)
def lidar_point_reduction(x: FloatBatch, severity: int, rngs: Rngs) -> FloatBatch:
    return drop_sites(x, POINT_REDUCTION[severity - 1], rngs)


@register(
    "lidar_range_noise",
    kinds=("lidar",),
    family="lidar",
    severities=RANGE_NOISE_STD,
    summary="Gaussian noise on valid points, std as fraction of the scan's range",
)
def lidar_range_noise(x: FloatBatch, severity: int, rngs: Rngs) -> FloatBatch:
    peak = x.max(axis=(1, 2, 3), keepdims=True)
    noise = normal(rngs, x.shape[1:3] + (1,), RANGE_NOISE_STD[severity - 1]) * peak
    # a point stays a point: noise is floored at the scan's smallest reading, never "no return"
    valid = _valid(x)
    floor = np.where(valid, x, np.float32(np.inf)).min(axis=(1, 2, 3), keepdims=True)
    noisy = np.maximum(x + noise, floor)
    return np.where(valid, noisy, x).astype(np.float32)


@register(
    "lidar_sparse_rings",
    kinds=("lidar",),
    family="lidar",
    severities=RING_KEEP_EVERY,
    summary="only every k-th beam kept (lower-resolution sensor), k; random offset",
)
def lidar_sparse_rings(x: FloatBatch, severity: int, rngs: Rngs) -> FloatBatch:
    k = RING_KEEP_EVERY[severity - 1]
    offsets = np.array([rng.integers(0, k) for rng in rngs])
    keep = (_bands(x.shape[1])[None, :] - offsets[:, None]) % k == 0  # N x H
    return np.where(keep[:, :, None, None], x, np.float32(0.0))
