"""Idefics3 and SmolVLM: fixed image tokens per tile, 1-D positions, and, when the processor
splits images (``do_image_splitting``), a variable number of tiles per image.

Each image's grid is the ``(rows, cols)`` of its crops (``(0, 0)``: kept whole), known from its
size alone (``harness.mllm.processors.idefics3.tile_grid``). Its token block is the text
``Idefics3Processor`` and ``SmolVLMProcessor`` write for it (the same strings in transformers
5.24), tokenized with the export's tokenizer: per crop ``<fake_token_around_image><row_r_col_c>``
and the tile's image tokens, a newline after each row, then a newline and
``<fake_token_around_image><global-img>`` + tokens + ``<fake_token_around_image>`` for the whole
image; an image kept whole is only that last part.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy.typing as npt

from harness.mllm.families.base import RuntimeFamily, Vocab, blocks_when_needed
from harness.mllm.processors.base import CONFIG
from harness.mllm.processors.idefics3 import Grid, splits, tile_grid

AROUND, GLOBAL = "<fake_token_around_image>", "<global-img>"


def _splitting(spec: Any) -> bool:
    return spec.image.processor is not None and splits(spec.image.processor)


def vision_feeds(images: Sequence[npt.NDArray[Any]], spec: Any) -> tuple[dict[str, npt.NDArray[Any]], list[Grid]]:
    """The manifest's feeds (``[1, tiles, 3, S, S]`` + mask) and, when the processor splits, each
    image's ``(rows, cols)``; no grids otherwise (one tile per image, ``vqa.tokens_per_image`` each)."""
    from harness.mllm.preprocess import vision_feeds as feeds_of

    feeds = feeds_of(images, spec.image)
    if not _splitting(spec):
        return feeds, []
    return feeds, [tile_grid(image.shape[0], image.shape[1], spec.image.processor) for image in images]


def tokens_per_grid(grids: Sequence[Grid], spec: Any) -> list[int]:
    """``tokens_per_image`` per tile: ``rows * cols`` crops + the whole image, or one tile."""
    return [spec.tokens_per_image * (rows * cols + 1) for rows, cols in grids]


def block_text(grid: Grid | None, image: str, per_tile: int) -> str:
    """The processor's expansion of one ``<image>`` (``replace_image_token`` of both processors)."""
    rows, cols = grid or (0, 0)
    whole = f"{AROUND}{GLOBAL}{image * per_tile}{AROUND}"
    if not rows and not cols:
        return whole
    crops = "".join("".join(f"{AROUND}<row_{r + 1}_col_{c + 1}>{image * per_tile}" for c in range(cols)) + "\n"
                    for r in range(rows))
    return f"{crops}\n{whole}"


def image_block(grid: Grid | None, spec: Any, vocab: Vocab) -> str:
    """One image's ``block_text``, every marker first required to be a token of the export's tokenizer."""
    rows, cols = grid or (0, 0)
    for marker in (AROUND, GLOBAL, *(f"<row_{r + 1}_col_{c + 1}>" for r in range(rows) for c in range(cols))):
        vocab.token_id(marker)
    return block_text(grid, vocab.token_text(spec.image_token_id), spec.tokens_per_image)


SPLIT_TILES = f"the tiles of a split image ({CONFIG}: do_image_splitting true)"
FAMILY = RuntimeFamily(name="idefics3", manifest_names=("idefics3", "smolvlm"), vision_feeds=vision_feeds,
                       image_tokens=tokens_per_grid, image_block=image_block,
                       uses_blocks=blocks_when_needed(_splitting, SPLIT_TILES))
