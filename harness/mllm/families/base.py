"""``RuntimeFamily``: what the NumPy runtime does differently per VLM family (no torch).

The defaults fit a decoder with 1-D positions counted from 0 over the whole sequence
(Llava, Idefics3, Gemma 3, PaliGemma: PaliGemma's +1 is inside its decoder graph). A family
with other rules (Qwen2-VL's 3-D mRoPE positions) sets the hook; optional fields keep defaults.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

Ids = npt.NDArray[np.int64]


def sequential_positions(ids: Ids, new: int, spec: Any, grids: Sequence[Any] = ()) -> Ids:
    """``position_ids [B, new]`` of the last ``new`` columns of ``ids [B, T]``: ``T-new .. T-1``."""
    total = ids.shape[1]
    return np.broadcast_to(np.arange(total - new, total, dtype=np.int64), (ids.shape[0], new)).copy()


@dataclass(frozen=True)
class RuntimeFamily:
    """Per-family runtime rules; ``manifest_names`` are the ``vqa.family`` values it serves.

    ``position_ids(ids [B, T], new, spec, grids)`` returns the decoder's ``position_ids`` for the last
    ``new`` columns of the whole sequence so far (prompt + generated, or prompt + options);
    ``grids`` are the per-image grids ``vision_feeds`` returned (empty for fixed-size families).

    Optional, for dynamic-resolution families (Qwen2-VL): ``position_rank`` (3: ``[3, B, S]``
    mRoPE positions), ``vision_feeds(images, spec) -> (feeds, grids)`` (the vision graph's
    inputs, replacing ``vqa.image``'s fixed-size rule) and ``image_tokens(grids, spec)`` (the
    image tokens of each image, which the prompt then holds).
    """

    name: str
    manifest_names: tuple[str, ...]
    position_ids: Callable[..., Ids] = sequential_positions
    position_rank: int = 2
    vision_feeds: Callable[[Sequence[Any], Any], tuple[dict[str, Any], list[Any]]] | None = None
    image_tokens: Callable[[Sequence[Any], Any], list[int]] | None = None
