"""Shared building blocks for corruptions: per-sample draws, channel-stacked OpenCV calls, textures.

Noise is drawn sample by sample from that sample's generator (so results do not depend on
batch composition) and then applied to the whole batch at once with NumPy. OpenCV filters
run once per sample (one C++ call each, never per pixel). ``cv2`` is imported inside
functions so that importing the registry stays light.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

FloatBatch = npt.NDArray[np.float32]
Rngs = Sequence[np.random.Generator]
_CV_MAX_CHANNELS = 512


def normal(rngs: Rngs, shape: tuple[int, ...], scale: float = 1.0) -> FloatBatch:
    """``N x shape`` float32 normal draws with std ``scale``, sample ``i`` from ``rngs[i]``.

    Draws are written straight into one batch buffer (``out=``): the same values as
    drawing each sample's array and stacking, without two extra passes over memory.
    """
    out = np.empty((len(rngs), *shape), np.float32)
    for rng, sample in zip(rngs, out):
        rng.standard_normal(dtype=np.float32, out=sample)
    if scale != 1.0:
        out *= np.float32(scale)
    return out


def uniform(rngs: Rngs, shape: tuple[int, ...]) -> FloatBatch:
    """``N x shape`` float32 draws in [0, 1), sample ``i`` from ``rngs[i]`` (filled in place)."""
    out = np.empty((len(rngs), *shape), np.float32)
    for rng, sample in zip(rngs, out):
        rng.random(dtype=np.float32, out=sample)
    return out


def drop_sites(x: FloatBatch, fraction: float, rngs: Rngs) -> FloatBatch:
    """Zero each pixel site (all its channels) independently with probability ``fraction``.

    0 is "no reading" for sparse sensors: a lost LiDAR point, a lost event.
    """
    drop = uniform(rngs, x.shape[1:3] + (1,)) < fraction
    return np.where(drop, np.float32(0.0), x)


def clip01(values: FloatBatch) -> FloatBatch:
    """Clip a float batch to [0, 1] in place and return it (the caller owns ``values``)."""
    return np.clip(values, 0.0, 1.0, out=values)


def scalars(rngs: Rngs, low: float, high: float) -> npt.NDArray[np.float64]:
    """One uniform draw in [low, high) per sample."""
    return np.array([rng.uniform(low, high) for rng in rngs])


def stacked(
    batch: FloatBatch,
    fn: Callable[[np.ndarray], np.ndarray],
    max_channels: int = _CV_MAX_CHANNELS,
) -> FloatBatch:
    """Apply a channel-wise OpenCV function to every sample of an ``N x H x W x C`` batch.

    ``fn`` gets ``H x W x K`` float32 images (``K <= max_channels``; ``cv2.resize`` with
    ``INTER_AREA`` needs 4) and may change H and W; the result keeps ``fn``'s dtype. Samples are never stacked into one call:
    OpenCV picks different SIMD paths for different channel counts, and a sample's result
    must not depend on how many others share its batch.
    """
    _n, _h, _w, c = batch.shape
    outputs = []
    for sample in batch:
        chunks = []
        for start in range(0, c, max_channels):
            result = fn(
                np.ascontiguousarray(sample[:, :, start : start + max_channels])
            )
            chunks.append(result.reshape(result.shape[0], result.shape[1], -1))
        outputs.append(np.concatenate(chunks, axis=2) if len(chunks) > 1 else chunks[0])
    return np.stack(outputs)


def gaussian_ksize(sigma: float, truncate: float = 4.0) -> int:
    """Odd kernel size covering ``truncate`` standard deviations (scikit-image/SciPy's default 4)."""
    return 2 * math.ceil(truncate * sigma) + 1


def gaussian_blur(
    batch: FloatBatch, sigma: float, border: int | None = None, truncate: float = 4.0
) -> FloatBatch:
    """Gaussian blur of each plane; the default border replicates the edge (SciPy's 'nearest')."""
    import cv2

    k = gaussian_ksize(sigma, truncate)
    mode = cv2.BORDER_REPLICATE if border is None else border
    return stacked(
        batch,
        lambda p: cv2.GaussianBlur(
            p, (k, k), sigmaX=sigma, sigmaY=sigma, borderType=mode
        ),
    )


def gaussian_blur_2d(
    image: np.ndarray, sigma: float, border: int | None = None, truncate: float = 4.0
) -> np.ndarray:
    """Gaussian blur of one ``H x W`` float32 map (helper for texture generation)."""
    import cv2

    k = gaussian_ksize(sigma, truncate)
    mode = cv2.BORDER_REPLICATE if border is None else border
    return cv2.GaussianBlur(
        image.astype(np.float32, copy=False),
        (k, k),
        sigmaX=sigma,
        sigmaY=sigma,
        borderType=mode,
    )


def motion_kernel(radius: int, sigma: float, angle_deg: float) -> np.ndarray:
    """A correlation kernel that averages ``2*radius+1`` taps behind each pixel along ``angle_deg``.

    Tap ``i`` (distance ``i`` pixels, rounded to the grid) has weight ``exp(-i^2 / 2 sigma^2)``,
    normalized to sum 1: the one-sided Gaussian trail of ImageNet-C's motion blur. Used with
    ``cv2.filter2D`` and a replicated border.
    """
    width = 2 * radius + 1
    weights = np.exp(-(np.arange(width, dtype=np.float64) ** 2) / (2.0 * sigma**2))
    weights /= weights.sum()
    theta = np.deg2rad(angle_deg)
    dy = -np.ceil(np.arange(width) * np.sin(theta) - 0.5).astype(int)
    dx = -np.ceil(np.arange(width) * np.cos(theta) - 0.5).astype(int)
    size = 2 * width + 1
    kernel = np.zeros((size, size), np.float32)
    # output(y, x) = sum_i w_i * input(y - dy_i, x - dx_i): correlation tap at (anchor - dy, anchor - dx)
    np.add.at(kernel, (width - dy, width - dx), weights.astype(np.float32))
    return kernel


def fractal_noise(
    rng: np.random.Generator,
    height: int,
    width: int,
    decay: float,
    base: int = 2,
    work: int = 256,
) -> np.ndarray:
    """A ``height x width`` fractal (plasma-like) map in [0, 1].

    Octave ``k`` is a ``base*2^k``-cell uniform random grid upsampled bicubically, weighted
    ``decay^-k``; summing octaves to pixel scale gives the cloud texture ImageNet-C builds
    with diamond-square (larger ``decay``: smoother). The sum is built at most ``work``
    pixels wide and then resized, which keeps large images cheap; finer octaves would carry
    weight below ``decay^-7`` anyway. All octaves come from ``rng``.
    """
    import cv2

    size = min(max(height, width), work)
    total = np.zeros((size, size), np.float32)
    cells, amplitude = base, 1.0
    while cells <= size:
        grid = rng.uniform(-1.0, 1.0, size=(cells + 1, cells + 1)).astype(np.float32)
        total += np.float32(amplitude) * cv2.resize(
            grid, (size, size), interpolation=cv2.INTER_CUBIC
        )
        cells *= 2
        amplitude /= decay
    side = max(height, width)
    if side != size:
        total = cv2.resize(total, (side, side), interpolation=cv2.INTER_CUBIC)
    total = total[:height, :width]
    total -= total.min()
    peak = total.max()
    return total / peak if peak > 0 else total


def zoom_center(batch: FloatBatch, factor: float) -> FloatBatch:
    """Magnify every plane by ``factor`` about the image centre, keeping the size (bilinear)."""
    import cv2

    _n, h, w, _c = batch.shape
    cx, cy = (w - 1) / 2.0, (h - 1) / 2.0
    matrix = np.array(
        [[factor, 0.0, cx * (1 - factor)], [0.0, factor, cy * (1 - factor)]], np.float32
    )
    return stacked(
        batch,
        lambda p: cv2.warpAffine(
            p, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
        ),
    )


def box_down_nearest_up(batch: FloatBatch, small: tuple[int, int]) -> FloatBatch:
    """Area-average every plane down to ``small`` = (width, height), then nearest back up.

    Nearest uses pixel centres (``INTER_NEAREST_EXACT``, as PIL does), so blocks stay aligned.
    """
    import cv2

    _, h, w, _ = batch.shape

    def down_up(p: np.ndarray) -> np.ndarray:
        low = cv2.resize(p, small, interpolation=cv2.INTER_AREA)
        return cv2.resize(low, (w, h), interpolation=cv2.INTER_NEAREST_EXACT)

    return stacked(batch, down_up, max_channels=4)
