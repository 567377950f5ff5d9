"""Gemma 3: fixed soft tokens per view, 1-D positions; image blocks attend bidirectionally
(``vqa.attention: image_blocks``, filled by the runtime from the image-token runs).

With pan-and-scan (``do_pan_and_scan`` true in the export's ``preprocessor_config.json``) an
image is its original plus 0 to ``pan_and_scan_max_num_crops`` crops, known from its size alone
(``harness.mllm.processors.gemma3.num_crops``): its grid is that crop count and its token block
the text ``Gemma3Processor`` writes for it, tokenized with the export's tokenizer: the image's
``full_image_sequence`` (``\\n\\n<start_of_image>`` + its soft tokens + ``<end_of_image>\\n\\n``),
or with crops "Here is the original image " + that sequence + " and here are some crops to help
you see better " + one sequence per crop joined by spaces.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy.typing as npt

from harness.errors import ManifestError
from harness.mllm.families.base import RuntimeFamily, Vocab
from harness.mllm.processors.base import CONFIG
from harness.mllm.processors.gemma3 import num_crops, settings

BOI, EOI = "<start_of_image>", "<end_of_image>"


def _pan_and_scan(spec: Any) -> bool:
    return spec.image.processor is not None and settings(spec.image.processor) is not None


def vision_feeds(images: Sequence[npt.NDArray[Any]], spec: Any) -> tuple[dict[str, npt.NDArray[Any]], list[int]]:
    """The manifest's feeds (every view of every image) and, with pan-and-scan, each image's crop
    count; no grids otherwise (one view per image, ``vqa.tokens_per_image`` each)."""
    from harness.mllm.preprocess import vision_feeds as feeds_of

    feeds = feeds_of(images, spec.image)
    if not _pan_and_scan(spec):
        return feeds, []
    return feeds, [num_crops(image.shape[0], image.shape[1], spec.image.processor) for image in images]


def tokens_per_grid(grids: Sequence[int], spec: Any) -> list[int]:
    """``tokens_per_image`` for the original and for each crop."""
    return [spec.tokens_per_image * (1 + crops) for crops in grids]


def block_text(crops: int | None, image: str, per_view: int) -> str:
    """``Gemma3Processor.replace_image_token`` for an image with ``crops`` crops."""
    view = f"\n\n{BOI}{image * per_view}{EOI}\n\n"
    if not crops:
        return view
    crop_views = " ".join([view] * crops)
    return f"Here is the original image {view} and here are some crops to help you see better {crop_views}"


def image_block(grid: int | None, spec: Any, vocab: Vocab) -> str:
    """One image's ``block_text``, the markers first required to be tokens of the export's tokenizer."""
    for marker in (BOI, EOI):
        vocab.token_id(marker)
    return block_text(grid, vocab.token_text(spec.image_token_id), spec.tokens_per_image)


def uses_blocks(spec: Any) -> bool:
    """Blocks when the manifest says ``vqa.image_block: family``, or leaves it out and pan-and-scan
    is on (a template cannot hold a varying number of crops); ``plain`` with it is refused."""
    if spec.image_block == "plain" and _pan_and_scan(spec):
        raise ManifestError(f"{spec.model_dir / 'manifest.json'}: vqa.image_block: 'plain' cannot hold the crops of "
                            f"pan-and-scan ({CONFIG}: do_pan_and_scan true); set it to 'family' or remove it")
    return spec.image_block == "family" or spec.image_block is None and _pan_and_scan(spec)


FAMILY = RuntimeFamily(name="gemma3", manifest_names=("gemma3",), vision_feeds=vision_feeds,
                       image_tokens=tokens_per_grid, image_block=image_block, uses_blocks=uses_blocks)
