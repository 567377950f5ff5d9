"""Image preprocessing in NumPy: raw ``H x W x 3`` uint8 -> the vision graph's feeds.

An export that names its ``preprocessor_config.json`` (``vqa.image.processor``) is fed exactly
what transformers' image processor gives (``harness.mllm.processors``). Otherwise, the legacy
rule, in the order the manifest's ``vqa.image`` says: resize to ``size`` (bilinear, OpenCV's
half-pixel convention, as HF's PIL-based processors) -> ``x * scale`` -> ``(x - mean) / std``
per channel -> CHW -> ``[N,3,H,W]`` (Llava) or ``[1,N,3,H,W]`` + bool mask (Idefics3, one
tile per image, no padding tiles: the manifest declares batch 1).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from harness.errors import DataError, ManifestError
from harness.mllm.manifest import ImageSpec


def normalize(images: Sequence[npt.NDArray[Any]], spec: ImageSpec) -> npt.NDArray[np.float32]:
    """``[N,3,H,W]`` float32 normalized pixels from raw HWC images (uint8 or float in [0, 255])."""
    height, width = spec.size
    batch = np.empty((len(images), 3, height, width), dtype=np.float32)
    mean = np.asarray(spec.mean, dtype=np.float32).reshape(3, 1, 1)
    std = np.asarray(spec.std, dtype=np.float32).reshape(3, 1, 1)
    for index, image in enumerate(images):
        if image.ndim != 3 or image.shape[2] != 3:
            raise DataError(f"image {index}: shape {image.shape}, expected H x W x 3 (RGB)")
        if image.shape[:2] != (height, width):
            image = _resize(image, (height, width), spec.resize)
        chw = np.transpose(image.astype(np.float32) * np.float32(spec.scale), (2, 0, 1))
        batch[index] = (chw - mean) / std
    return batch


def _resize(image: npt.NDArray[Any], size: tuple[int, int], method: str) -> npt.NDArray[Any]:
    import cv2

    interpolation = cv2.INTER_LINEAR if method == "bilinear" else cv2.INTER_NEAREST
    return cv2.resize(image, (size[1], size[0]), interpolation=interpolation)


def vision_feeds(images: Sequence[npt.NDArray[Any]], spec: ImageSpec) -> dict[str, npt.NDArray[Any]]:
    """The vision graph's feeds for ``images`` (at least one) in the manifest's layout."""
    mask = None
    if spec.processor is not None:
        from harness.mllm.processors import preprocess

        processed = preprocess([_as_uint8(image) for image in images], spec.processor)
        if processed.image_grid_thw is not None:  # dynamic resolution (layout patches): patch rows + grids
            return {"pixel_values": processed.pixel_values, "image_grid_thw": processed.image_grid_thw}
        pixels, mask = processed.pixel_values, processed.pixel_attention_mask
        if pixels.shape[2:] != tuple(spec.size):
            raise ManifestError(f"preprocessor_config.json gives {pixels.shape[2]}x{pixels.shape[3]} pixels but "
                                f"vqa.image.size is {list(spec.size)}; re-export the model")
    else:
        pixels = normalize(images, spec)
    if spec.layout == "NCHW":
        return {"pixel_values": pixels}
    feeds: dict[str, npt.NDArray[Any]] = {"pixel_values": pixels[np.newaxis]}
    if spec.pixel_attention_mask:
        feeds[spec.pixel_attention_mask] = (np.ones((len(images), *spec.size), dtype=bool) if mask is None else mask)[None]
    return feeds


def _as_uint8(image: npt.NDArray[Any]) -> npt.NDArray[np.uint8]:
    """Float images (values in [0, 255], e.g. after a corruption) as the uint8 a PIL processor reads."""
    return image if image.dtype == np.uint8 else np.clip(np.rint(image), 0, 255).astype(np.uint8)
