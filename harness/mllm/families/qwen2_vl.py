"""Qwen2-VL and Qwen2.5-VL in NumPy: dynamic-resolution patches, the vision graph's index
inputs and the decoder's 3-D mRoPE ``position_ids`` (no torch, no transformers).

Preprocessing is ``Qwen2VLImageProcessor``'s: ``smart_resize`` to multiples of
``patch_size * merge_size`` within ``[min_pixels, max_pixels]`` (``size.shortest_edge`` /
``size.longest_edge``), PIL resize, rescale, normalise, then patchify into rows of
``C * temporal_patch_size * patch_size**2`` ordered merge-block by merge-block, one
``(t, h, w)`` grid per image. Every index the vision graph needs is computed here from the grid
and fed as an input, so the graph has no data-dependent control flow: ``vision_position_ids``
(the (row, column) of each patch), ``image_segments`` (full attention within an image) and, for
Qwen2.5-VL, ``window_segments`` (window attention within ``window_size`` pixels).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from harness.errors import DataError, ManifestError
from harness.mllm.families.base import Ids, RuntimeFamily
from harness.mllm.processors.base import CONFIG, check_rgb, field, resample_of, rescale_normalize, resize, size_field

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


def _sizes(config: Mapping[str, Any]) -> tuple[int, int, int, int, int]:
    """``patch_size, merge_size, temporal_patch_size, min_pixels, max_pixels`` of the processor config."""
    patch = field(config, "patch_size", int, 14)
    merge = field(config, "merge_size", int, 2)
    temporal = field(config, "temporal_patch_size", int, 2)
    bounds = size_field(config, "size", ("shortest_edge", "longest_edge"))
    if min(patch, merge, temporal) < 1:
        raise ManifestError(f"{CONFIG}: patch_size/merge_size/temporal_patch_size must be positive; re-export the processor")
    return patch, merge, temporal, bounds["shortest_edge"], bounds["longest_edge"]


def preprocess(images: Sequence[npt.NDArray[np.uint8]], config: Mapping[str, Any]) -> tuple[npt.NDArray[np.float32], list[Grid]]:
    """Raw HWC uint8 RGB images -> ``pixel_values [sum(t*h*w), patch_dim]`` and one ``(t, h, w)`` grid
    per image, as ``Qwen2VLImageProcessor`` gives them (``pixel_values`` and ``image_grid_thw``)."""
    check_rgb(images)
    patch, merge, temporal, min_pixels, max_pixels = _sizes(config)
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


def patch_coordinates(grid: Grid, merge: int) -> npt.NDArray[np.int64]:
    """``[t*h*w, 2]`` (row, column) of every patch in the processor's merge-block order (the
    vision rotary position ids transformers computes from the grid)."""
    t, h, w = grid
    rows, cols = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    shape = (h // merge, merge, w // merge, merge)
    rows, cols = (a.reshape(shape).transpose(0, 2, 1, 3).reshape(-1) for a in (rows, cols))
    return np.tile(np.stack([rows, cols], axis=-1), (t, 1)).astype(np.int64)


def window_ids(grid: Grid, merge: int, patch: int, window_size: int) -> npt.NDArray[np.int64]:
    """Per patch (processor order), a window number unique within the image: merged tokens in the
    same ``window_size``-pixel square share it (Qwen2.5-VL's ``get_window_index`` windows; the
    graph attends within a window, so no permutation is needed)."""
    t, h, w = grid
    side = window_size // merge // patch
    if side < 1:
        raise ManifestError(f"manifest.json: vqa.image.window_size: {window_size} is below one merged token "
                            f"({merge * patch} px); re-export the model")
    coords = patch_coordinates((1, h, w), merge) // merge  # the merged token of each patch
    across = -(-(w // merge) // side)
    per_frame = (coords[:, 0] // side) * across + coords[:, 1] // side
    windows_per_frame = -(-(h // merge) // side) * across
    return np.concatenate([per_frame + frame * windows_per_frame for frame in range(t)]).astype(np.int64)


def vision_inputs(grids: Sequence[Grid], merge: int, patch: int, window_size: int | None) -> dict[str, npt.NDArray[np.int64]]:
    """The vision graph's index inputs for ``grids`` (docs/vlm-contract.md, Qwen2-VL)."""
    positions, images, windows = [], [], []
    window_base = 0
    for index, grid in enumerate(grids):
        count = grid[0] * grid[1] * grid[2]
        positions.append(patch_coordinates(grid, merge))
        # one attention segment per frame, as transformers' cu_seqlens (images have one frame)
        images.append(np.repeat(np.arange(grid[0], dtype=np.int64) + sum(g[0] for g in grids[:index]), grid[1] * grid[2]))
        if window_size is not None:
            ids = window_ids(grid, merge, patch, window_size)
            windows.append(ids + window_base)
            window_base += int(ids.max()) + 1 if count else 0
    feeds = {"vision_position_ids": np.concatenate(positions), "image_segments": np.concatenate(images)}
    if window_size is not None:
        feeds["window_segments"] = np.concatenate(windows)
    return feeds


