"""``RuntimeFamily``: what the NumPy runtime does differently per VLM family (no torch).

The defaults fit a decoder with 1-D positions counted from 0 over the whole sequence
(Llava, Idefics3, Gemma 3, PaliGemma: PaliGemma's +1 is inside its decoder graph). A family
with other rules (Qwen2-VL's 3-D mRoPE positions) sets the hook; optional fields keep defaults.

Images whose token block varies per image (Idefics3's tiles, Qwen2-VL's per-image wrapping, and
any family whose processor crops an image into a variable number of views) use two hooks:
``vision_feeds`` gives one grid per image (anything hashable the family understands, e.g.
``(rows, cols)`` of tiles or ``(t, h, w)`` of patches) and ``image_block`` turns one image's grid
into its whole token-id block, the marker tokens looked up in the export's tokenizer by their
strings. ``uses_blocks(spec)`` says whether a manifest's ``{image}`` expands to those blocks.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

Ids = npt.NDArray[np.int64]


def sequential_positions(ids: Ids, new: int, spec: Any, grids: Sequence[Any] = ()) -> Ids:
    """``position_ids [B, new]`` of the last ``new`` columns of ``ids [B, T]``: ``T-new .. T-1``."""
    total = ids.shape[1]
    return np.broadcast_to(np.arange(total - new, total, dtype=np.int64), (ids.shape[0], new)).copy()


class Vocab(Protocol):
    """The export's tokenizer as ``image_block`` reads it (``harness.mllm.prompt.PromptTokenizer``):
    ``token_id`` refuses a string that is not one token of the tokenizer (a ManifestError naming
    ``vqa.tokenizer``); ``token_text`` is the string of an id (the image token's, to write it)."""

    def token_id(self, text: str) -> int: ...

    def token_text(self, token_id: int) -> str: ...


def declared_blocks(spec: Any) -> bool:
    """The default ``uses_blocks``: the manifest says ``vqa.image_block: family``."""
    return getattr(spec, "image_block", None) == "family"


def blocks_when_needed(needed: Callable[[Any], bool], why: str) -> Callable[[Any], bool]:
    """A ``uses_blocks`` rule for a family whose processor settings can make the block vary per
    image (``needed(spec)``, e.g. Idefics3's splitting): blocks when the manifest says ``family``,
    or leaves ``vqa.image_block`` out and they are needed (a template cannot hold a varying
    count); ``plain`` while they are needed is refused, ``why`` naming the setting."""
    from harness.errors import ManifestError

    def uses_blocks(spec: Any) -> bool:
        if spec.image_block == "plain" and needed(spec):
            raise ManifestError(f"{spec.model_dir / 'manifest.json'}: vqa.image_block: 'plain' cannot hold {why}; "
                                "set it to 'family' or remove it")
        return spec.image_block == "family" or spec.image_block is None and needed(spec)

    return uses_blocks


@dataclass(frozen=True)
class RuntimeFamily:
    """Per-family runtime rules; ``manifest_names`` are the ``vqa.family`` values it serves.

    ``position_ids(ids [B, T], new, spec, grids)`` returns the decoder's ``position_ids`` for the last
    ``new`` columns of the whole sequence so far (prompt + generated, or prompt + options);
    ``grids`` are the per-image grids ``vision_feeds`` returned (empty for fixed-size families).

    Optional, for dynamic-resolution families (Qwen2-VL): ``position_rank`` (3: ``[3, B, S]``
    mRoPE positions), ``vision_feeds(images, spec) -> (feeds, grids)`` (the vision graph's
    inputs, replacing ``vqa.image``'s fixed-size rule; no grids: every image counts
    ``vqa.tokens_per_image``) and ``image_tokens(grids, spec)`` (the image tokens of each image,
    which the prompt then holds).

    Optional, for per-image token blocks: ``image_block(grid, spec, vocab) -> text``, one image's
    whole block as the text transformers' processor puts in the prompt for that image (image
    tokens and the family's marker tokens as strings; ``grid`` is the image's entry of
    ``vision_feeds``' grids, None for a family or manifest without grids), and
    ``uses_blocks(spec)``, whether this manifest's ``{image}`` expands to the images' blocks one
    after another (else to their image tokens in one run, the markers written in
    ``vqa.prompt_template``). The prompt text is then tokenized once, as the processor does, so
    text at a block's edge merges with its neighbours exactly as there; the prompt must hold
    exactly the images' ``image_tokens`` image tokens (the runtime checks).
    """

    name: str
    manifest_names: tuple[str, ...]
    position_ids: Callable[..., Ids] = sequential_positions
    position_rank: int = 2
    vision_feeds: Callable[[Sequence[Any], Any], tuple[dict[str, Any], list[Any]]] | None = None
    image_tokens: Callable[[Sequence[Any], Any], list[int]] | None = None
    image_block: Callable[[Any, Any, Vocab], str] | None = None
    uses_blocks: Callable[[Any], bool] = declared_blocks
