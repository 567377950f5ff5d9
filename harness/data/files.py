"""Reading the on-disk datasets (DELIVER, folder): images, labels, and up-front file checks.

Shared by ``deliver.py`` and ``folder.py`` so both answer bad input the same way: one
``DataError`` line naming the file, what was expected, and the fix. OpenCV is imported lazily.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from harness.errors import DataError


def read_image(path: Path, channels: int = 3) -> npt.NDArray[Any]:
    """``H x W x channels`` in RGB order (alpha dropped, 1 channel repeated, a gray image stored
    as 3 equal channels reduced to 1 for a 1-channel model), dtype as stored."""
    import cv2

    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise DataError(f"{path}: cannot be read as an image (missing, empty or not PNG/JPEG); re-export the frame")
    if image.ndim == 2:
        image = image[..., None]
    if image.shape[2] == 4:
        image = image[..., :3]
    if image.shape[2] == 3:
        image = image[..., ::-1]  # OpenCV decodes BGR
    if image.shape[2] == 1 and channels > 1:
        image = np.repeat(image, channels, axis=2)
    if image.shape[2] == 3 and channels == 1 and bool((image == image[..., :1]).all()):
        image = image[..., :1]
    if image.shape[2] != channels:
        raise DataError(f"{path}: has {image.shape[2]} channels; the model takes {channels} (manifest.json channels; "
                        f"1 is repeated, 3 equal ones reduced to 1); convert the image or use a model with {image.shape[2]}")
    return np.ascontiguousarray(image)


def nearest_indices(size_in: int, size_out: int) -> npt.NDArray[np.intp]:
    """Source index of every output position: ``min(floor(i * in / out), in - 1)`` in float32.

    This is PyTorch's ``interpolate(mode="nearest")``, which torchvision's ``resize(NEAREST)``
    (the DELIVER reference loader's event resize) runs. OpenCV's ``INTER_NEAREST`` rounds the
    scale differently and picks another source pixel for ~0.1% of a 270x480 -> 1042x1042 resize.
    """
    scale = np.float32(size_in) / np.float32(size_out)
    index = np.floor(np.arange(size_out, dtype=np.float32) * scale).astype(np.intp)
    return np.minimum(index, size_in - 1)


def resize_nearest(image: npt.NDArray[Any], height: int, width: int) -> npt.NDArray[Any]:
    """Nearest-neighbour resize (keeps event counts and label ids exact values), as PyTorch/torchvision do it."""
    if image.shape[:2] == (height, width):
        return image
    rows = nearest_indices(image.shape[0], height)
    cols = nearest_indices(image.shape[1], width)
    return np.ascontiguousarray(image[rows][:, cols])


def read_label(path: Path) -> npt.NDArray[np.int64]:
    """The first channel of a label image as ``H x W`` int64 (DELIVER stores ids in every channel)."""
    import cv2

    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise DataError(f"{path}: label cannot be read as an image; expected a PNG of class ids")
    if image.ndim == 3:
        image = image[..., 2]  # BGR order: the first (red) channel, as torchvision's read_image()[0]
    return image.astype(np.int64)


def check_label_range(label: npt.NDArray[np.int64], num_classes: int, ignore_index: int, path: Path, hint: str) -> None:
    """Every value must be a class id in ``[0, num_classes)`` or ``ignore_index``; else a DataError."""
    bad = (label < 0) | (label >= num_classes)
    bad &= label != ignore_index
    if bad.any():
        values = np.unique(label[bad])
        shown = ", ".join(map(str, values[:8])) + (" ..." if len(values) > 8 else "")
        raise DataError(
            f"{path}: label values {shown} ({int(bad.sum())} pixels) are outside the class range "
            f"[0, {num_classes}) and not ignore_index {ignore_index} {hint}; fix the label or the class list"
        )


def check_present(expected: Mapping[str, Sequence[Path]], where: str) -> None:
    """Every listed file exists; otherwise name the first missing one and the count, per modality."""
    for what, paths in expected.items():
        missing = [p for p in paths if not p.is_file()]
        if missing:
            raise DataError(
                f"{where}: {len(missing)} of {len(paths)} frames have no {what} file; first missing: "
                f"{missing[0]}; add the files or restrict the modalities (e.g. modalities=rgb,depth)"
            )


def fingerprint_files(root: Path, paths: Sequence[Path], extra: str = "") -> str:
    """A cheap stable hash of a file list: relative paths and sizes (content changes change sizes)."""
    digest = hashlib.sha256(extra.encode())
    for path in paths:
        digest.update(f"{path.relative_to(root)}:{path.stat().st_size}\n".encode())
    return digest.hexdigest()[:16]


def parse_modalities(value: str | Sequence[str] | None, available: Sequence[str], where: str) -> tuple[str, ...]:
    """A modality subset given as ``"rgb,depth"`` or a sequence; unknown names are a DataError."""
    if value is None:
        return tuple(available)
    names = tuple(v.strip() for v in value.split(",")) if isinstance(value, str) else tuple(value)
    unknown = [n for n in names if n not in available]
    if unknown or not names:
        raise DataError(f"{where}: modalities {list(names)} invalid; expected a non-empty subset of {list(available)}")
    return names
