"""Sensor frames as pictures: RGB as it is, depth/LiDAR/thermal through perceptual colour maps
(magma, viridis, inferno; LiDAR's no-return pixels stay dark), events as polarity colours.
The display range comes from the clean frame, so a corrupted frame is drawn on the same scale
as the clean one it came from."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[Any]
# 9 samples of matplotlib's maps, interpolated linearly.
MAPS: dict[str, tuple[str, ...]] = {
    "magma": ("#000004", "#1c1044", "#4f127b", "#812581", "#b5367a", "#e55064", "#fb8761", "#fec287", "#fcfdbf"),
    "viridis": ("#440154", "#472d7b", "#3b528b", "#2c728e", "#21918c", "#28ae80", "#5ec962", "#addc30", "#fde725"),
    "inferno": ("#000004", "#1f0c48", "#550f6d", "#88226a", "#ba3655", "#e35933", "#f98e09", "#f9cb35", "#fcffa4"),
}
KIND_MAP = {"depth": "magma", "lidar": "viridis", "thermal": "inferno"}
NO_RETURN = (24, 24, 24)


def _anchors(name: str) -> Array:
    return np.array([[int(h[i:i + 2], 16) for i in (1, 3, 5)] for h in MAPS[name]], dtype=np.float64)


def apply_map(t: Array, name: str) -> npt.NDArray[np.uint8]:
    """Values in [0, 1] -> ``(..., 3)`` uint8 through the named colour map."""
    anchors = _anchors(name)
    x = np.clip(np.nan_to_num(t), 0.0, 1.0) * (len(anchors) - 1)
    lo = np.minimum(x.astype(np.int64), len(anchors) - 2)
    frac = (x - lo)[..., None]
    return np.rint(anchors[lo] * (1 - frac) + anchors[lo + 1] * frac).astype(np.uint8)


def display_range(clean: Array, kind: str) -> tuple[float, float]:
    """1st-99th percentile of the clean frame's scalar view (LiDAR: of its returns only)."""
    values = _scalar(clean)
    if kind == "lidar":
        values = values[values > 0]
    if kind == "image" or values.size == 0:
        return 0.0, 255.0 if np.asarray(clean).dtype == np.uint8 or (values.size and values.max() > 1.5) else 1.0
    lo, hi = np.percentile(values, [1, 99])
    return float(lo), float(hi if hi > lo else lo + 1.0)


def _scalar(frame: Array) -> Array:
    x = np.asarray(frame, dtype=np.float64)
    return x.mean(axis=-1) if x.ndim == 3 else x


def to_rgb(frame: Array, kind: str, span: tuple[float, float]) -> npt.NDArray[np.uint8]:
    """One ``(H, W, C)`` sensor frame -> ``(H, W, 3)`` uint8 for display."""
    x = np.asarray(frame, dtype=np.float64)
    lo, hi = span
    if kind == "image" or (kind == "event" and x.ndim == 3 and x.shape[-1] == 3):
        rgb = x if x.ndim == 3 and x.shape[-1] == 3 else np.repeat(_scalar(x)[..., None], 3, axis=-1)
        return np.clip(np.rint((rgb - lo) / (hi - lo) * 255.0), 0, 255).astype(np.uint8)
    if kind == "event":  # polarity: positive red, negative blue, on white
        signed = x[..., 0] - (x[..., 1] if x.ndim == 3 and x.shape[-1] > 1 else 0.0) if x.ndim == 3 else x
        t = np.clip(signed / (max(abs(lo), abs(hi)) or 1.0), -1.0, 1.0)[..., None]
        white = np.full(t.shape[:-1] + (3,), 255.0)
        red, blue = np.array([178.0, 24.0, 43.0]), np.array([33.0, 102.0, 172.0])
        out = np.where(t >= 0, white + (red - white) * t, white + (blue - white) * -t)
        return np.rint(out).astype(np.uint8)
    scalar = _scalar(x)
    rgb = apply_map((scalar - lo) / (hi - lo), KIND_MAP.get(kind, "viridis"))
    if kind == "lidar":
        rgb[scalar <= 0] = NO_RETURN
    return rgb
