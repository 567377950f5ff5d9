"""The DELIVER dataset as stored on disk (Zhang et al., CMNeXt), read exactly as its reference loader does.

Layout: ``<root>/img/<condition>/<split>/<scene>/<frame>_rgb_<cam>.png`` and, beside it, the
same path with ``img`` -> ``hha``/``lidar``/``event``/``semantic`` and ``_rgb`` ->
``_depth``/``_lidar``/``_event``/``_semantic``. Conventions of the reference loader kept here
so numbers are comparable: label 0 (and 255) -> ignore 255, every other id - 1; 1-channel
images repeated to 3; event frames resized (nearest) to the RGB size; the condition filter
keeps frames whose path contains the condition name. Every modality file is checked up front.
A model whose manifest gives a modality 1 channel gets it as stored (``channels``): the
reference's repeat to 3 is only for 3-channel models.
An optional ``classes.txt`` at the root (one name a line) replaces DELIVER's 25 class names, so
other data in this layout (e.g. ``synthetic`` written by ``write_deliver``) keeps its classes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness.data.files import (
    check_label_range,
    check_present,
    fingerprint_files,
    parse_modalities,
    read_image,
    read_label,
    resize_nearest,
)
from harness.data.interface import Sample
from harness.errors import ConfigError, DataError

CLASSES: tuple[str, ...] = (
    "Building", "Fence", "Other", "Pedestrian", "Pole", "RoadLine", "Road", "SideWalk", "Vegetation",
    "Cars", "Wall", "TrafficSign", "Sky", "Ground", "Bridge", "RailTrack", "GroundRail",
    "TrafficLight", "Static", "Dynamic", "Water", "Terrain", "TwoWheeler", "Bus", "Truck",
)  # fmt: skip
CONDITIONS: tuple[str, ...] = (
    "cloud", "fog", "night", "rain", "sun",
    "motionblur", "overexposure", "underexposure", "lidarjitter", "eventlowres",
)  # fmt: skip
MODALITIES: tuple[str, ...] = ("rgb", "depth", "event", "lidar")
# modality -> (folder replacing "img", file-name tag replacing "_rgb")
LAYOUT: dict[str, tuple[str, str]] = {
    "rgb": ("img", "_rgb"),
    "depth": ("hha", "_depth"),
    "event": ("event", "_event"),
    "lidar": ("lidar", "_lidar"),
    "label": ("semantic", "_semantic"),
}
SPLITS: tuple[str, ...] = ("train", "val", "test")
IGNORE_INDEX = 255


def sibling(rgb: Path, root: Path, modality: str) -> Path:
    """The file of ``modality`` for the frame whose RGB file is ``rgb``."""
    folder, tag = LAYOUT[modality]
    rel = rgb.relative_to(root / "img")
    return root / folder / rel.parent / rel.name.replace("_rgb", tag, 1)


@dataclass(frozen=True)
class DeliverDataset:
    """One split of a DELIVER root, optionally one condition and a subset of modalities."""

    root: Path
    split: str = "val"
    modalities: tuple[str, ...] = MODALITIES
    condition: str | None = None
    channels: Mapping[str, int] = field(default_factory=dict)  # modality -> channels (the manifest's); default 3
    classes: tuple[str, ...] = CLASSES
    ignore_index: int = IGNORE_INDEX
    name: str = "deliver"
    files: tuple[Path, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        root = Path(self.root)
        object.__setattr__(self, "root", root)
        if self.split not in SPLITS:
            raise ConfigError(f"deliver: split {self.split!r} is unknown; expected one of {', '.join(SPLITS)}")
        if self.condition is not None and self.condition not in CONDITIONS:
            raise ConfigError(f"deliver: condition {self.condition!r} is unknown; expected one of {', '.join(CONDITIONS)}")
        if not (root / "img").is_dir():
            problem = "no img/ folder" if root.is_dir() else "does not exist"
            raise DataError(f"{root}: {problem}; expected a DELIVER root holding img/, hha/, event/, lidar/, semantic/")
        files = sorted((root / "img").glob(f"*/{self.split}/*/*.png"))
        if self.condition is not None:
            files = [f for f in files if self.condition in str(f.relative_to(root))]
        if not files:
            where = f" with condition {self.condition!r}" if self.condition else ""
            raise DataError(f"{root}: no frames img/*/{self.split}/*/*.png{where}; check the root, split and condition")
        object.__setattr__(self, "files", tuple(files))
        expected = {m: [sibling(f, root, m) for f in files] for m in self.modalities if m != "rgb"}
        expected["label"] = [sibling(f, root, "label") for f in files]
        check_present(expected, f"{root} ({self.split})")

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> Sample:
        rgb_path = self.files[index]
        rgb = read_image(rgb_path, self.channels.get("rgb", 3))
        height, width = rgb.shape[:2]
        arrays: dict[str, Any] = {}
        for m in self.modalities:
            image = read_image(sibling(rgb_path, self.root, m), self.channels.get(m, 3)) if m != "rgb" else rgb
            if m == "event":
                image = resize_nearest(image, height, width)
            if image.shape[:2] != (height, width):
                raise DataError(
                    f"{sibling(rgb_path, self.root, m)}: size {image.shape[:2]} differs from the RGB frame's "
                    f"{(height, width)}; DELIVER frames of one sample share a size"
                )
            arrays[m] = image
        label_path = sibling(rgb_path, self.root, "label")
        label = self.map_label(read_label(label_path), label_path)
        sample_id = str(rgb_path.relative_to(self.root / "img").with_suffix(""))
        return Sample(index=index if index >= 0 else index + len(self), sample_id=sample_id, modalities=arrays, label=label)

    def map_label(self, raw: np.ndarray, path: Path) -> np.ndarray:
        """DELIVER ids -> class ids: 0 and 255 -> ignore, others - 1; out-of-range values are an error."""
        label = np.where((raw == 0) | (raw == 255), self.ignore_index, raw - 1)
        check_label_range(label, len(self.classes), self.ignore_index, path, "(DELIVER stores id + 1, 0 = unlabelled)")
        return label

    def fingerprint(self) -> str:
        extra = f"deliver|{self.split}|{self.condition}|{','.join(self.modalities)}"
        return fingerprint_files(self.root, list(self.files), extra)


def open_deliver(arg: str, *, split: str = "val", condition: str | None = None,
                 modalities: str | Sequence[str] | None = None, classes: Sequence[str] | None = None,
                 channels: Mapping[str, int] | None = None) -> DeliverDataset:
    """Registry factory for ``deliver:PATH`` or ``deliver:PATH,condition=NAME`` (the form a CLI ``--data`` takes)."""
    path, _, rest = arg.partition(",")
    for item in filter(None, rest.split(",")):
        key, sep, value = item.partition("=")
        if key != "condition" or not sep:
            raise ConfigError(f"deliver:{arg}: option {item!r} is unknown; the only one is condition=NAME "
                              f"({', '.join(CONDITIONS)}), e.g. deliver:/data/DELIVER,condition=night")
        if condition is not None and condition != value:
            raise ConfigError(f"deliver:{arg}: condition={value} contradicts condition={condition} given separately")
        condition = value
    if not path:
        raise ConfigError("deliver: no path given; use deliver:/path/to/DELIVER")
    root = Path(path).expanduser()
    return DeliverDataset(
        root=root,
        split=split,
        modalities=parse_modalities(modalities, MODALITIES, f"deliver:{arg}"),
        condition=condition,
        channels=dict(channels or {}),
        classes=tuple(classes) if classes else root_classes(root),
    )


def root_classes(root: Path) -> tuple[str, ...]:
    """Class names from ``root/classes.txt`` when present, else DELIVER's."""
    listing = root / "classes.txt"
    if not listing.is_file():
        return CLASSES
    names = tuple(line.strip() for line in listing.read_text().splitlines() if line.strip())
    if not names:
        raise DataError(f"{listing}: no class names; expected one name a line (or remove it for DELIVER's 25)")
    return names
