"""Spatial misalignment of one modality relative to RGB (calibration drift, any kind).

A rigid shift in a random direction plus a rotation of random sign about the centre.
Nearest-neighbour resampling with a zero border: sparse modalities (LiDAR, events, depth
with holes) keep their valid/invalid structure and no value is invented.
"""

from __future__ import annotations

import numpy as np

from harness.corruptions.registry import KINDS, FloatBatch, Rngs, register

MISALIGNMENT = (
    (0.01, 0.5),
    (0.02, 1.0),
    (0.04, 2.0),
    (0.06, 3.0),
    (0.1, 5.0),
)  # (shift / width, rotation deg)


def misalignment_matrix(
    h: int, w: int, shift: float, rotation_deg: float, direction: float
) -> np.ndarray:
    """The 2x3 affine map: rotate about the centre by ``rotation_deg``, shift ``shift * w`` px along ``direction`` rad."""
    import cv2

    matrix = cv2.getRotationMatrix2D(((w - 1) / 2.0, (h - 1) / 2.0), rotation_deg, 1.0)
    matrix[:, 2] += (shift * w * np.cos(direction), shift * w * np.sin(direction))
    return matrix


@register(
    "misalignment",
    kinds=KINDS,
    family="geometry",
    severities=MISALIGNMENT,
    summary="shift (fraction of width, random direction) + rotation (deg, random sign)",
)
def misalignment(x: FloatBatch, severity: int, rngs: Rngs) -> FloatBatch:
    import cv2

    shift, rotation = MISALIGNMENT[severity - 1]
    _, h, w, _ = x.shape
    out = np.empty_like(x)
    for i, rng in enumerate(rngs):
        direction = rng.uniform(0.0, 2 * np.pi)
        sign = 1.0 if rng.random() < 0.5 else -1.0
        matrix = misalignment_matrix(h, w, shift, sign * rotation, direction)
        warped = cv2.warpAffine(
            x[i],
            matrix,
            (w, h),
            flags=cv2.INTER_NEAREST,
            borderMode=cv2.BORDER_CONSTANT,
        )
        out[i] = warped.reshape(x[i].shape)
    return out
