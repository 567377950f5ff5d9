"""Small procedural test images for the corruption tests (no files, no downloads)."""

from __future__ import annotations

import numpy as np


def scene(size: int = 64, seed: int = 0) -> np.ndarray:
    """A uint8 RGB ``size x size`` picture with smooth shading, hard edges and mild texture."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    img = np.stack([0.3 + 0.4 * xx, 0.2 + 0.5 * yy, 0.6 - 0.3 * xx * yy], axis=-1)
    img[size // 4 : size // 2, size // 5 : size // 2] = (0.9, 0.2, 0.1)
    img[size // 2 :, size // 2 : 3 * size // 4] = (0.1, 0.1, 0.3)
    rr = (yy - 0.7) ** 2 + (xx - 0.25) ** 2
    img[rr < 0.02] = (0.95, 0.95, 0.8)
    img += rng.normal(0, 0.02, img.shape)
    return np.clip(np.rint(img * 255), 0, 255).astype(np.uint8)


def psnr(clean: np.ndarray, other: np.ndarray, peak: float = 255.0) -> float:
    mse = np.mean((clean.astype(np.float64) - other.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(peak**2 / mse))
