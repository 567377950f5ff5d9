"""Idefics3ImageProcessor (Idefics3, SmolVLM) without image splitting: longest-edge resize to
``size`` (even short side, as transformers rounds it), then a square resize to
``max_image_size`` (Lanczos by default), rescale, normalise; one tile per image, all pixels real.
Splitting into a variable grid of tiles is refused: the runtime feeds one tile per image."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from harness.errors import ManifestError
from harness.mllm.processors.base import (
    CONFIG,
    Image,
    ImageProcessor,
    Processed,
    check_rgb,
    resample_of,
    rescale_normalize,
    resize,
    size_field,
)

LANCZOS = 1
MAX_IMAGE_SIZE = 4096  # transformers' upper bound for the longest-edge resize


def longest_edge_size(height: int, width: int, longest: int) -> tuple[int, int]:
    """transformers' ``_resize_output_size_rescale_to_max_len`` then ``..._scale_below_upper_bound``."""
    aspect = width / height
    if width >= height:
        width, height = longest, int(longest / aspect)
        height += height % 2
    else:
        height, width = longest, int(longest * aspect)
        width += width % 2
    height, width = max(height, 1), max(width, 1)
    aspect = width / height
    if width >= height and width > MAX_IMAGE_SIZE:
        width, height = MAX_IMAGE_SIZE, int(MAX_IMAGE_SIZE / aspect)
    elif height > width and height > MAX_IMAGE_SIZE:
        height, width = MAX_IMAGE_SIZE, int(MAX_IMAGE_SIZE * aspect)
    return max(height, 1), max(width, 1)


def _preprocess(images: Sequence[Image], config: Mapping[str, Any]) -> Processed:
    check_rgb(images)
    if config.get("do_image_splitting", True):
        raise ManifestError(f"{CONFIG}: do_image_splitting: true is not supported (the runtime feeds one tile per "
                            "image); export with do_image_splitting false")
    resample = resample_of(config, LANCZOS)
    tile = size_field(config, "max_image_size", ("longest_edge",))["longest_edge"]
    out = []
    for image in images:
        if config.get("do_resize", True):
            longest = size_field(config, "size", ("longest_edge",))["longest_edge"]
            image = resize(image, longest_edge_size(*image.shape[:2], longest), resample)
            image = resize(image, (tile, tile), resample)
        out.append(rescale_normalize(image, config))
    pixels = np.stack(out)
    return Processed(pixels, np.ones((len(out), *pixels.shape[2:]), dtype=bool))


PROCESSOR = ImageProcessor(name="idefics3", types=("Idefics3ImageProcessor", "SmolVLMImageProcessor"),
                           preprocess=_preprocess)
