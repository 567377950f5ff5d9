"""Fixed-size processors: SiglipImageProcessor (PaliGemma, SigLIP towers; bicubic by default):
resize to ``size`` ignoring the aspect ratio, rescale, normalise. Gemma3ImageProcessor does the
same per view (``harness.mllm.processors.gemma3`` adds its pan-and-scan crops)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from harness.mllm.processors.base import (
    Image,
    ImageProcessor,
    Pixels,
    Processed,
    check_rgb,
    resample_of,
    rescale_normalize,
    resize,
    size_field,
)


def fixed_size(image: Image, config: Mapping[str, Any], default_filter: int) -> Pixels:
    """One image resized to ``size`` (``resample``, else ``default_filter``), rescaled and normalised."""
    if config.get("do_resize", True):
        size = size_field(config, "size", ("height", "width"))
        image = resize(image, (size["height"], size["width"]), resample_of(config, default_filter))
    return rescale_normalize(image, config)


def _preprocess(images: Sequence[Image], config: Mapping[str, Any]) -> Processed:
    check_rgb(images)
    return Processed(np.stack([fixed_size(image, config, 3) for image in images]))  # bicubic


PROCESSOR = ImageProcessor(name="siglip", types=("SiglipImageProcessor",), preprocess=_preprocess)
