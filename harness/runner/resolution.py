"""The resolution a sweep evaluates at, decided once from the manifest and the first frame.

Frames are resized once, into the clean cache (``harness.runner.feeds``), by the manifest's
``resize`` (default: shorter edge to min(``input_size``), DELIVER's evaluation transform), so
raw-space corruptions then act at model resolution. Where labels are scored is the
``evaluation`` convention: ``model`` (DELIVER/Liao) resizes labels with nearest to the model
input and scores there; ``native`` (mmsegmentation) keeps labels at their on-disk size and
resizes the model's logits bilinearly back to it (``harness.runner.execute``).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from harness.backends.interface import TensorSpec
from harness.data.interface import Sample
from harness.data.resize import resize_steps
from harness.errors import DataError
from harness.manifest import Manifest, ResizeSpec
from harness.manifest.model import Evaluation

Array = npt.NDArray[Any]
Size = tuple[int, int]


@dataclass(frozen=True)
class Resolution:
    """The resize the clean cache applies and where the labels are scored."""

    convention: Evaluation
    resize: ResizeSpec
    resize_source: str  # "manifest" or "default from input_size"
    frame_size: Size  # on-disk size of the first sample's first modality
    model_input: Size  # what the graph is fed
    label_size: Size  # where the confusion matrices are counted

    def apply(self, manifest: Manifest, sample: Sample) -> tuple[dict[str, Array], Array]:
        """A sample's raw modality arrays at model resolution and its label at scoring size."""
        first = np.asarray(sample.modalities[manifest.modality_names[0]])
        steps = self.resize.steps(int(first.shape[0]), int(first.shape[1]))
        frames = [(np.asarray(sample.modalities[m.name]), m.preprocess.interpolation) for m in manifest.modalities]
        resized = _pool().map(lambda job: resize_steps(job[0], steps, job[1]), frames) if steps else (f for f, _ in frames)
        raw = dict(zip(manifest.modality_names, resized))
        label = np.asarray(sample.label, dtype=np.int64)
        if self.convention == "model":
            label = resize_steps(label, steps, "nearest")
        return raw, label

    def record(self, manifest: Manifest) -> dict[str, Any]:
        """``results.json`` ``evaluation``: what was resized, fed and scored, at which size."""
        return {
            "convention": self.convention,
            "resize": {**self.resize.to_dict(), "source": self.resize_source},
            "interpolation": {m.name: m.preprocess.interpolation for m in manifest.modalities},
            "frame_size": list(self.frame_size),
            "model_input": list(self.model_input),
            "label_size": list(self.label_size),
        }


def resolve(manifest: Manifest, sample: Sample, where: str, convention: Evaluation | None = None,
            inputs: Sequence[TensorSpec] | None = None) -> Resolution:
    """The ``Resolution`` of a sweep whose first sample is ``sample``; ``convention``
    overrides the manifest's ``evaluation``; ``inputs`` (the session's) are checked for a
    static height/width the resized frames must equal."""
    spec = manifest.effective_resize
    source = "manifest" if manifest.resize is not None else "default from input_size"
    sizes = {name: _hw(sample.modalities[name]) for name in manifest.modality_names}
    frame = sizes[manifest.modality_names[0]]
    if spec.mode == "none" and len(set(sizes.values())) > 1:
        shown = ", ".join(f"{name} {h}x{w}" for name, (h, w) in sizes.items())
        raise DataError(
            f"{where}: sample {sample.sample_id!r} has frames of different sizes ({shown}) and manifest.json has resize "
            f"mode 'none'; set \"resize\" (e.g. {{\"mode\": \"exact\", \"size\": [{frame[0]}, {frame[1]}]}}) or give frames of one size"
        )
    model_input = spec.target(*frame)
    convention = convention or manifest.evaluation
    label = _hw(sample.label) if sample.label is not None else model_input
    if convention == "model" and spec.mode == "none" and label != model_input:
        raise DataError(
            f"{where}: sample {sample.sample_id!r}: label is {label[0]}x{label[1]} but the frames are fed at "
            f"{model_input[0]}x{model_input[1]}; evaluation 'model' scores at the model input: set \"resize\" in "
            "manifest.json or use --evaluation native"
        )
    _check_static(manifest, spec, source, frame, model_input, inputs or (), where)
    return Resolution(convention, spec, source, frame, model_input, model_input if convention == "model" else label)


@functools.lru_cache(maxsize=1)
def _pool() -> ThreadPoolExecutor:
    """Threads that resize a sample's modalities side by side (NumPy releases the GIL), so a
    1042 px DELIVER split is cached at up to four frames at a time; results do not depend on it."""
    return ThreadPoolExecutor(max(1, min(4, os.cpu_count() or 1)), thread_name_prefix="mmharness-resize")


def _hw(array: Any) -> Size:
    shape = np.shape(array)
    return int(shape[0]), int(shape[1])


def _check_static(manifest: Manifest, spec: ResizeSpec, source: str, frame: Size, model_input: Size,
                  inputs: Sequence[TensorSpec], where: str) -> None:
    """A graph with a static height/width takes only that size: name the field to change."""
    specs = {s.name: s for s in inputs}
    for modality in manifest.modalities:
        tensor = specs.get(modality.input)
        if tensor is None:
            continue
        axes = (2, 3) if modality.layout == "NCHW" else (1, 2)
        static = tensor.static_dims()
        graph = tuple(static.get(axis, size) for axis, size in zip(axes, model_input))
        if graph != model_input:
            how = f"resize {spec.to_dict()}" + (" (default from input_size)" if source != "manifest" else "")
            raise DataError(
                f"{where}: frames are {frame[0]}x{frame[1]} and {how} feeds {model_input[0]}x{model_input[1]}, but graph input "
                f"{modality.input!r} is static {graph[0]}x{graph[1]}; set \"resize\": {{\"mode\": \"exact\", \"size\": "
                f"[{graph[0]}, {graph[1]}]}} (or input_size) in manifest.json, or export the graph with dynamic height/width"
            )
