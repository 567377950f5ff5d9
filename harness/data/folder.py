"""A generic on-disk dataset described by a small spec file (YAML or JSON).

For data that is neither synthetic nor DELIVER: each modality is a path template with
``{split}`` and ``{id}`` placeholders, relative to ``root`` (default: the spec file's folder)::

    classes: [background, road, car]
    ignore_index: 255
    modalities:                       # order = manifest order; the first one defines frame ids
      rgb: "{split}/rgb/{id}.png"
      depth: "{split}/depth/{id}.png"
    label: "{split}/label/{id}.png"
    channels: {depth: 3}              # optional: channels per modality (default: the model's, from
                                      # its manifest, else 3); must agree with the manifest
    resize_nearest: [depth]           # optional: resize these to the first modality's size
    label_map: {0: 255}               # optional: raw value -> class id, before the range check

Loader-level preprocessing is limited to what makes frames comparable (channel repeat, nearest
resize, label remapping); normalization stays the manifest's job. Specs are data
(``yaml.safe_load``); unknown keys are rejected.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
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
from harness.paths import confined
from harness.safeload import yaml_loads

SPEC_KEYS = {"root", "classes", "ignore_index", "modalities", "label", "channels", "resize_nearest", "label_map"}


@dataclass(frozen=True)
class FolderSpec:
    """A validated folder spec; paths are absolute."""

    path: Path
    root: Path
    classes: tuple[str, ...]
    ignore_index: int
    templates: Mapping[str, str]
    label: str
    channels: Mapping[str, int]
    resize: frozenset[str]
    label_map: Mapping[int, int]
    explicit: frozenset[str] = frozenset()  # modalities whose channels the spec states


def load_spec(path: Path) -> FolderSpec:
    """Parse and validate a spec file; every error names the file and the field."""
    try:
        data = yaml_loads(path.read_text())
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot read the folder spec ({getattr(error, 'strerror', None) or error}); pass folder:/path/to/spec.yaml") from None
    except ValueError as error:  # YAML syntax, nesting, NaN (harness.safeload)
        raise ConfigError(f"{path}: not valid YAML/JSON ({error})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping with keys {sorted(SPEC_KEYS)}; got {type(data).__name__}")

    def bad(key: str, expected: str) -> ConfigError:
        return ConfigError(f"{path}: {key}: expected {expected}; got {data.get(key)!r}")

    unknown = sorted(set(data) - SPEC_KEYS)
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(SPEC_KEYS))}")
    for key in ("classes", "modalities", "label"):
        if key not in data:
            raise ConfigError(f"{path}: {key}: missing; see harness/data/folder.py for the spec format")
    classes = data["classes"]
    if not isinstance(classes, list) or not classes or not all(isinstance(c, str) for c in classes):
        raise bad("classes", "a non-empty list of class names")
    templates = data["modalities"]
    if not isinstance(templates, dict) or not templates or not all(isinstance(v, str) and "{id}" in v for v in templates.values()):
        raise bad("modalities", "a mapping modality -> path template containing {id}")
    if not isinstance(data["label"], str) or "{id}" not in data["label"]:
        raise bad("label", "a path template containing {id}")
    for key, template in [*((f"modalities.{m}", t) for m, t in templates.items()), ("label", data["label"])]:
        if os.path.isabs(template) or ".." in Path(template).parts:
            raise ConfigError(f"{path}: {key}: {template!r} must be relative to root and stay inside it (no absolute path, no ..)")
    ignore = data.get("ignore_index", 255)
    if not isinstance(ignore, int) or 0 <= ignore < len(classes):
        raise bad("ignore_index", f"an integer outside [0, {len(classes)})")
    given = data.get("channels") or {}
    channels = {m: 3 for m in templates} | (given if isinstance(given, dict) else {None: None})
    if set(channels) - set(templates) or not all(isinstance(c, int) and not isinstance(c, bool) and c >= 1 for c in channels.values()):
        raise bad("channels", "a mapping of listed modalities to channel counts >= 1")
    resize = data.get("resize_nearest") or []
    if not isinstance(resize, list) or not all(isinstance(m, str) and m in templates for m in resize):
        raise bad("resize_nearest", f"a list of modalities among {list(templates)}")
    label_map = data.get("label_map") or {}
    try:
        label_map = {int(k): int(v) for k, v in dict(label_map).items()}
    except (TypeError, ValueError, OverflowError):
        raise bad("label_map", "a mapping of integer raw values to integer class ids") from None
    if not all(-(2**31) <= n < 2**31 for pair in label_map.items() for n in pair):
        raise bad("label_map", "raw values and class ids within the 32-bit range of label images")
    root = (path.parent / str(data.get("root", "."))).resolve()  # resolved: paths are confined to it (harness.paths)
    return FolderSpec(path, root, tuple(classes), ignore, dict(templates), data["label"], channels, frozenset(resize), label_map,
                      frozenset(data.get("channels") or {}))


def _frame_ids(spec: FolderSpec, split: str) -> list[str]:
    """Ids found by globbing the first modality's template (``{id}`` -> ``*``)."""
    template = next(iter(spec.templates.values())).replace("{split}", split)
    before, _, after = template.partition("{id}")
    pattern = re.compile(re.escape(before) + "(.+)" + re.escape(after) + "$")
    ids = []
    for found in sorted(spec.root.glob(before + "*" + after)):
        match = pattern.match(found.relative_to(spec.root).as_posix())
        if match:
            ids.append(match.group(1))
    return ids


