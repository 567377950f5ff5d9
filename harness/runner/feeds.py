"""Clean inputs, computed once per sweep, and the per-cell perturbation that turns a batch of
them into graph feeds (docs/metrics.md processing order: raw-space corruptions -> preprocess ->
normalized-space perturbations and missing fills -> model).

Every random draw comes from ``harness.seeding`` keyed by (run seed, cell id, sample index,
modality), so a sample gets the same perturbation whatever its batch, shard or run order. The
Liao preset is batch-level by definition and keys on the batch's first sample index; the
batch size is recorded with every cell.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from harness.backends.interface import TensorSpec
from harness.corruptions.missing import (
    fill_missing,
    liao_noise,
    mask_array,
    random_missing,
)
from harness.data.agreement import check_classes
from harness.data.interface import Sample, SegmentationDataset
from harness.errors import DataError
from harness.manifest import Manifest, Modality
from harness.manifest.model import Evaluation
from harness.runner.clean_cache import (
    CacheMode,
    DiskCache,
    allocate_memory,
    read_only,
    wants_disk,
)
from harness.runner.resolution import Resolution, resolve
from harness.scenarios.cells import Cell, Step
from harness.seeding import rng_for, rngs_for

Array = npt.NDArray[Any]


@dataclass(frozen=True)
class CleanInputs:
    """The selected samples, raw (kept for raw-space corruptions) and preprocessed once,
    both at model resolution (``resolution``: the resize applied, where labels are scored).

    The arrays are read-only, in RAM or mapped from ``OUT/clean-cache`` (``place``)."""

    indices: npt.NDArray[np.int64]
    sample_ids: tuple[str, ...]
    raw: dict[str, Array]  # modality -> (n, H, W, C) as the dataset yields it, resized to the model input
    tensors: dict[str, Array]  # modality -> model tensor (n, ...) in the manifest layout/dtype
    labels: npt.NDArray[np.int64]  # (n, H, W) at resolution.label_size
    place: str = "memory"
    resolution: Resolution | None = None

    def __len__(self) -> int:
        return len(self.indices)


def check_dataset(manifest: Manifest, dataset: SegmentationDataset, where: str, evaluation: Evaluation | None = None) -> None:
    """The dataset must provide every manifest modality and the model's class names in order, in
    frames the resolution rules accept (``evaluation`` overrides the manifest's)."""
    missing = [m for m in manifest.modality_names if m not in dataset.modalities]
    if missing:
        raise DataError(
            f"{where}: modalities: model {manifest.name!r} needs {', '.join(missing)} but dataset "
            f"{dataset.name!r} provides {', '.join(dataset.modalities)}; pick a dataset with those sensors or a matching model"
        )
    check_classes(manifest.classes, dataset, manifest.name, where)  # names, in order (harness/data/agreement.py)
    if len(dataset) > 0:
        resolve(manifest, dataset[0], where, evaluation)  # frame sizes against resize/input_size, before any cell runs


def load_clean(manifest: Manifest, dataset: SegmentationDataset, limit: int | None, *, start: int = 0,
               mode: CacheMode = "memory", cache: DiskCache | None = None, evaluation: Evaluation | None = None,
               inputs: Sequence[TensorSpec] | None = None) -> CleanInputs:
    """Read samples ``start`` .. ``limit - 1`` (to the end when None), resize them once to the
    model input (``harness.runner.resolution``; ``evaluation`` overrides the manifest's,
    ``inputs`` are the session's, checked for a static height/width) and preprocess each
    modality once.

    Samples stream one at a time into preallocated arrays: in RAM, or (``mode`` ``disk``, or
    ``auto`` above ``AUTO_DISK_BYTES``) into ``cache``'s files, so RAM stays bounded by one
    sample while writing and by the batch while running. A complete cache of the same run
    (``--resume``) is re-opened instead of rebuilt."""
    stop = len(dataset) if limit is None else min(limit, len(dataset))
    n = stop - start
    if n <= 0:
        raise DataError(f"dataset {dataset.name!r} is empty; nothing to evaluate")
    names = [f"raw.{m}" for m in manifest.modality_names] + [f"tensor.{m}" for m in manifest.modality_names] + ["labels"]
    first = dataset[start]
    resolution = resolve(manifest, first, f"dataset {dataset.name!r}", evaluation, inputs)
    if cache is not None and mode != "memory":
        reopened = cache.open(names)
        extra = cache.read_extra() if reopened is not None else {}
        if reopened is not None and (extra.get("start"), extra.get("n")) == (start, n):
            return _clean_inputs(reopened, extra, manifest, "disk (re-opened)", resolution)
    row = _sample_row(manifest, dataset, first, resolution)
    total = n * sum(a.nbytes for a in row.values())
    disk = cache is not None and wants_disk(mode, total)
    allocate = cache.allocate if disk and cache is not None else allocate_memory
    if disk and cache is not None:
        cache.remove()  # a stale marker must never vouch for half-written files
        print(f"mmharness: preprocessing {n} samples once into {cache.root} ({total / 2**20:.1f} MiB, mapped read-only)", file=sys.stderr)
    arrays = {name: allocate(name, (n, *a.shape), a.dtype) for name, a in row.items()}
    indices, sample_ids = [], []
    for i in range(n):
        sample = first if i == 0 else dataset[start + i]
        for name, array in (row if i == 0 else _sample_row(manifest, dataset, sample, resolution)).items():
            if name == "labels" and resolution.convention == "native" and array.shape != arrays[name].shape[1:]:
                raise DataError(
                    f"dataset {dataset.name!r}: sample {sample.sample_id}: label is {array.shape[0]}x{array.shape[1]} but sample "
                    f"{first.sample_id}'s is {arrays[name].shape[1]}x{arrays[name].shape[2]}; evaluation 'native' keeps labels at "
                    "their on-disk size, which must be one size per split; use --evaluation model or a split of one size"
                )
            if array.shape != arrays[name].shape[1:] or array.dtype != arrays[name].dtype:
                raise DataError(
                    f"dataset {dataset.name!r}: sample {sample.sample_id}: {name} is {array.dtype}{list(array.shape)}"
                    f"{_on_disk(manifest, sample, resolution)}, expected {arrays[name].dtype}{list(arrays[name].shape[1:])} like "
                    f"sample {first.sample_id}; every frame of a split must have the same size and dtype after the manifest's "
                    "resize (set \"resize\" to mode 'exact', resize the data or pick a split that does)"
                )
            arrays[name][i] = array
        indices.append(int(sample.index))
        sample_ids.append(sample.sample_id)
    extra = {"start": start, "n": n, "indices": indices, "sample_ids": sample_ids}
    if disk and cache is not None:
        return _clean_inputs(cache.seal(arrays, extra), extra, manifest, "disk", resolution)
    return _clean_inputs(read_only(arrays), extra, manifest, "memory", resolution)


def _on_disk(manifest: Manifest, sample: Sample, resolution: Resolution) -> str:
    """`` (frames HxW on disk, resize ...)`` when the resize changed the frame's size."""
    h, w = np.shape(sample.modalities[manifest.modality_names[0]])[:2]
    if resolution.resize.target(h, w) == (h, w):
        return ""
    return f" (frames {h}x{w} on disk, resize {resolution.resize.to_dict()})"


def _sample_row(manifest: Manifest, dataset: SegmentationDataset, sample: Sample, resolution: Resolution) -> dict[str, Array]:
    """One sample's cache row: raw arrays and preprocessed tensors (batch axis dropped) at
    model resolution, and the label at scoring size."""
    if sample.label is None:
        raise DataError(f"dataset {dataset.name!r}: sample {sample.sample_id} has no label; evaluation needs labels for every sample")
    raw, label = resolution.apply(manifest, sample)
    row = {f"raw.{name}": array for name, array in raw.items()}
    row.update({f"tensor.{m.name}": m.preprocess_array(raw[m.name])[0] for m in manifest.modalities})
    row["labels"] = label
    return row


def _clean_inputs(arrays: dict[str, Array], extra: dict[str, Any], manifest: Manifest, place: str,
                  resolution: Resolution) -> CleanInputs:
    return CleanInputs(
        indices=np.asarray(extra["indices"], dtype=np.int64),
        sample_ids=tuple(extra["sample_ids"]),
        raw={m: arrays[f"raw.{m}"] for m in manifest.modality_names},
        tensors={m: arrays[f"tensor.{m}"] for m in manifest.modality_names},
        labels=arrays["labels"],
        place=place,
        resolution=resolution,
    )


class FeedBuilder:
    """Builds the graph feeds of one batch of one cell from the clean inputs."""

    def __init__(self, manifest: Manifest, clean: CleanInputs, inputs: list[TensorSpec], seed: int) -> None:
        self.manifest = manifest
        self.clean = clean
        self.seed = seed
        self.specs = {spec.name: spec for spec in inputs}

    def feeds(self, cell: Cell, rows: npt.NDArray[np.int64]) -> dict[str, Array]:
        """Feeds for clean rows ``rows`` (positions in ``CleanInputs``) under ``cell``."""
        indices = self.clean.indices[rows]
        tensors = {m.name: take(self.clean.tensors[m.name], rows) for m in self.manifest.modalities}
        absent: set[str] = set()
        raw: dict[str, Array] = {}  # raw-space results so far, so raw corruptions chain
        # raw-space corruptions first, then everything in normalized space, in step order
        ordered = sorted(cell.steps, key=lambda step: 0 if self._is_raw(step) else 1)
        for step in ordered:
            for name in step.modalities:
                modality = self.manifest.modality(name)
                if self._is_raw(step):
                    source = raw.get(name, take(self.clean.raw[name], rows))
                    raw[name] = self._corrupt_raw(step, modality, source, indices, cell.id)
                    tensors[name] = modality.preprocess_array(raw[name])
                else:
                    tensors[name] = self._apply(step, modality, tensors[name], indices, cell.id)
                if step.op == "fill":
                    absent.add(name)
        feeds = {self.manifest.modality(name).input: tensor for name, tensor in tensors.items()}
        for modality in self.manifest.modalities:
            if modality.missing.mask_input:
                feeds[modality.missing.mask_input] = self._mask(modality.missing.mask_input, len(rows), modality.name not in absent)
        for constant in self.manifest.constants:
            feeds[constant.input] = constant.array()
        return feeds

    @staticmethod
    def _is_raw(step: Step) -> bool:
        if step.op != "corrupt":
            return False
        from harness.corruptions import api

        return api.get(step.name).space == "raw"

    def _apply(self, step: Step, modality: Modality, tensor: Array, indices: Array, cell_id: str) -> Array:
        """A normalized-space step on the model tensor of one modality."""
        if step.op == "fill":
            rngs = rngs_for(self.seed, cell_id, indices, modality.name) if modality.missing.fill == "noise" else ()
            fill = "zero_normalized" if modality.missing.fill == "mask" else modality.missing.fill
            filled = fill_missing(tensor, fill, modality.preprocess, rngs)  # type: ignore[arg-type]  # frozen Preprocess satisfies the read-only use
            return filled * np.float32(modality.missing.noise_std) if fill == "noise" else filled
        if step.op == "drop":
            return random_missing(tensor, step.rate, rngs_for(self.seed, cell_id, indices, modality.name))
        if step.op == "preset":
            rng = rng_for(self.seed, cell_id, int(indices[0]), modality.name)
            return liao_noise(tensor, step.level, modality.kind == "event", rng)
        return self._corrupt(step, modality, tensor, indices, cell_id)

    def _corrupt_raw(self, step: Step, modality: Modality, raw: Array, indices: Array, cell_id: str) -> Array:
        from harness.corruptions import api

        return api.corrupt(raw, step.name, step.severity, rngs_for(self.seed, cell_id, indices, modality.name), kind=modality.kind)

    def _corrupt(self, step: Step, modality: Modality, tensor: Array, indices: Array, cell_id: str) -> Array:
        """A corruption registered in normalized space, on the model tensor."""
        from harness.corruptions import api

        layout: Literal["HWC", "CHW"] = "CHW" if modality.layout == "NCHW" else "HWC"
        return api.corrupt(tensor, step.name, step.severity, rngs_for(self.seed, cell_id, indices, modality.name), kind=modality.kind, layout=layout)

    def _mask(self, name: str, batch: int, present: bool) -> Array:
        spec = self.specs.get(name)
        if spec is None:
            return mask_array((batch,), present)
        shape = (batch,) + tuple(d if isinstance(d, int) and d > 0 else 1 for d in spec.shape[1:])
        return mask_array(shape, present, spec.dtype)


def take(array: Array, rows: npt.NDArray[np.int64]) -> Array:
    """``array[rows]``, as a view (no copy) when ``rows`` is a contiguous ascending range,
    which is what the batcher produces; perturbations never modify their input."""
    if len(rows) and rows[-1] - rows[0] + 1 == len(rows) and (len(rows) < 2 or bool(np.all(np.diff(rows) == 1))):
        return array[int(rows[0]) : int(rows[-1]) + 1]
    return array[rows]


def pad_rows(feeds: dict[str, Array], batch: int, size: int) -> dict[str, Array]:
    """Repeat the last row of every batched feed up to ``size`` (graphs with a fixed batch)."""
    if batch == size:
        return feeds
    out = {}
    for name, array in feeds.items():
        if array.ndim and array.shape[0] == batch:
            array = np.concatenate([array, np.repeat(array[-1:], size - batch, axis=0)])
        out[name] = array
    return out
