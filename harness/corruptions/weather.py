"""ImageNet-C weather corruptions (snow, frost, fog) and the spatter extra, on [0, 1] RGB batches.

Severity tables are the published ImageNet-C parameters. Deliberate differences from the
``imagecorruptions`` reference: frost uses a procedural ice texture (multi-octave noise
plus ridged crystal veins, tinted and scaled to the mean and contrast of ImageNet-C's frost
photographs) instead of shipped photos, and fog's plasma map is built from summed bicubic
octaves instead of diamond-square. Both keep the blending formulas and the severity table,
so PSNR stays comparable (the tests check it against the reference).
"""

from __future__ import annotations

import numpy as np

from harness.corruptions._ops import (
    clip01,
    fractal_noise,
    gaussian_blur_2d,
    motion_kernel,
    zoom_center,
)
from harness.corruptions.registry import FloatBatch, Rngs, register

# (mean, std, zoom, threshold, trail radius, trail sigma, image weight)
SNOW = (
    (0.1, 0.3, 3, 0.5, 10, 4, 0.8),
    (0.2, 0.3, 2, 0.5, 12, 4, 0.7),
    (0.55, 0.3, 4, 0.9, 12, 8, 0.7),
    (0.55, 0.3, 4.5, 0.85, 12, 8, 0.65),
    (0.55, 0.3, 2.5, 0.85, 12, 12, 0.55),
)
FROST = (
    (1, 0.4),
    (0.8, 0.6),
    (0.7, 0.7),
    (0.65, 0.7),
    (0.6, 0.75),
)  # (image weight, frost weight)
FOG = (
    (1.5, 2),
    (2.0, 2),
    (2.5, 1.7),
    (2.5, 1.5),
    (3.0, 1.4),
)  # (fog strength, fractal decay)
# (layer mean, layer std, layer blur sigma, threshold, intensity, 0 = water / 1 = mud)
SPATTER = (
    (0.65, 0.3, 4, 0.69, 0.6, 0),
    (0.65, 0.3, 3, 0.68, 0.6, 0),
    (0.65, 0.3, 2, 0.68, 0.5, 0),
    (0.65, 0.3, 1, 0.65, 1.5, 1),
    (0.67, 0.4, 1, 0.65, 1.5, 1),
)
# Mean RGB and spatial std of ImageNet-C's frost photographs (measured), which the texture matches.
FROST_MEAN_RGB = (0.55, 0.62, 0.67)
FROST_STD = 0.13
LUMA = np.array([0.299, 0.587, 0.114], np.float32)
WATER_RGB = np.array([175, 238, 238], np.float32) / 255.0
MUD_RGB = np.array([63, 42, 20], np.float32) / 255.0


def _snow_layer(rng: np.random.Generator, h: int, w: int, params: tuple) -> np.ndarray:
    import cv2

    mean, std, zoom, threshold, radius, sigma, _ = params
    layer = rng.normal(mean, std, size=(1, h, w, 1)).astype(np.float32)
    layer = zoom_center(layer, zoom)[0, :, :, 0]
    layer = np.clip(np.where(layer < threshold, 0.0, layer), 0.0, 1.0).astype(
        np.float32
    )
    kernel = motion_kernel(radius, sigma, rng.uniform(-135.0, -45.0))
    layer = cv2.filter2D(layer, -1, kernel, borderType=cv2.BORDER_REPLICATE)
    return np.round(layer * 255.0) / np.float32(255.0)


@register(
    "snow",
    kinds=("image",),
    family="imagenet-c",
    severities=SNOW,
    channels=(3,),
    summary="streaked flakes + brightened scene: (mean, std, zoom, threshold, radius, sigma, image weight)",
)
def snow(x: FloatBatch, severity: int, rngs: Rngs) -> FloatBatch:
    params = SNOW[severity - 1]
    _n, h, w, _ = x.shape
    layers = np.stack([_snow_layer(rng, h, w, params) for rng in rngs])[..., None]
    gray = (x @ LUMA)[..., None]
    weight = np.float32(params[6])
    scene = weight * x + (1 - weight) * np.maximum(x, gray * 1.5 + 0.5)
    return np.clip(scene + layers + layers[:, ::-1, ::-1], 0.0, 1.0).astype(np.float32)


