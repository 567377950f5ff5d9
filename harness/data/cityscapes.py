"""Cityscapes' 19 evaluation ("train id") classes, in train-id order.

Only the names live here (there is no Cityscapes loader): ``mmharness init --classes
cityscapes`` writes them into a manifest for a graph trained on Cityscapes.
"""

from __future__ import annotations

CLASSES: tuple[str, ...] = (
    "road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign",
    "vegetation", "terrain", "sky", "person", "rider", "car", "truck", "bus", "train",
    "motorcycle", "bicycle",
)  # fmt: skip
IGNORE_INDEX = 255
