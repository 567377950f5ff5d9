"""Qwen2-VL and Qwen2.5-VL in NumPy: the vision graph's index inputs and the decoder's 3-D mRoPE
``position_ids`` (no torch, no transformers).

Preprocessing is ``Qwen2VLImageProcessor``'s (``harness.mllm.processors.qwen2_vl``): patches of
every image and one ``(t, h, w)`` grid each. Every index the vision graph needs is computed here from the grid
and fed as an input, so the graph has no data-dependent control flow: ``vision_position_ids``
(the (row, column) of each patch), ``image_segments`` (full attention within an image) and, for
Qwen2.5-VL, ``window_segments`` (window attention within ``window_size`` pixels).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from harness.errors import DataError, ManifestError
from harness.mllm.families.base import Ids, RuntimeFamily
from harness.mllm.processors.base import CONFIG
from harness.mllm.processors.qwen2_vl import Grid, sizes


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
    from harness.mllm.processors import preprocess

    processed = preprocess([_as_uint8(image) for image in images], config)
    grids = [(int(t), int(h), int(w)) for t, h, w in np.asarray(processed.image_grid_thw)]
    patch, merge, *_ = sizes(config)
    feeds: dict[str, npt.NDArray[Any]] = {"pixel_values": processed.pixel_values}
    feeds.update(vision_inputs(grids, merge, patch, spec.image.window_size))
    return feeds, grids


def tokens_per_grid(grids: Sequence[Grid], spec: Any) -> list[int]:
    """Image tokens of each grid after the patch merger: ``t*h*w / merge_size**2``."""
    merge = sizes(spec.image.processor)[1]
    return [t * h * w // (merge * merge) for t, h, w in grids]


def mrope_positions(ids: Ids, new: int, spec: Any, grids: Sequence[Grid] = ()) -> Ids:
    """``position_ids [3, B, new]`` for the last ``new`` columns of ``ids [B, T]``, as transformers'
    ``get_rope_index``: text counts on from the previous maximum + 1 on all three axes; an image's
    tokens take (t, row, column) of its merged grid offset by the position it starts at, and the
    text after it starts at that offset + max(rows, columns). Images are read in order: each run of
    image tokens is cut into the grids' token counts. Decoding steps continue as transformers'
    ``rope_deltas`` do (text after the last image)."""
    merge = sizes(spec.image.processor)[1] if grids else 1
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
