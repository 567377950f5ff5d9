"""An in-memory segmentation dataset for the precision tests."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from harness.data.interface import Sample


@dataclass
class ArrayDataset:
    """A ``SegmentationDataset`` over fixed random raw arrays (uint8 HWC, like camera frames)."""

    length: int
    modalities: tuple[str, ...] = ("rgb", "depth")
    size: int = 16
    name: str = "arrays"
    classes: tuple[str, ...] = ("class0", "class1", "class2")
    ignore_index: int = 255

    def __post_init__(self) -> None:
        rng = np.random.default_rng(3)
        self.raw = {m: rng.integers(0, 256, (self.length, self.size, self.size, 3), dtype=np.uint8) for m in self.modalities}
        self.labels = rng.integers(0, 3, (self.length, self.size, self.size)).astype(np.int64)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> Sample:
        return Sample(index, f"s{index}", {m: self.raw[m][index] for m in self.modalities}, self.labels[index])

    def fingerprint(self) -> str:
        return f"arrays-{self.length}-{'+'.join(self.modalities)}"
