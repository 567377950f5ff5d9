"""Shared steps of transformers' PIL image processors, in NumPy + PIL (no torch, no transformers).

Each step reproduces transformers' ``PilBackend`` exactly: resizing goes through a uint8 PIL
image with the configured filter; crops take ``(size - crop) // 2`` and zero-pad when the image
is smaller; rescaling multiplies in float64 then casts to float32; normalising subtracts and
divides in float32. Every config problem is one line naming ``preprocessor_config.json`` and
the field.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from math import ceil
from typing import Any

import numpy as np
import numpy.typing as npt

from harness.errors import ManifestError

CONFIG = "preprocessor_config.json"
MAX_SIDE = 8192  # a larger target side is a hostile or broken config, not a model (it would allocate gigabytes)
Pixels = npt.NDArray[np.float32]
Image = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class Processed:
    """``pixel_values [N, 3, H, W]`` float32 (one row per image or tile) and, for processors that
    pad, ``pixel_attention_mask [N, H, W]`` bool (True on real pixels). Dynamic-resolution
    processors (Qwen2-VL) give patch rows ``[patches, patch_dim]`` and ``image_grid_thw [N, 3]``.
    Tiling processors (Idefics3 splitting) give ``tiles``: each image's ``(rows, cols)`` of crops,
    ``(0, 0)`` for an image kept whole; its rows are then ``rows * cols`` crops + the whole image."""

    pixel_values: Pixels
    pixel_attention_mask: npt.NDArray[np.bool_] | None = None
    image_grid_thw: npt.NDArray[np.int64] | None = None
    tiles: tuple[tuple[int, int], ...] | None = None


@dataclass(frozen=True)
class ImageProcessor:
    """One transformers image processor: ``types`` are the ``image_processor_type`` values it
    reproduces; ``preprocess(images, config)`` takes raw HWC uint8 RGB images."""

    name: str
    types: tuple[str, ...]
    preprocess: Callable[[Sequence[Image], Mapping[str, Any]], Processed]


def field(config: Mapping[str, Any], name: str, kind: type | tuple[type, ...], default: Any = None) -> Any:
    """``config[name]`` of ``kind`` (``default`` when absent and not None); one-line error otherwise."""
    value = config.get(name, default)
    if value is None or isinstance(value, bool) and kind is not bool or not isinstance(value, kind):
        raise ManifestError(f"{CONFIG}: {name}: {value!r} is not a valid value; re-export the model's image processor")
    return value


def size_field(config: Mapping[str, Any], name: str, keys: tuple[str, ...]) -> dict[str, int]:
    """A ``size``-like dict holding exactly the integer ``keys`` (e.g. height and width)."""
    value = field(config, name, dict)
    if not all(isinstance(value.get(key), int) and 0 < value[key] <= MAX_SIDE for key in keys):
        raise ManifestError(f"{CONFIG}: {name}: {value!r}, expected integers {', '.join(keys)} in 1..{MAX_SIDE}; "
                            "re-export the model's image processor")
    return {key: int(value[key]) for key in keys}


def check_rgb(images: Sequence[Any]) -> None:
    from harness.errors import DataError

    for index, image in enumerate(images):
        if image.ndim != 3 or image.shape[2] != 3:
            raise DataError(f"image {index}: shape {image.shape}, expected H x W x 3 (RGB)")


def resize(image: Image, size: tuple[int, int], resample: int) -> Image:
    """PIL resize of an HWC uint8 image to ``(height, width)``, as ``transformers.image_transforms.resize``."""
    from PIL import Image as PILImage

    pil = PILImage.fromarray(np.ascontiguousarray(image, dtype=np.uint8))
    return np.asarray(pil.resize((size[1], size[0]), resample=int(resample)))


def center_crop(image: npt.NDArray[Any], size: tuple[int, int]) -> npt.NDArray[Any]:
    """``transformers.image_transforms.center_crop`` on an HWC image (zero padding when too small)."""
    height, width = image.shape[:2]
    crop_h, crop_w = size
    top, left = (height - crop_h) // 2, (width - crop_w) // 2
    if top >= 0 and left >= 0:
        return image[top:top + crop_h, left:left + crop_w]
    out = np.zeros((max(crop_h, height), max(crop_w, width), image.shape[2]), dtype=image.dtype)
    pad_top, pad_left = ceil((out.shape[0] - height) / 2), ceil((out.shape[1] - width) / 2)
    out[pad_top:pad_top + height, pad_left:pad_left + width] = image
    top, left = (out.shape[0] - crop_h) // 2, (out.shape[1] - crop_w) // 2
    return out[top:top + crop_h, left:left + crop_w]


def rescale_normalize(image: npt.NDArray[Any], config: Mapping[str, Any]) -> Pixels:
    """HWC -> CHW float32: ``x * rescale_factor`` (float64, then float32) and ``(x - mean) / std`` in float32."""
    pixels = image.astype(np.float32)
    if config.get("do_rescale", True):
        pixels = (image.astype(np.float64) * float(field(config, "rescale_factor", (int, float), 1 / 255))).astype(np.float32)
    if config.get("do_normalize", True):
        mean = np.asarray(_triple(config, "image_mean"), dtype=np.float32)
        std = np.asarray(_triple(config, "image_std"), dtype=np.float32)
        pixels = (pixels - mean) / std
    return np.ascontiguousarray(np.transpose(pixels, (2, 0, 1)), dtype=np.float32)


def _triple(config: Mapping[str, Any], name: str) -> list[float]:
    value = config.get(name)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return [float(value)] * 3
    if not (isinstance(value, list) and len(value) == 3 and all(isinstance(v, (int, float)) for v in value)):
        raise ManifestError(f"{CONFIG}: {name}: {value!r}, expected 3 numbers; re-export the model's image processor")
    return [float(v) for v in value]


def resample_of(config: Mapping[str, Any], default: int) -> int:
    """The PIL filter id (``resample``: 0 nearest, 1 lanczos, 2 bilinear, 3 bicubic, 4 box, 5 hamming)."""
    value = config.get("resample", default)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 5:
        raise ManifestError(f"{CONFIG}: resample: {value!r}, expected a PIL filter id 0-5; re-export the image processor")
    return value