def frost_texture(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """An ``h x w x 3`` procedural frost texture in [0, 1]: clouded ice with bright crystal veins."""
    cloud = fractal_noise(rng, h, w, decay=1.8, base=4)
    ridges = 1.0 - np.abs(2.0 * fractal_noise(rng, h, w, decay=1.5, base=8) - 1.0)
    fine = 1.0 - np.abs(2.0 * fractal_noise(rng, h, w, decay=1.2, base=32) - 1.0)
    luminance = cloud + 0.8 * ridges**8 + 0.5 * fine**12
    luminance = (luminance - luminance.mean()) / max(float(luminance.std()), 1e-6)
    shade = np.float32(FROST_STD) * luminance
    # one plane per channel, then interleaved: broadcasting over a trailing axis of 3 is slow
    rgb = np.stack([np.float32(m) + shade for m in FROST_MEAN_RGB], axis=-1)
    return clip01(rgb.astype(np.float32, copy=False))


@register(
    "frost",
    kinds=("image",),
    family="imagenet-c",
    severities=FROST,
    channels=(3,),
    summary="procedural ice texture blended in: (image weight, frost weight)",
)
def frost(x: FloatBatch, severity: int, rngs: Rngs) -> FloatBatch:
    image_weight, frost_weight = FROST[severity - 1]
    _n, h, w, _ = x.shape
    textures = np.stack([frost_texture(rng, h, w) for rng in rngs])
    textures *= np.float32(frost_weight)
    textures += np.float32(image_weight) * x
    return clip01(textures)


@register(
    "fog",
    kinds=("image",),
    family="imagenet-c",
    severities=FOG,
    summary="plasma-fractal haze, contrast compressed: (strength, fractal decay)",
)
def fog(x: FloatBatch, severity: int, rngs: Rngs) -> FloatBatch:
    strength, decay = FOG[severity - 1]
    _n, h, w, _ = x.shape
    # diamond-square's wibble shrinks by `decay` twice per octave, hence decay**2 here
    haze = np.stack([fractal_noise(rng, h, w, decay=decay**2, base=4) for rng in rngs])[
        ..., None
    ]
    peak = x.max(axis=(1, 2, 3), keepdims=True)
    return np.clip(
        (x + np.float32(strength) * haze) * peak / (peak + np.float32(strength)),
        0.0,
        1.0,
    )


def _spatter_one(
    image: np.ndarray, rng: np.random.Generator, params: tuple
) -> np.ndarray:
    import cv2

    mean, std, sigma, threshold, intensity, mud = params
    h, w, _ = image.shape
    liquid = gaussian_blur_2d(
        rng.normal(mean, std, size=(h, w)).astype(np.float32), sigma
    )
    liquid[liquid < threshold] = 0.0
    if not mud:
        # water drops: bright rims from an embossed distance-to-edge map of the liquid layer
        edges = cv2.Canny((liquid * 255).astype(np.uint8), 50, 150)
        dist = cv2.distanceTransform(255 - edges, cv2.DIST_L2, 5)
        dist = cv2.blur(np.minimum(dist, 20.0), (3, 3)).astype(np.uint8)
        dist = cv2.equalizeHist(dist)
        emboss = np.array([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]], np.float32)
        dist = cv2.blur(cv2.filter2D(dist, cv2.CV_8U, emboss), (3, 3)).astype(
            np.float32
        )
        drops = liquid * dist
        peak = float(drops.max())
        drops = drops / peak * intensity if peak > 0 else drops
        return np.clip(image + drops[..., None] * WATER_RGB, 0.0, 1.0)
    blob = gaussian_blur_2d((liquid > threshold).astype(np.float32), intensity)
    blob[blob < 0.8] = 0.0
    return np.clip(
        image * (1.0 - blob[..., None]) + blob[..., None] * MUD_RGB, 0.0, 1.0
    )


@register(
    "spatter",
    kinds=("image",),
    family="imagenet-c-extra",
    severities=SPATTER,
    channels=(3,),
    summary="water drops (s1-3) or mud (s4-5): (mean, std, blur, threshold, intensity, mud)",
)
def spatter(x: FloatBatch, severity: int, rngs: Rngs) -> FloatBatch:
    params = SPATTER[severity - 1]
    return np.stack(
        [_spatter_one(image, rng, params) for image, rng in zip(x, rngs)]
    ).astype(np.float32)
