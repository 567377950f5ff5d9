"""Qwen2VLImageProcessor (Qwen2-VL, Qwen2.5-VL): dynamic resolution. ``smart_resize`` to
multiples of ``patch_size * merge_size`` with the area within ``[min_pixels, max_pixels]``
(``size.shortest_edge`` / ``size.longest_edge``), PIL resize (bicubic by default), rescale,
normalise, then patchify into rows of ``C * temporal_patch_size * patch_size**2`` ordered merge
block by merge block (the frame repeated ``temporal_patch_size`` times), one ``(t, h, w)`` grid
per image. ``pixel_values`` are those rows of all images stacked, ``image_grid_thw`` the grids."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from harness.errors import DataError, ManifestError
from harness.mllm.processors.base import (
    CONFIG,
    MAX_SIDE,
    Image,
    ImageProcessor,
    Processed,
    check_rgb,
    field,
    resample_of,
    rescale_normalize,
    resize,
)

Grid = tuple[int, int, int]
BICUBIC = 3
MAX_ASPECT = 200  # transformers refuses a more extreme aspect ratio


def smart_resize(height: int, width: int, factor: int, min_pixels: int, max_pixels: int) -> tuple[int, int]:
    """transformers' ``smart_resize``: both sides multiples of ``factor``, area within bounds, aspect kept."""
    if max(height, width) / min(height, width) > MAX_ASPECT:
        raise DataError(f"image {height}x{width}: aspect ratio above {MAX_ASPECT}, which Qwen2-VL's processor refuses")
    h_bar, w_bar = round(height / factor) * factor, round(width / factor) * factor
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt(height * width / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar, w_bar = math.ceil(height * beta / factor) * factor, math.ceil(width * beta / factor) * factor
    return h_bar, w_bar


def patchify(chw: npt.NDArray[np.float32], patch: int, merge: int, temporal: int) -> npt.NDArray[np.float32]:
    """``[C, H, W]`` -> ``[(H/p)*(W/p), C*temporal*p*p]``, merge blocks contiguous, the frame repeated ``temporal`` times."""
    channels, height, width = chw.shape
    grid_h, grid_w = height // patch, width // patch
    blocks = chw.reshape(channels, grid_h // merge, merge, patch, grid_w // merge, merge, patch)
    blocks = np.transpose(blocks, (1, 4, 2, 5, 0, 3, 6))
    blocks = np.broadcast_to(blocks[:, :, :, :, :, None], (*blocks.shape[:5], temporal, patch, patch))
    return np.ascontiguousarray(blocks.reshape(grid_h * grid_w, channels * temporal * patch * patch), dtype=np.float32)


def sizes(config: Mapping[str, Any]) -> tuple[int, int, int, int, int]:
    """``patch_size, merge_size, temporal_patch_size, min_pixels, max_pixels`` of the processor config."""
    patch = field(config, "patch_size", int, 14)
    merge = field(config, "merge_size", int, 2)
    temporal = field(config, "temporal_patch_size", int, 2)
    if not (1 <= patch <= MAX_SIDE and 1 <= merge <= MAX_SIDE and 1 <= temporal <= 16):
        raise ManifestError(f"{CONFIG}: patch_size/merge_size/temporal_patch_size: {patch}/{merge}/{temporal} out of range; "
                            "re-export the processor")
    bounds = field(config, "size", dict)
    low, high = bounds.get("shortest_edge"), bounds.get("longest_edge")  # pixel counts here, not sides
    if not (isinstance(low, int) and isinstance(high, int) and 1 <= low <= high <= MAX_SIDE**2):
        raise ManifestError(f"{CONFIG}: size: {bounds!r}, expected integer pixel counts shortest_edge <= longest_edge "
                            f"in 1..{MAX_SIDE**2} (min_pixels, max_pixels); re-export the processor")
    return patch, merge, temporal, low, high


def patches(images: Sequence[Image], config: Mapping[str, Any]) -> tuple[npt.NDArray[np.float32], list[Grid]]:
    """Raw HWC uint8 RGB images -> ``pixel_values [sum(t*h*w), patch_dim]`` and one ``(t, h, w)`` grid
    per image, as ``Qwen2VLImageProcessor`` gives them (``pixel_values`` and ``image_grid_thw``)."""
    check_rgb(images)
    patch, merge, temporal, min_pixels, max_pixels = sizes(config)
    resample = resample_of(config, BICUBIC)
    rows, grids = [], []
    for image in images:
        if config.get("do_resize", True):
            image = resize(image, smart_resize(*image.shape[:2], patch * merge, min_pixels, max_pixels), resample)
        chw = rescale_normalize(image, config)
        if chw.shape[1] % (patch * merge) or chw.shape[2] % (patch * merge):
            raise DataError(f"image {chw.shape[1]}x{chw.shape[2]}: not a multiple of patch_size*merge_size "
                            f"{patch * merge}; keep do_resize true in {CONFIG}")
        rows.append(patchify(chw, patch, merge, temporal))
        grids.append((1, chw.shape[1] // patch, chw.shape[2] // patch))
    return np.concatenate(rows), grids


def _preprocess(images: Sequence[Image], config: Mapping[str, Any]) -> Processed:
    pixels, grids = patches(images, config)
    return Processed(pixels, image_grid_thw=np.asarray(grids, dtype=np.int64).reshape(-1, 3))


PROCESSOR = ImageProcessor(name="qwen2_vl", types=("Qwen2VLImageProcessor",), preprocess=_preprocess)
