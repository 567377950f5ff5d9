"""Idefics3ImageProcessor (Idefics3, SmolVLM), as its PIL backend does it.

Longest-edge resize to ``size`` (even short side, as transformers rounds it). With
``do_image_splitting`` (transformers' default): a second resize to multiples of the tile side
``max_image_size`` (``resize_for_vision_encoder``), then, when that is more than one tile, the
``rows x cols`` crops in row-major order followed by the whole image resized to one tile (the
"global" image); an image of one tile is kept whole (``(0, 0)`` rows and columns). Without
splitting: one square resize to the tile. Lanczos by default; rescale, normalise; every tile is
full size, so the pixel mask is all True (one image, or several in one prompt, never pads).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from harness.mllm.processors.base import (
    Image,
    ImageProcessor,
    Processed,
    check_rgb,
    field,
    resample_of,
    rescale_normalize,
    resize,
    size_field,
)

LANCZOS = 1
MAX_IMAGE_SIZE = 4096  # transformers' upper bound for the longest-edge resize
Grid = tuple[int, int]


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


def encoder_size(height: int, width: int, tile: int) -> tuple[int, int]:
    """transformers' ``resize_for_vision_encoder``: the long side up to a multiple of ``tile``, the
    short side from the aspect ratio, then up to a multiple of ``tile`` too."""
    aspect = width / height
    if width >= height:
        width = math.ceil(width / tile) * tile
        height = math.ceil(int(width / aspect) / tile) * tile
    else:
        height = math.ceil(height / tile) * tile
        width = math.ceil(int(height * aspect) / tile) * tile
    return height, width


def splits(config: Mapping[str, Any]) -> bool:
    """Whether the processor splits images into tiles (transformers' default: yes)."""
    return bool(field(config, "do_image_splitting", bool, True))


def _tile(config: Mapping[str, Any]) -> int:
    return size_field(config, "max_image_size", ("longest_edge",))["longest_edge"]


def _grid(height: int, width: int, tile: int) -> Grid:
    """Rows and columns of crops of an image already sized to multiples of ``tile``; ``(0, 0)`` for one tile."""
    return (height // tile, width // tile) if height > tile or width > tile else (0, 0)


def tile_grid(height: int, width: int, config: Mapping[str, Any]) -> Grid:
    """The ``(rows, cols)`` the processor gives an image of this raw size (no pixels needed: the
    runtime sizes each image's token block from it). ``(0, 0)`` when it is not split."""
    if not splits(config):
        return (0, 0)
    if config.get("do_resize", True):
        height, width = longest_edge_size(height, width, size_field(config, "size", ("longest_edge",))["longest_edge"])
    tile = _tile(config)
    return _grid(*encoder_size(height, width, tile), tile)


def _split(image: Image, tile: int, resample: int) -> tuple[list[Image], Grid]:
    """``split_images``: row-major crops of ``tile`` then the whole image resized to one tile."""
    rows, cols = _grid(*image.shape[:2], tile)
    if not rows:
        return [image], (0, 0)
    crops = [image[r * tile:(r + 1) * tile, c * tile:(c + 1) * tile] for r in range(rows) for c in range(cols)]
    return [*crops, resize(image, (tile, tile), resample)], (rows, cols)


def _preprocess(images: Sequence[Image], config: Mapping[str, Any]) -> Processed:
    check_rgb(images)
    resample = resample_of(config, LANCZOS)
    tile = _tile(config)
    frames: list[np.ndarray] = []
    grids: list[Grid] = []
    for image in images:
        if config.get("do_resize", True):
            longest = size_field(config, "size", ("longest_edge",))["longest_edge"]
            image = resize(image, longest_edge_size(*image.shape[:2], longest), resample)
        if splits(config):
            crops, grid = _split(resize(image, encoder_size(*image.shape[:2], tile), resample), tile, resample)
        else:
            crops, grid = [resize(image, (tile, tile), resample)], (0, 0)
        frames += [rescale_normalize(crop, config) for crop in crops]
        grids.append(grid)
    pixels = np.stack(frames)
    return Processed(pixels, np.ones((len(frames), *pixels.shape[2:]), dtype=bool), tiles=tuple(grids))


PROCESSOR = ImageProcessor(name="idefics3", types=("Idefics3ImageProcessor", "SmolVLMImageProcessor"),
                           preprocess=_preprocess)