def vision_feeds(images: Sequence[npt.NDArray[Any]], spec: Any) -> tuple[dict[str, npt.NDArray[Any]], list[Grid]]:
    """The vision graph's feeds for raw images and their grids (the runtime's ``vision_feeds`` hook)."""
    config = spec.image.processor
    if config is None:
        raise ManifestError("manifest.json: vqa.image.processor: missing; a Qwen2-VL export names its "
                            f"{CONFIG} (re-export with `mmharness export mllm`)")
    from harness.mllm.preprocess import _as_uint8

    pixels, grids = preprocess([_as_uint8(image) for image in images], config)
    patch, merge, *_ = _sizes(config)
    feeds: dict[str, npt.NDArray[Any]] = {"pixel_values": pixels}
    feeds.update(vision_inputs(grids, merge, patch, spec.image.window_size))
    return feeds, grids


def tokens_per_grid(grids: Sequence[Grid], spec: Any) -> list[int]:
    """Image tokens of each grid after the patch merger: ``t*h*w / merge_size**2``."""
    merge = _sizes(spec.image.processor)[1]
    return [t * h * w // (merge * merge) for t, h, w in grids]


def mrope_positions(ids: Ids, new: int, spec: Any, grids: Sequence[Grid] = ()) -> Ids:
    """``position_ids [3, B, new]`` for the last ``new`` columns of ``ids [B, T]``, as transformers'
    ``get_rope_index``: text counts on from the previous maximum + 1 on all three axes; an image's
    tokens take (t, row, column) of its merged grid offset by the position it starts at, and the
    text after it starts at that offset + max(rows, columns). Images are read in order: each run of
    image tokens is cut into the grids' token counts. Decoding steps continue as transformers'
    ``rope_deltas`` do (text after the last image)."""
    merge = _sizes(spec.image.processor)[1] if grids else 1
    batch, total = ids.shape
    out = np.zeros((3, batch, total), dtype=np.int64)
    for row in range(batch):
        is_image = ids[row] == spec.image_token_id
        pending = list(grids)
        start, column = 0, 0
        while column < total:
            if not is_image[column]:
                out[:, row, column] = start
                start, column = start + 1, column + 1
                continue
            if not pending:
                raise DataError(f"the prompt holds more image tokens (id {spec.image_token_id}) than the images' grids "
                                "cover; expand {image} with each image's token count")
            t, h, w = pending.pop(0)
            lh, lw = h // merge, w // merge
            grid = np.stack(np.meshgrid(np.arange(t), np.arange(lh), np.arange(lw), indexing="ij")).reshape(3, -1)
            span = grid.shape[1]
            if column + span > total or not is_image[column:column + span].all():
                raise DataError(f"an image of grid {(t, h, w)} needs {span} consecutive image tokens at column {column}; "
                                "expand {image} with each image's token count")
            out[:, row, column:column + span] = grid + start
            start, column = start + max(lh, lw), column + span
    return out[:, :, total - new:]


FAMILY = RuntimeFamily(name="qwen2_vl", manifest_names=("qwen2_vl", "qwen2_5_vl"), position_ids=mrope_positions,
                       position_rank=3, vision_feeds=vision_feeds, image_tokens=tokens_per_grid)
