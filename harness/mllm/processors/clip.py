"""CLIPImageProcessor (Llava-1.5 and other CLIP towers): shortest-edge resize (bicubic by
default, the long edge truncated as transformers does), centre crop, rescale, normalise."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from harness.mllm.processors.base import (
    Image,
    ImageProcessor,
    Processed,
    center_crop,
    check_rgb,
    resample_of,
    rescale_normalize,
    resize,
    size_field,
)

BICUBIC = 3


def shortest_edge_size(height: int, width: int, shortest: int) -> tuple[int, int]:
    """``get_resize_output_image_size(default_to_square=False)``: the short side becomes ``shortest``."""
    short, long = (width, height) if width <= height else (height, width)
    new_long = int(shortest * long / short)
    return (new_long, shortest) if width <= height else (shortest, new_long)


def _preprocess(images: Sequence[Image], config: Mapping[str, Any]) -> Processed:
    check_rgb(images)
    resample = resample_of(config, BICUBIC)
    out = []
    for image in images:
        if config.get("do_resize", True):
            size = config.get("size")
            if isinstance(size, dict) and "shortest_edge" in size:
                shortest = size_field(config, "size", ("shortest_edge",))["shortest_edge"]
                image = resize(image, shortest_edge_size(*image.shape[:2], shortest), resample)
            else:
                fixed = size_field(config, "size", ("height", "width"))
                image = resize(image, (fixed["height"], fixed["width"]), resample)
        if config.get("do_center_crop", True):
            crop = size_field(config, "crop_size", ("height", "width"))
            image = center_crop(image, (crop["height"], crop["width"]))
        out.append(rescale_normalize(image, config))
    return Processed(np.stack(out))


PROCESSOR = ImageProcessor(name="clip", types=("CLIPImageProcessor",), preprocess=_preprocess)