@dataclass(frozen=True)
class FolderDataset:
    spec: FolderSpec
    split: str = "val"
    modalities: tuple[str, ...] = ()
    name: str = "folder"
    ids: tuple[str, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        ids = _frame_ids(self.spec, self.split)
        first = next(iter(self.spec.templates))
        if not ids:
            raise DataError(f"{self.spec.path}: modalities.{first}: no file matches {self.path(first, '*')}; check root and split")
        object.__setattr__(self, "ids", tuple(ids))
        if not self.modalities:
            object.__setattr__(self, "modalities", tuple(self.spec.templates))
        expected = {m: [self.path(m, i) for i in ids] for m in self.modalities if m != first}
        expected["label"] = [self.path("label", i) for i in ids]
        check_present(expected, f"{self.spec.path} ({self.split})")

    @property
    def classes(self) -> tuple[str, ...]:
        return self.spec.classes

    @property
    def ignore_index(self) -> int:
        return self.spec.ignore_index

    def path(self, modality: str, frame: str) -> Path:
        template = self.spec.label if modality == "label" else self.spec.templates[modality]
        field = "label" if modality == "label" else f"modalities.{modality}"
        return confined(self.spec.root, template.replace("{split}", self.split).replace("{id}", frame), f"{self.spec.path}: {field}", DataError)

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> Sample:
        frame = self.ids[index]
        first = next(iter(self.spec.templates))
        arrays: dict[str, Any] = {}
        size: tuple[int, int] | None = None
        for m in (first, *[m for m in self.modalities if m != first]):
            image = read_image(self.path(m, frame), self.spec.channels[m])
            size = size or image.shape[:2]
            if m in self.spec.resize:
                image = resize_nearest(image, *size)
            if image.shape[:2] != size:
                raise DataError(f"{self.path(m, frame)}: size {image.shape[:2]} differs from {first}'s {size}; "
                                f"add {m} to resize_nearest in {self.spec.path}")
            arrays[m] = image
        label_path = self.path("label", frame)
        label = read_label(label_path)
        if self.spec.label_map:
            label = _remap(label, self.spec.label_map)
        check_label_range(label, len(self.classes), self.ignore_index, label_path, f"(spec {self.spec.path.name})")
        return Sample(index=index % len(self), sample_id=frame, modalities={m: arrays[m] for m in self.modalities}, label=label)

    def fingerprint(self) -> str:
        paths = [self.path(m, i) for i in self.ids for m in (*self.modalities, "label")]
        return fingerprint_files(self.spec.root, paths, f"folder|{self.split}|{','.join(self.modalities)}")


def with_channels(spec: FolderSpec, wanted: Mapping[str, int]) -> FolderSpec:
    """The spec reading each modality with the model's channel count; a spec entry that states another is refused."""
    for name, count in wanted.items():
        if name in spec.explicit and spec.channels[name] != count:
            raise ConfigError(f"{spec.path}: channels.{name}: {spec.channels[name]} contradicts the model's {count} "
                              f"(manifest.json channels); set it to {count} or remove it (the manifest's count is the default)")
    return replace(spec, channels={**spec.channels, **{m: c for m, c in wanted.items() if m in spec.templates}})


def _remap(label: np.ndarray, mapping: Mapping[int, int]) -> np.ndarray:
    """Replace raw values listed in ``mapping``; other values pass through unchanged."""
    keys = np.array(sorted(mapping), dtype=np.int64)
    values = np.array([mapping[k] for k in keys], dtype=np.int64)
    pos = np.searchsorted(keys, label).clip(0, len(keys) - 1)
    return np.where(keys[pos] == label, values[pos], label)


def open_folder(arg: str, *, split: str = "val", modalities: str | Sequence[str] | None = None,
                channels: Mapping[str, int] | None = None) -> FolderDataset:
    """Registry factory for ``folder:SPEC``; ``channels`` are the model's (manifest) channel counts."""
    if not arg:
        raise ConfigError("folder: no spec given; use folder:/path/to/spec.yaml")
    spec = with_channels(load_spec(Path(arg).expanduser()), channels or {})
    chosen = parse_modalities(modalities, tuple(spec.templates), f"folder:{arg}")
    return FolderDataset(spec=spec, split=split, modalities=chosen)
