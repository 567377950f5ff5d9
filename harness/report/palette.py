"""Class colours for ground-truth and predicted maps: a dataset's own palette when every class
name is one it knows (DELIVER/CARLA, Cityscapes), else a fixed list of distinct colours, so
the same class always gets the same colour in every report of that dataset."""

from __future__ import annotations

import colorsys
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

RGB = tuple[int, int, int]
IGNORE_COLOUR: RGB = (0, 0, 0)

# DELIVER's 25 classes, in its order, with the CARLA semantic colours its loader uses.
DELIVER: dict[str, RGB] = {
    "building": (70, 70, 70), "fence": (100, 40, 40), "other": (55, 90, 80), "pedestrian": (220, 20, 60),
    "pole": (153, 153, 153), "roadline": (157, 234, 50), "road": (128, 64, 128), "sidewalk": (244, 35, 232),
    "vegetation": (107, 142, 35), "cars": (0, 0, 142), "wall": (102, 102, 156), "trafficsign": (220, 220, 0),
    "sky": (70, 130, 180), "ground": (81, 0, 81), "bridge": (150, 100, 100), "railtrack": (230, 150, 140),
    "groundrail": (180, 165, 180), "trafficlight": (250, 170, 30), "static": (110, 190, 160),
    "dynamic": (170, 120, 50), "water": (45, 60, 150), "terrain": (145, 170, 100), "twowheeler": (0, 0, 230),
    "bus": (0, 60, 100), "truck": (0, 0, 70),
}  # fmt: skip
# Cityscapes' 19 evaluation classes.
CITYSCAPES: dict[str, RGB] = {
    "road": (128, 64, 128), "sidewalk": (244, 35, 232), "building": (70, 70, 70), "wall": (102, 102, 156),
    "fence": (190, 153, 153), "pole": (153, 153, 153), "traffic light": (250, 170, 30),
    "traffic sign": (220, 220, 0), "vegetation": (107, 142, 35), "terrain": (152, 251, 152),
    "sky": (70, 130, 180), "person": (220, 20, 60), "rider": (255, 0, 0), "car": (0, 0, 142),
    "truck": (0, 0, 70), "bus": (0, 60, 100), "train": (0, 80, 100), "motorcycle": (0, 0, 230),
    "bicycle": (119, 11, 32),
}  # fmt: skip
NAMED = {"DELIVER": DELIVER, "Cityscapes": CITYSCAPES}
# Distinct colours for unknown class lists (Glasbey-like, readable on white and on each other).
DISTINCT: tuple[RGB, ...] = (
    (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75),
    (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207), (255, 215, 0), (0, 0, 128),
    (128, 0, 0), (0, 128, 128), (170, 255, 195), (255, 250, 200),
)  # fmt: skip


def palette_for(classes: Sequence[str]) -> tuple[str, list[RGB]]:
    """``(name, colours)`` for ``classes``: a named dataset palette when it knows every class."""
    keys = [c.lower() for c in classes]
    for name, known in NAMED.items():
        if keys and all(k in known for k in keys):
            return name, [known[k] for k in keys]
    return "distinct", [distinct(i) for i in range(len(classes))]


def distinct(i: int) -> RGB:
    """The ``i``-th distinct colour: the fixed list, then golden-ratio hues."""
    if i < len(DISTINCT):
        return DISTINCT[i]
    r, g, b = colorsys.hsv_to_rgb((i * 0.618033988749895) % 1.0, 0.65 + 0.35 * (i % 2), 0.6 + 0.4 * ((i // 2) % 2))
    return round(255 * r), round(255 * g), round(255 * b)


def colorize(class_map: npt.NDArray[Any], colours: Sequence[RGB], ignore_index: int | None) -> npt.NDArray[np.uint8]:
    """``(H, W)`` class ids -> ``(H, W, 3)`` colours; ignored and out-of-range ids are black."""
    table = np.array(list(colours) + [IGNORE_COLOUR], dtype=np.uint8)
    ids = np.asarray(class_map).astype(np.int64)
    ids = np.where((ids < 0) | (ids >= len(colours)) | (ids == (ignore_index if ignore_index is not None else -1)), len(colours), ids)
    return table[ids]


def hex_colour(rgb: RGB) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)
