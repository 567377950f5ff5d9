"""Gemma3ImageProcessor (bilinear by default) with pan-and-scan, as transformers 5.24's PIL backend:
an image whose aspect ratio reaches ``pan_and_scan_min_ratio_to_activate`` is also cut into 2 to
``pan_and_scan_max_num_crops`` side-by-side crops along its long side (each at least
``pan_and_scan_min_crop_size`` pixels); the original comes first, then its crops, each view
resized to ``size``. ``num_crops`` per image is what the prompt's per-image block depends on.

The settings are the config's, as transformers' image processor applies them; its
``Gemma3Processor`` replaces them by its own (false, 256, 4, 1.2) unless the call passes them, so
an export with pan-and-scan means the call ``processor(..., do_pan_and_scan=True, <the config's>)``."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from harness.errors import ManifestError
from harness.mllm.processors.base import CONFIG, Image, ImageProcessor, Processed, check_rgb
from harness.mllm.processors.siglip import fixed_size

BILINEAR = 2
# Gemma3Processor passes these when preprocessor_config.json leaves them null (as Google's files do)
DEFAULTS = {"pan_and_scan_min_crop_size": 256, "pan_and_scan_max_num_crops": 4,
            "pan_and_scan_min_ratio_to_activate": 1.2}


def settings(config: Mapping[str, Any]) -> tuple[int, int, float] | None:
    """``(min_crop_size, max_num_crops, min_ratio)`` when ``do_pan_and_scan`` is true, else None."""
    enabled = config.get("do_pan_and_scan")
    if enabled is None or enabled is False:
        return None
    if enabled is not True:
        raise ManifestError(f"{CONFIG}: do_pan_and_scan: {enabled!r}, expected true, false or null")
    if not config.get("do_resize", True):
        raise ManifestError(f"{CONFIG}: do_pan_and_scan: true needs do_resize: true (crops of different sizes "
                            "cannot form one batch); set do_resize true")
    min_crop, max_crops, ratio = (_setting(config, name) for name in DEFAULTS)
    return int(min_crop), int(max_crops), float(ratio)


def _setting(config: Mapping[str, Any], name: str) -> int | float:
    """A pan-and-scan setting (null: Gemma3Processor's default): integers >= 1, the ratio > 0."""
    value = DEFAULTS[name] if config.get(name) is None else config[name]
    integer = isinstance(DEFAULTS[name], int)
    valid = isinstance(value, int if integer else (int, float)) and not isinstance(value, bool)
    if not valid or not (value >= 1 if integer else value > 0):
        expected = "an integer >= 1" if integer else "a number > 0"
        raise ManifestError(f"{CONFIG}: {name}: {value!r}, expected {expected}; fix it or set it null "
                            f"(Gemma3Processor's {DEFAULTS[name]})")
    return value


def crop_grid(height: int, width: int, min_crop: int, max_crops: int, min_ratio: float) -> tuple[int, int]:
    """``(rows, cols)`` of pan-and-scan crops of an image, ``(0, 0)`` for none (transformers'
    ``pan_and_scan``: half-up rounding of the aspect ratio, bounded by the minimum crop size)."""
    long, short = max(width, height), min(width, height)
    if long / short < min_ratio:
        return 0, 0
    count = min(int(math.floor(long / short + 0.5)), int(math.floor(long / min_crop)))
    count = min(max_crops, max(2, count))
    rows, cols = (1, count) if width >= height else (count, 1)
    if min(math.ceil(width / cols), math.ceil(height / rows)) < min_crop:
        return 0, 0
    return rows, cols


def num_crops(height: int, width: int, config: Mapping[str, Any]) -> int:
    """The crops ``config`` cuts an image of this size into (0: only the image itself)."""
    pan_and_scan = settings(config)
    if pan_and_scan is None:
        return 0
    rows, cols = crop_grid(height, width, *pan_and_scan)
    return rows * cols


def views(image: Image, pan_and_scan: tuple[int, int, float] | None) -> list[Image]:
    """The image, then its crops in row-major order (the last row or column may be narrower)."""
    if pan_and_scan is None:
        return [image]
    height, width = image.shape[:2]
    rows, cols = crop_grid(height, width, *pan_and_scan)
    if not rows:
        return [image]
    crop_h, crop_w = math.ceil(height / rows), math.ceil(width / cols)
    return [image] + [image[r * crop_h:(r + 1) * crop_h, c * crop_w:(c + 1) * crop_w]
                      for r in range(rows) for c in range(cols)]


def preprocess_crops(images: Sequence[Image], config: Mapping[str, Any]) -> tuple[Processed, list[int]]:
    """``pixel_values`` of every view of every image in order, and each image's ``num_crops``."""
    check_rgb(images)
    pan_and_scan = settings(config)
    pixels, num_crops = [], []
    for image in images:
        image_views = views(image, pan_and_scan)
        num_crops.append(len(image_views) - 1)
        pixels.extend(fixed_size(view, config, BILINEAR) for view in image_views)
    return Processed(np.stack(pixels)), num_crops


PROCESSOR = ImageProcessor(name="gemma3", types=("Gemma3ImageProcessor",),
                           preprocess=lambda images, config: preprocess_crops(images, config)[0])
