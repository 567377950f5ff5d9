"""Depth sensor corruptions on raw depth batches (metres as float, or 8/16-bit scaled to [0, 1]).

A value of 0 means "no reading" and stays 0 (except where a corruption creates holes).
Amplitudes are relative to each sample's largest valid reading (its range), so the same
severity means the same thing for metres and for DELIVER's 8-bit depth images. Random
draws are per pixel site and shared by all channels (a depth map stored as 3 identical
channels stays identical).
"""

from __future__ import annotations

import numpy as np

from harness.corruptions._ops import normal, stacked, uniform
from harness.corruptions.registry import FloatBatch, Rngs, register

DEPTH_NOISE_STD = (
    0.005,
    0.01,
    0.02,
    0.04,
    0.07,
)  # additive, fraction of the sample's range
DEPTH_MULT_NOISE_STD = (
    0.01,
    0.02,
    0.04,
    0.07,
    0.12,
)  # relative: d * (1 + N(0, s)), grows with distance
DEPTH_HOLE_FRACTION = (
    0.02,
    0.05,
    0.1,
    0.2,
    0.35,
)  # fraction of pixel sites inside dropout blobs
DEPTH_LEVELS = (128, 64, 32, 16, 8)  # quantization levels over the sample's range
DEPTH_RANGE_KEEP = (
    0.9,
    0.75,
    0.6,
    0.45,
    0.3,
)  # readings beyond this fraction of the range are lost
FLYING_PIXELS = (
    (0.2, 3),
    (0.35, 3),
    (0.5, 5),
    (0.7, 5),
    (0.9, 7),
)  # (prob. at an edge, window px)
EDGE_JUMP = 0.05  # a depth discontinuity: local max - min above 5% of the range


def _range(x: FloatBatch) -> FloatBatch:
    """Per-sample largest reading, shape N x 1 x 1 x 1 (1 for an all-zero sample, to avoid 0/0)."""
    peak = x.max(axis=(1, 2, 3), keepdims=True)
    return np.where(peak > 0, peak, np.float32(1.0))


def _site_shape(x: FloatBatch) -> tuple[int, ...]:
    return x.shape[1:3] + (1,)


@register(
    "depth_gaussian_noise",
    kinds=("depth",),
    family="depth",
    severities=DEPTH_NOISE_STD,
    summary="additive Gaussian noise on valid readings, std as fraction of range",
)
def depth_gaussian_noise(x: FloatBatch, severity: int, rngs: Rngs) -> FloatBatch:
    noise = normal(rngs, _site_shape(x), DEPTH_NOISE_STD[severity - 1]) * _range(x)
    return np.where(x > 0, np.maximum(x + noise, 0.0), x).astype(np.float32)


@register(
    "depth_multiplicative_noise",
    kinds=("depth",),
    family="depth",
    severities=DEPTH_MULT_NOISE_STD,
    summary="distance-proportional noise d*(1+N(0,s)), relative std s",
)
def depth_multiplicative_noise(x: FloatBatch, severity: int, rngs: Rngs) -> FloatBatch:
    noise = normal(rngs, _site_shape(x), DEPTH_MULT_NOISE_STD[severity - 1])
    return np.maximum(x * (1.0 + noise), 0.0).astype(np.float32)


def blob_mask(
    rngs: Rngs, h: int, w: int, fraction: float, cell: int = 16
) -> np.ndarray:
    """``N x H x W x 1`` boolean blobs covering exactly ``round(fraction * H * W)`` sites per sample.

    Low-resolution uniform noise (one value per ``cell`` px) is upsampled bicubically and
    thresholded at its own quantile, so blobs are smooth and the covered fraction is exact.
    """
    import cv2

    masks = []
    count = round(fraction * h * w)
    for rng in rngs:
        coarse = rng.random((max(2, h // cell), max(2, w // cell))).astype(np.float32)
        field = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)
        # tiny tie-break so the quantile selects exactly `count` sites
        field = field + rng.random((h, w), dtype=np.float32) * np.float32(1e-6)
        mask = np.zeros(h * w, bool)
        if count:
            mask[np.argpartition(field.reshape(-1), count - 1)[:count]] = True
        masks.append(mask.reshape(h, w, 1))
    return np.stack(masks)


@register(
    "depth_holes",
    kinds=("depth",),
    family="depth",
    severities=DEPTH_HOLE_FRACTION,
    summary="dropout blobs (no reading = 0), fraction of pixels",
)
def depth_holes(x: FloatBatch, severity: int, rngs: Rngs) -> FloatBatch:
    _, h, w, _ = x.shape
    holes = blob_mask(rngs, h, w, DEPTH_HOLE_FRACTION[severity - 1])
    return np.where(holes, np.float32(0.0), x)


@register(
    "depth_quantization",
    kinds=("depth",),
    family="depth",
    severities=DEPTH_LEVELS,
    summary="rounded to L levels over the sample's range",
)
def depth_quantization(x: FloatBatch, severity: int, rngs: Rngs) -> FloatBatch:
    step = _range(x) / np.float32(DEPTH_LEVELS[severity - 1])
    return (np.round(x / step) * step).astype(np.float32)


@register(
    "depth_range_clipping",
    kinds=("depth",),
    family="depth",
    severities=DEPTH_RANGE_KEEP,
    summary="readings beyond fraction f of the range become 0 (no return)",
)
def depth_range_clipping(x: FloatBatch, severity: int, rngs: Rngs) -> FloatBatch:
    limit = _range(x) * np.float32(DEPTH_RANGE_KEEP[severity - 1])
    return np.where(x > limit, np.float32(0.0), x)


@register(
    "depth_flying_pixels",
    kinds=("depth",),
    family="depth",
    severities=FLYING_PIXELS,
    summary="mixed fg/bg readings at depth edges: (probability per edge pixel, window px)",
)
def depth_flying_pixels(x: FloatBatch, severity: int, rngs: Rngs) -> FloatBatch:
    import cv2

    probability, window = FLYING_PIXELS[severity - 1]
    kernel = np.ones((window, window), np.uint8)
    near = stacked(x, lambda p: cv2.erode(p, kernel, borderType=cv2.BORDER_REPLICATE))
    far = stacked(x, lambda p: cv2.dilate(p, kernel, borderType=cv2.BORDER_REPLICATE))
    edge = (far - near) > np.float32(EDGE_JUMP) * _range(x)
    u = uniform(rngs, _site_shape(x))
    mix = uniform(rngs, _site_shape(x))
    flying = edge & (u < probability)
    return np.where(flying, near + mix * (far - near), x).astype(np.float32)
