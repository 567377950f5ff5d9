"""Qwen2-VL and Qwen2.5-VL in NumPy: the vision feeds, each image's token count and the decoder's
3-D mRoPE ``position_ids`` (no torch, no transformers).

Preprocessing is ``Qwen2VLImageProcessor``'s (``harness.mllm.processors.qwen2_vl``): patch rows of
every image and one ``(t, h, w)`` grid each, fed as ``pixel_values`` and ``image_grid_thw`` (the
graph derives its attention segments and rotary indices from the grid itself, as
onnxruntime-genai's ``qwen2_5_vl`` vision session expects).

Prompts: transformers' chat template wraps EACH image as ``<|vision_start|><|image_pad|><|vision_end|>``
and its processor expands the pad to the image's tokens; ``get_rope_index`` then takes each run
of image tokens as one image. With ``vqa.image_block: family`` the runtime writes that block per
image (the markers looked up in the export's tokenizer); a ``plain`` manifest's template holds
the markers once, so it serves one image per prompt (a run covering two grids is refused).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from harness.errors import DataError, ManifestError
from harness.mllm.families.base import Ids, RuntimeFamily, Vocab
from harness.mllm.processors.base import CONFIG
from harness.mllm.processors.qwen2_vl import Grid, sizes


def vision_feeds(images: Sequence[npt.NDArray[Any]], spec: Any) -> tuple[dict[str, npt.NDArray[Any]], list[Grid]]:
    """The vision graph's feeds (``pixel_values``, ``image_grid_thw``) for raw images, and their grids
    (the runtime's ``vision_feeds`` hook)."""
    if spec.image.processor is None:
        raise ManifestError("manifest.json: vqa.image.processor: missing; a Qwen2-VL export names its "
                            f"{CONFIG} (re-export with `mmharness export mllm`)")
    from harness.mllm.preprocess import vision_feeds as feeds_of

    feeds = feeds_of(images, spec.image)
    return feeds, [(int(t), int(h), int(w)) for t, h, w in feeds["image_grid_thw"]]


def tokens_per_grid(grids: Sequence[Grid], spec: Any) -> list[int]:
    """Image tokens of each grid after the patch merger: ``t*h*w / merge_size**2``."""
    merge = sizes(spec.image.processor)[1]
    return [t * h * w // (merge * merge) for t, h, w in grids]


VISION_START, VISION_END = "<|vision_start|>", "<|vision_end|>"


def image_block(grid: Grid | None, spec: Any, vocab: Vocab) -> str:
    """One image as transformers' template + processor write it: vision start, its image tokens, vision end."""
    if grid is None:
        raise DataError("a Qwen2-VL image block needs the image's grid; compute features with VlmRuntime.image_features")
    for marker in (VISION_START, VISION_END):
        vocab.token_id(marker)
    return VISION_START + vocab.token_text(spec.image_token_id) * tokens_per_grid([grid], spec)[0] + VISION_END


def mrope_positions(ids: Ids, new: int, spec: Any, grids: Sequence[Grid] = ()) -> Ids:
    """``position_ids [3, B, new]`` for the last ``new`` columns of ``ids [B, T]``, as transformers'
    ``get_rope_index``: text counts on from the previous maximum + 1 on all three axes; an image's
    tokens take (t, row, column) of its merged grid offset by the position it starts at, and the
    text after it starts at that offset + max(rows, columns). Images are read in order, one run of
    image tokens each (transformers groups the tokens by type: a run holding two images' tokens
    would be one image there, so it is refused). Decoding steps continue as transformers'
    ``rope_deltas`` do (text after the last image)."""
    merge = sizes(spec.image.processor)[1] if grids else 1
    batch, total = ids.shape
    out = np.zeros((3, batch, total), dtype=np.int64)
    for row in range(batch):
        is_image = ids[row] == spec.image_token_id
        pending = list(grids)
        start, column = 0, 0
        while column < total:  # one text run or one image per pass (vectorised within it)
            if not is_image[column]:
                run = np.argmax(is_image[column:]) if is_image[column:].any() else total - column
                out[:, row, column:column + run] = np.arange(start, start + run)
                start, column = start + run, column + run
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
            if column + span < total and is_image[column + span]:
                raise DataError(f"the image tokens at column {column} run past the {span} of grid {(t, h, w)}: "
                                "transformers reads one run as one image; wrap each image in vision start/end "
                                "(vqa.image_block 'family' writes them)")
            out[:, row, column:column + span] = grid + start
            start, column = start + max(lh, lw), column + span
    return out[:, :, total - new:]


FAMILY = RuntimeFamily(name="qwen2_vl", manifest_names=("qwen2_vl", "qwen2_5_vl"), position_ids=mrope_positions,
                       position_rank=3, vision_feeds=vision_feeds, image_tokens=tokens_per_grid, image_block=image_block)
