"""What every segmentation dataset yields, so the runner never knows which dataset it reads.

Raw arrays are what the sensor or the dataset on disk stores, before any preprocessing:
channel-last ``H x W x C`` (``C >= 1``), ``uint8`` for 8-bit images, ``float32`` for
physical units (e.g. depth in metres). Preprocessing (scale, mean/std, HWC -> CHW) is the
manifest's job, never the dataset's. Labels are ``H x W`` ``int64`` class ids with the
dataset's ``ignore_index`` for unlabelled pixels.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy.typing as npt


@dataclass(frozen=True)
class Sample:
    """One frame: its position in the dataset, a stable id, raw modality arrays and the label."""

    index: int
    sample_id: str
    modalities: Mapping[str, npt.NDArray[Any]]
    label: npt.NDArray[Any] | None


@runtime_checkable
class SegmentationDataset(Protocol):
    """A finite, indexable, deterministic collection of ``Sample``s."""

    name: str
    modalities: tuple[str, ...]  # modality names it provides, e.g. ("rgb", "depth", "event", "lidar")
    classes: tuple[str, ...]
    ignore_index: int

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> Sample: ...

    def fingerprint(self) -> str:
        """A stable hash of what the dataset yields (recorded in provenance; resume checks it)."""
        ...
