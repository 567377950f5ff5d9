"""ImageNet-C noise corruptions (Hendrycks & Dietterich, ICLR 2019) on [0, 1] image batches.

Severity tables are the published ImageNet-C parameters (the ``imagecorruptions`` package
uses the same numbers), so PSNR against the clean image is comparable with the literature.
Every element draws from its own sample's generator.
"""

from __future__ import annotations

import numpy as np

from harness.corruptions._ops import clip01, normal, uniform
from harness.corruptions.registry import FloatBatch, Rngs, register

GAUSSIAN_NOISE_SIGMA = (0.08, 0.12, 0.18, 0.26, 0.38)  # additive std, image in [0, 1]
SHOT_NOISE_PHOTONS = (
    60,
    25,
    12,
    5,
    3,
)  # Poisson rate at full white; fewer photons = more noise
IMPULSE_NOISE_AMOUNT = (
    0.03,
    0.06,
    0.09,
    0.17,
    0.27,
)  # fraction of elements set to 0 or 1 (half each)
SPECKLE_NOISE_SIGMA = (
    0.15,
    0.2,
    0.35,
    0.45,
    0.6,
)  # multiplicative std: x + x * N(0, s)


@register(
    "gaussian_noise",
    kinds=("image",),
    family="imagenet-c",
    severities=GAUSSIAN_NOISE_SIGMA,
    summary="additive Gaussian noise, std (image in [0,1])",
)
def gaussian_noise(x: FloatBatch, severity: int, rngs: Rngs) -> FloatBatch:
    noise = normal(rngs, x.shape[1:], GAUSSIAN_NOISE_SIGMA[severity - 1])
    noise += x  # the noise buffer becomes the result: no temporaries at image size
    return clip01(noise)


@register(
    "shot_noise",
    kinds=("image",),
    family="imagenet-c",
    severities=SHOT_NOISE_PHOTONS,
    summary="Poisson photon noise, photons at full white: Poisson(x*c)/c",
)
def shot_noise(x: FloatBatch, severity: int, rngs: Rngs) -> FloatBatch:
    photons = SHOT_NOISE_PHOTONS[severity - 1]
    out = np.empty_like(x)
    for rng, sample, counts in zip(rngs, x, out):
        counts[...] = rng.poisson(
            sample * photons
        )  # small integer counts: exact in float32
    out /= np.float32(photons)
    return clip01(out)


@register(
    "impulse_noise",
    kinds=("image",),
    family="imagenet-c",
    severities=IMPULSE_NOISE_AMOUNT,
    summary="salt-and-pepper, fraction of elements replaced (half 0, half 1)",
)
def impulse_noise(x: FloatBatch, severity: int, rngs: Rngs) -> FloatBatch:
    amount = np.float32(IMPULSE_NOISE_AMOUNT[severity - 1])
    u = uniform(rngs, x.shape[1:])
    out = np.where(u < amount / 2, np.float32(0.0), x)
    return np.where((u >= amount / 2) & (u < amount), np.float32(1.0), out)


@register(
    "speckle_noise",
    kinds=("image",),
    family="imagenet-c-extra",
    severities=SPECKLE_NOISE_SIGMA,
    summary="multiplicative Gaussian noise x + x*N(0,s), std",
)
def speckle_noise(x: FloatBatch, severity: int, rngs: Rngs) -> FloatBatch:
    noise = normal(rngs, x.shape[1:], SPECKLE_NOISE_SIGMA[severity - 1])
    noise *= x
    noise += x
    return clip01(noise)
