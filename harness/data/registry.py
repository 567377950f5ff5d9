"""Dataset names -> factories, and ``open_dataset(spec)`` that the CLI and runner call.

A spec is ``NAME`` or ``NAME:ARG``: ``synthetic`` (optionally ``synthetic:size=64,length=48,seed=0``),
``deliver:PATH`` (a DELIVER root; ``deliver:PATH,condition=night`` for one case), ``folder:SPEC`` (a YAML/JSON folder spec). Factories are
registered lazily (``"module:attr"``), so naming a dataset imports only its module.
A factory is called as ``factory(arg, split=..., **options)`` and returns a
``SegmentationDataset``; unknown options are a ``ConfigError`` naming the option.
"""

from __future__ import annotations

from typing import Any, Protocol

from harness.data.interface import SegmentationDataset
from harness.registry import Registry


class DatasetFactory(Protocol):
    def __call__(self, arg: str, *, split: str, **options: Any) -> SegmentationDataset: ...


DATASETS: Registry[DatasetFactory] = Registry("dataset")
DATASETS.add("synthetic", "harness.data.synthetic:open_synthetic")
DATASETS.add("deliver", "harness.data.deliver:open_deliver")
DATASETS.add("folder", "harness.data.folder:open_folder")


def open_dataset(spec: str, split: str = "val", **options: Any) -> SegmentationDataset:
    """Open the dataset named by ``spec`` (see module docstring) at ``split``.

    ``options`` are dataset specific: ``condition`` (DELIVER case filter), ``modalities``
    (subset to load), ``seed``/``size``/``length`` (synthetic). Every factory takes
    ``channels={modality: C}``, the model's channel counts from its manifest, and yields
    ``H x W x C`` arrays (or refuses in one line when the data cannot provide them).
    """
    name, _, arg = spec.partition(":")
    return DATASETS.get(name)(arg, split=split, **options)
