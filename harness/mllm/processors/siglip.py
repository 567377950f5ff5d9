"""Fixed-size processors: SiglipImageProcessor (PaliGemma, SigLIP towers; bicubic by default) and
Gemma3ImageProcessor (bilinear by default; pan-and-scan crops are refused): resize to
``size`` ignoring the aspect ratio, rescale, normalise."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from harness.errors import ManifestError
from harness.mllm.processors.base import (
    CONFIG,
    Image,
    ImageProcessor,
    Processed,
    check_rgb,
    resample_of,
    rescale_normalize,
    resize,
    size_field,
)

DEFAULT_FILTER = {"SiglipImageProcessor": 3, "Gemma3ImageProcessor": 2}  # bicubic, bilinear


def _preprocess(images: Sequence[Image], config: Mapping[str, Any]) -> Processed:
    check_rgb(images)
    if config.get("do_pan_and_scan"):
        raise ManifestError(f"{CONFIG}: do_pan_and_scan: true is not supported (it adds a variable number of crops "
                            "per image); export with do_pan_and_scan false")
    resample = resample_of(config, DEFAULT_FILTER.get(str(config.get("image_processor_type")), 3))
    out = []
    for image in images:
        if config.get("do_resize", True):
            size = size_field(config, "size", ("height", "width"))
            image = resize(image, (size["height"], size["width"]), resample)
        out.append(rescale_normalize(image, config))
    return Processed(np.stack(out))


PROCESSOR = ImageProcessor(name="siglip", types=tuple(DEFAULT_FILTER), preprocess=_preprocess)
