"""The dataset's classes must be the model's, name for name and in order, or be mapped onto them.

A confusion matrix only means something when label id ``k`` and output channel ``k`` are the
same class; equal counts are not enough (DELIVER and a Cityscapes-trained model both have
"car", at different ids). ``mmharness run --class-map`` remaps, the way mmsegmentation's
``label_map`` does when a dataset's ``classes`` are a subset or reordering of the model's:

* ``--class-map FILE`` — YAML/JSON ``dataset class: model class`` (``null`` = ignore);
  several dataset classes may map to one model class (``Bus: vehicle``, ``Truck: vehicle``);
* ``--class-map names`` — every dataset class to the model class of the same name (case and
  surrounding blanks ignored).

Dataset classes left unmapped become ``ignore_index``; the labels are remapped as they are
read, so everything downstream (confusion matrices, per-class IoU) is in the model's order.
Channel counts agree the other way round: loaders are opened with the model's
(:func:`model_channels`) and yield them, or refuse.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from harness.data.interface import Sample, SegmentationDataset
from harness.errors import ConfigError, DataError

BY_NAME = "names"
FIX = "relabel the data, use a model exported with the dataset's classes, or pass --class-map FILE (dataset class: model class) or --class-map names"


def model_channels(manifest: Any) -> dict[str, int]:
    """``{modality: channels}`` of a manifest: what ``open_dataset(..., channels=)`` must yield."""
    return {m.name: int(m.channels) for m in manifest.modalities}


def check_classes(model_classes: Sequence[str], dataset: SegmentationDataset, model_name: str, where: str) -> None:
    """Refuse a dataset whose class list differs from the model's: one line naming the first difference."""
    ours, theirs = tuple(model_classes), tuple(dataset.classes)
    if ours == theirs:
        return
    i = next((k for k, (a, b) in enumerate(zip(ours, theirs)) if a != b), min(len(ours), len(theirs)))
    model_says = repr(ours[i]) if i < len(ours) else "nothing (it ends there)"
    data_says = repr(theirs[i]) if i < len(theirs) else "nothing (it ends there)"
    raise DataError(
        f"{where}: classes: dataset {dataset.name!r} ({len(theirs)} classes) and model {model_name!r} (manifest.json, "
        f"{len(ours)} classes) first differ at id {i}: dataset {data_says}, model {model_says}; {FIX}"
    )


def class_lut(spec: str, dataset_classes: Sequence[str], model_classes: Sequence[str], ignore_index: int) -> npt.NDArray[np.int64]:
    """Dataset id -> model id (``ignore_index`` where unmapped) for ``--class-map spec``."""
    if spec == BY_NAME:
        folded = {}
        for k, name in enumerate(model_classes):
            key = name.strip().casefold()
            if key in folded:
                raise ConfigError(f"--class-map names: model classes {model_classes[folded[key]]!r} and {name!r} have the "
                                  f"same name; map them with --class-map FILE")
            folded[key] = k
        mapping: Mapping[str, Any] = {c: model_classes[folded[c.strip().casefold()]] for c in dataset_classes
                                      if c.strip().casefold() in folded}
        if not mapping:
            raise ConfigError(f"--class-map names: no dataset class {list(dataset_classes)[:4]}... has a model class of "
                              f"the same name {list(model_classes)[:4]}...; write a --class-map FILE")
    else:
        mapping = _read_map(Path(spec), dataset_classes, model_classes)
    index = {name: k for k, name in enumerate(model_classes)}
    lut = np.full(len(dataset_classes), ignore_index, dtype=np.int64)
    for k, name in enumerate(dataset_classes):
        target = mapping.get(name)
        if target is not None:
            lut[k] = index[target]
    return lut


def _read_map(path: Path, dataset_classes: Sequence[str], model_classes: Sequence[str]) -> Mapping[str, Any]:
    """A ``dataset class: model class | null`` mapping file, every name checked against both lists."""
    from harness.safeload import yaml_loads

    try:
        data = yaml_loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"--class-map {path}: cannot read ({getattr(error, 'strerror', None) or error}); "
                          f"pass a YAML file 'dataset class: model class' or 'names'") from None
    except ValueError as error:
        raise ConfigError(f"--class-map {path}: not valid YAML/JSON ({error})") from None
    if not isinstance(data, dict) or not data:
        raise ConfigError(f"--class-map {path}: expected a mapping 'dataset class: model class' (null = ignore); "
                          f"got {type(data).__name__}")
    for key, value in data.items():
        if key not in dataset_classes:
            raise ConfigError(f"--class-map {path}: key {key!r} is not a dataset class; expected one of {list(dataset_classes)}")
        if value is not None and value not in model_classes:
            raise ConfigError(f"--class-map {path}: {key}: {value!r} is not a model class (manifest.json); expected one "
                              f"of {list(model_classes)} or null to ignore it")
    return data


@dataclass(frozen=True)
class RemappedDataset:
    """``base`` with labels in the model's class ids (``lut``); modalities pass through untouched."""

    base: SegmentationDataset
    classes: tuple[str, ...]
    lut: npt.NDArray[np.int64]
    ignore_index: int
    spec: str

    @property
    def name(self) -> str:
        return self.base.name

    @property
    def modalities(self) -> tuple[str, ...]:
        return self.base.modalities

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, index: int) -> Sample:
        sample = self.base[index]
        if sample.label is None:
            return sample
        label = np.asarray(sample.label, dtype=np.int64)
        known = (label >= 0) & (label < len(self.lut))
        mapped = np.where(known, self.lut[np.where(known, label, 0)], self.ignore_index)
        return Sample(sample.index, sample.sample_id, sample.modalities, mapped)

    def fingerprint(self) -> str:
        digest = hashlib.sha256(f"{self.base.fingerprint()}|class-map {self.spec}|{self.lut.tolist()}".encode())
        return digest.hexdigest()[:16]


def apply_class_map(dataset: SegmentationDataset, model_classes: Sequence[str], ignore_index: int | None,
                    spec: str | None) -> SegmentationDataset:
    """``dataset`` unchanged without ``spec``; else its labels remapped onto ``model_classes``."""
    if spec is None:
        return dataset
    ignore = dataset.ignore_index if ignore_index is None else ignore_index
    lut = class_lut(spec, dataset.classes, model_classes, ignore)
    return RemappedDataset(dataset, tuple(model_classes), lut, ignore, spec)
