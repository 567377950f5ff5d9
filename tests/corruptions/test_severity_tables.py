"""The corruption modules' severity tables equal ImageNet-C's (written literally in
imagenet_c_tables.py), and the registry describes severities 1..5 with the same numbers."""

from __future__ import annotations

import re

import pytest

from harness.corruptions import blur, digital, noise, weather
from harness.corruptions.registry import CORRUPTIONS

from .imagenet_c_tables import IMAGENET_C

OURS = {
    "gaussian_noise": noise.GAUSSIAN_NOISE_SIGMA,
    "shot_noise": noise.SHOT_NOISE_PHOTONS,
    "impulse_noise": noise.IMPULSE_NOISE_AMOUNT,
    "speckle_noise": noise.SPECKLE_NOISE_SIGMA,
    "gaussian_blur": blur.GAUSSIAN_BLUR_SIGMA,
    "glass_blur": blur.GLASS_BLUR,
    "defocus_blur": blur.DEFOCUS_BLUR,
    "motion_blur": blur.MOTION_BLUR,
    "zoom_blur": blur.ZOOM_BLUR_MAX,
    "fog": weather.FOG,
    "frost": weather.FROST,
    "snow": weather.SNOW,
    "spatter": weather.SPATTER,
    "contrast": digital.CONTRAST,
    "brightness": digital.BRIGHTNESS,
    "saturate": digital.SATURATE,
    "jpeg_compression": digital.JPEG_QUALITY,
    "pixelate": digital.PIXELATE,
    "elastic_transform": digital.ELASTIC_ALPHA,
}


@pytest.mark.parametrize("name", sorted(IMAGENET_C))
def test_severity_table_is_imagenet_c(name):
    ours = tuple(tuple(row) if isinstance(row, (tuple, list)) else row for row in OURS[name])
    assert ours == IMAGENET_C[name]  # exact: == on floats, severity 1 first


@pytest.mark.parametrize("name", sorted(IMAGENET_C))
def test_the_registry_describes_every_severity_from_the_table(name):
    described = CORRUPTIONS.get(name).severities
    assert len(described) == 5
    for text, value in zip(described, IMAGENET_C[name]):  # the number, then an optional unit ("1 px")
        assert re.fullmatch(re.escape(str(value)) + r"( [a-z%]+)?", text), (text, value)
