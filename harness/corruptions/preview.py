"""A contact sheet of corruptions x severities on one input, so a person can look at them.

Rows are corruptions, columns the clean input then severities; every tile is scaled to a
common height and labelled. Non-image kinds (depth, LiDAR, events) are shown as 8-bit
greyscale scaled by the clean input's maximum, so tiles are comparable across a row.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from harness.corruptions.api import corrupt, names
from harness.errors import ConfigError
from harness.seeding import rng_for

__all__ = ["KIND_ALIASES", "build_grid", "read_input", "resolve_kind", "write_preview"]

KIND_ALIASES = {
    "rgb": "image",
    "image": "image",
    "depth": "depth",
    "lidar": "lidar",
    "event": "event",
    "thermal": "thermal",
    "ir": "thermal",
}
_LABEL_HEIGHT = 18


def resolve_kind(modality: str) -> str:
    """The corruption kind for a modality name such as ``rgb`` (or a kind name itself)."""
    try:
        return KIND_ALIASES[modality]
    except KeyError:
        raise ConfigError(
            f"--modality: unknown modality {modality!r} (allowed: {', '.join(KIND_ALIASES)})"
        ) from None


def read_input(path: Path, kind: str) -> np.ndarray:
    """The file as a raw ``H x W x C`` array (RGB order for 3-channel images), dtype kept."""
    import cv2

    if not path.is_file():
        raise ConfigError(f"--input: {path} does not exist or is not a file")
    array = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if array is None:
        raise ConfigError(
            f"--input: {path} is not an image OpenCV can read (PNG, JPEG, TIFF, ...)"
        )
    if array.ndim == 2:
        array = array[:, :, None]
    if array.shape[2] == 4:
        array = array[:, :, :3]
    if array.shape[2] == 3:
        array = np.ascontiguousarray(array[:, :, ::-1])
    if array.dtype not in (np.uint8, np.uint16, np.float32):
        raise ConfigError(
            f"--input: {path} has dtype {array.dtype}; expected 8- or 16-bit or float32"
        )
    return array


def _display(array: np.ndarray, peak: float, height: int) -> np.ndarray:
    """An 8-bit 3-channel tile of ``height`` rows."""
    import cv2

    values = array.astype(np.float32) / np.float32(peak if peak > 0 else 1.0)
    tile = np.clip(np.rint(values * 255.0), 0, 255).astype(np.uint8)
    if tile.shape[2] != 3:
        tile = np.repeat(tile[:, :, :1], 3, axis=2)
    width = max(1, round(tile.shape[1] * height / tile.shape[0]))
    return cv2.resize(tile, (width, height), interpolation=cv2.INTER_AREA)


def _label(tile: np.ndarray, text: str) -> np.ndarray:
    import cv2

    band = np.full((_LABEL_HEIGHT, tile.shape[1], 3), 255, np.uint8)
    cv2.putText(
        band,
        text,
        (3, _LABEL_HEIGHT - 5),
        cv2.FONT_HERSHEY_SIMPLEX,
        0.4,
        (0, 0, 0),
        1,
        cv2.LINE_AA,
    )
    return np.concatenate([band, tile], axis=0)


def build_grid(
    raw: np.ndarray,
    kind: str,
    corruption_names: Sequence[str] = (),
    severities: Sequence[int] = (1, 2, 3, 4, 5),
    seed: int = 0,
    height: int = 160,
) -> np.ndarray:
    """The RGB ``uint8`` contact sheet: one row per corruption, clean then each severity."""
    chosen = list(corruption_names) or names(kind)
    if raw.dtype == np.uint8:
        peak = 255.0
    elif raw.dtype == np.uint16:
        peak = float(raw.max()) or 65535.0
    else:
        peak = float(raw.max()) or 1.0
    clean = _display(raw, peak, height)
    rows = []
    for name in chosen:
        tiles = [_label(clean, name)]
        for severity in severities:
            rng = rng_for(seed, f"preview/{name}/s{severity}", 0, kind)
            out = corrupt(raw, name, severity, rng, kind=kind)
            tiles.append(_label(_display(out, peak, height), f"s{severity}"))
        rows.append(np.concatenate(tiles, axis=1))
    return np.concatenate(rows, axis=0)


def write_preview(grid: np.ndarray, out_dir: Path, stem: str) -> Path:
    """Write ``grid`` (RGB) as ``out_dir/<stem>.png`` and return the path."""
    import cv2

    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigError(
            f"--out: cannot create directory {out_dir} ({error.strerror or error}); choose a writable directory"
        ) from None
    path = out_dir / f"{stem}.png"
    encoded, data = cv2.imencode(".png", np.ascontiguousarray(grid[:, :, ::-1]))
    if not encoded:
        raise ConfigError(f"--out: cannot encode the preview grid {grid.shape} as PNG")
    from harness.report.io import atomic_write

    atomic_write(path, data.tobytes())  # a full or read-only disk: one line naming it, exit 3 (harness.paths)
    return path
