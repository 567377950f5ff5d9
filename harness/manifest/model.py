"""The manifest as frozen values: what each graph input means and how to prepare it.

Built only from a document that already passed the JSON Schema (``schema.py``), so these
classes hold no validation of their own beyond cross-field checks the schema cannot express
(``semantic_problems``). ``Modality.preprocess_array`` is the one place in mmharness that
turns raw sensor arrays into model tensors (scale, mean/std, layout, dtype).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from harness.errors import DataError

Task = Literal["segmentation", "vqa"]
Kind = Literal["image", "depth", "lidar", "event", "thermal", "text"]
Layout = Literal["NCHW", "NHWC"]
Fill = Literal["zero_normalized", "zero_raw", "mean", "noise", "mask"]
OutputRole = Literal["logits", "class_map"]
Interpolation = Literal["bilinear", "nearest"]
ResizeMode = Literal["shorter_edge", "exact", "none"]
Evaluation = Literal["model", "native"]
EVALUATIONS: tuple[str, ...] = ("model", "native")

DEFAULT_GRAPH = "model"


@dataclass(frozen=True)
class Preprocess:
    """``x_norm = (x_raw * scale - mean[c]) / std[c]``; ``mean``/``std`` hold 1 or C values."""

    scale: float = 1.0
    mean: tuple[float, ...] = (0.0,)
    std: tuple[float, ...] = (1.0,)
    interpolation: Interpolation = "bilinear"  # how the raw frame is resized (DELIVER: bilinear for every sensor)

    @property
    def is_identity(self) -> bool:
        return self.scale == 1.0 and all(m == 0.0 for m in self.mean) and all(s == 1.0 for s in self.std)


@dataclass(frozen=True)
class ResizeSpec:
    """How frames reach the model's resolution, once, before preprocessing.

    ``shorter_edge`` is DELIVER's evaluation ``Resize``: scale so the shorter side is
    ``size`` (sides rounded), then resize again so both sides are multiples of ``align``
    (rounded up; 1 = no second step). ``exact`` resizes to ``size`` = (H, W); ``none`` feeds
    frames as stored."""

    mode: ResizeMode = "none"
    size: tuple[int, ...] = ()  # shorter_edge: (S,); exact: (H, W)
    align: int = 1

    def steps(self, height: int, width: int) -> tuple[tuple[int, int], ...]:
        """The successive sizes a ``height x width`` frame is resized to (same-size steps are
        no-ops); DELIVER's arithmetic: float scale, Python ``round``, ceil to ``align``."""
        if self.mode == "none":
            return ()
        if self.mode == "exact":
            return ((self.size[0], self.size[1]),)
        scale = self.size[0] / min(height, width)
        first = (round(height * scale), round(width * scale))
        aligned = (math.ceil(first[0] / self.align) * self.align, math.ceil(first[1] / self.align) * self.align)
        return (first, aligned)

    def target(self, height: int, width: int) -> tuple[int, int]:
        """The size a ``height x width`` frame ends at."""
        steps = self.steps(height, width)
        return steps[-1] if steps else (height, width)

    def to_dict(self) -> dict[str, Any]:
        """The manifest's ``resize`` block."""
        if self.mode == "none":
            return {"mode": "none"}
        if self.mode == "exact":
            return {"mode": "exact", "size": list(self.size)}
        return {"mode": "shorter_edge", "size": self.size[0], "align": self.align}


def default_resize(input_size: tuple[int, int] | None) -> ResizeSpec:
    """The resize used when the manifest has no ``resize``: shorter edge to min(input_size),
    aligned to 32 when that is a multiple of 32 (DELIVER's 1042 px frames on a 1024 model, a
    136 px set on a 128 model); no resize without ``input_size``."""
    if input_size is None:
        return ResizeSpec()
    side = min(input_size)
    return ResizeSpec("shorter_edge", (side,), 32 if side % 32 == 0 else 1)


@dataclass(frozen=True)
class MissingSpec:
    """How an absent modality is represented (docs/metrics.md, EMM): a fill, or a mask input set to 0."""

    fill: Fill = "zero_normalized"
    mask_input: str | None = None  # graph input, 1 = present, 0 = missing (fill == "mask")
    noise_std: float = 1.0  # std of the normalized-space noise (fill == "noise")


@dataclass(frozen=True)
class Modality:
    """One sensor stream and the graph input that carries it."""

    name: str
    input: str
    kind: Kind
    layout: Layout
    dtype: str
    channels: int
    preprocess: Preprocess = field(default_factory=Preprocess)
    missing: MissingSpec = field(default_factory=MissingSpec)
    graph: str = DEFAULT_GRAPH

    @property
    def np_dtype(self) -> np.dtype:
        return np.dtype(self.dtype)

    @property
    def channel_axis(self) -> int:
        """Axis of channels in the model tensor (batch first)."""
        return 1 if self.layout == "NCHW" else 3

    def _per_channel(self, values: tuple[float, ...]) -> npt.NDArray[np.float32]:
        return np.broadcast_to(np.asarray(values, dtype=np.float32), (self.channels,)).copy()

    @property
    def mean(self) -> npt.NDArray[np.float32]:
        """Per-channel mean, shape ``(channels,)``."""
        return self._per_channel(self.preprocess.mean)

    @property
    def std(self) -> npt.NDArray[np.float32]:
        """Per-channel std, shape ``(channels,)``."""
        return self._per_channel(self.preprocess.std)

    def raw_zero_normalized(self) -> npt.NDArray[np.float32]:
        """Per-channel value a raw all-zero input takes after normalization (``zero_raw`` fill)."""
        return (0.0 - self.mean) / self.std

    def preprocess_array(self, raw: npt.NDArray[Any]) -> npt.NDArray[Any]:
        """Raw ``(N, H, W, C)`` or ``(H, W, C)`` sensor array -> model tensor.

        Float modalities: ``float32`` maths ``(x * scale - mean) / std`` per channel, then the
        manifest layout (``NCHW`` or ``NHWC``, always with a batch axis) and dtype. Integer
        modalities (the graph normalizes inside) are only re-laid out; their raw dtype must
        already match. A wrong channel count or rank is a ``DataError``.
        """
        array = np.asarray(raw)
        if array.ndim == 3:
            array = array[None]
        if array.ndim != 4 or array.shape[-1] != self.channels:
            raise DataError(
                f"modality {self.name!r}: raw array shape {tuple(np.shape(raw))}, expected (N, H, W, {self.channels}) "
                f"or (H, W, {self.channels}) channel-last as the manifest declares channels={self.channels}"
            )
        if np.issubdtype(self.np_dtype, np.floating):
            out = array.astype(np.float32, copy=False) * np.float32(self.preprocess.scale)
            out = (out - self.mean) / self.std
        else:
            if array.dtype != self.np_dtype:
                raise DataError(
                    f"modality {self.name!r}: raw dtype {array.dtype}, expected {self.dtype} (integer graph input, no preprocessing)"
                )
            out = array
        if self.layout == "NCHW":
            out = out.transpose(0, 3, 1, 2)
        return np.ascontiguousarray(out, dtype=self.np_dtype)


@dataclass(frozen=True)
class OutputSpec:
    """A graph output the harness reads: ``logits`` (N, C, H, W scores) or ``class_map`` (N, H, W ids)."""

    name: str
    role: OutputRole
    layout: str = "NCHW"
    graph: str = DEFAULT_GRAPH


@dataclass(frozen=True)
class BatchSpec:
    """Batch axis of every input: dynamic (up to ``max``) or fixed to ``size``."""

    dynamic: bool
    max: int | None = None
    size: int | None = None

    def largest(self) -> int | None:
        """The biggest batch the runner may feed (None: no stated limit)."""
        return self.max if self.dynamic else self.size


@dataclass(frozen=True)
class Constant:
    """A graph input fed with a fixed value on every run (e.g. a temperature scalar)."""

    input: str
    dtype: str
    value: Any
    shape: tuple[int, ...] | None = None
    graph: str = DEFAULT_GRAPH

    def array(self) -> npt.NDArray[Any]:
        """The value as an array of ``dtype`` (broadcast to ``shape`` when given)."""
        value = np.asarray(self.value, dtype=np.dtype(self.dtype))
        return np.broadcast_to(value, self.shape).copy() if self.shape is not None else value


@dataclass(frozen=True)
class Manifest:
    """A validated ``manifest.json``; paths in ``graphs`` are relative to ``model_dir``."""

    schema_version: int
    name: str
    task: Task
    graphs: Mapping[str, str]
    model_dir: str
    modalities: tuple[Modality, ...] = ()
    outputs: tuple[OutputSpec, ...] = ()
    classes: tuple[str, ...] = ()
    ignore_index: int | None = None
    batch: BatchSpec = field(default_factory=lambda: BatchSpec(dynamic=True))
    input_size: tuple[int, int] | None = None
    resize: ResizeSpec | None = None  # None: ``default_resize(input_size)``
    evaluation: Evaluation = "model"  # score at the model input size (DELIVER/Liao) or the label's (mmseg)
    constants: tuple[Constant, ...] = ()
    checksums: Mapping[str, str] = field(default_factory=dict)
    provenance: Mapping[str, Any] = field(default_factory=dict)
    parity: Mapping[str, Any] = field(default_factory=dict)
    vqa: Mapping[str, Any] | None = None
    description: str = ""

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def effective_resize(self) -> ResizeSpec:
        """The manifest's ``resize``, else the default derived from ``input_size``."""
        return self.resize if self.resize is not None else default_resize(self.input_size)

    def modality(self, name: str) -> Modality:
        """The modality called ``name`` (a ``KeyError`` lists the declared ones)."""
        for modality in self.modalities:
            if modality.name == name:
                return modality
        raise KeyError(f"no modality {name!r} (declared: {', '.join(m.name for m in self.modalities)})")

    @property
    def modality_names(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.modalities)

    def graph_path(self, role: str = DEFAULT_GRAPH) -> str:
        """Path of the graph file for ``role`` (``model_dir`` joined with its relative name)."""
        return os.path.join(self.model_dir, self.graphs[role])


def _floats(values: Sequence[float] | None, default: tuple[float, ...]) -> tuple[float, ...]:
    return tuple(float(v) for v in values) if values is not None else default


def manifest_from_document(doc: Mapping[str, Any], model_dir: str) -> Manifest:
    """Frozen ``Manifest`` from a schema-valid document (defaults filled in here, once)."""
    modalities = tuple(_modality(m) for m in doc.get("modalities", []))
    outputs = tuple(_output(o) for o in doc.get("outputs", []))
    batch_doc = doc.get("batch", {"dynamic": True})
    constants = tuple(_constant(c) for c in doc.get("constants", []))
    size = doc.get("input_size")
    resize = doc.get("resize")
    return Manifest(
        schema_version=int(doc["schema_version"]),
        name=doc["name"],
        task=doc["task"],
        graphs=dict(doc["graphs"]),
        model_dir=model_dir,
        modalities=modalities,
        outputs=outputs,
        classes=tuple(doc.get("classes", ())),
        ignore_index=doc.get("ignore_index"),
        batch=BatchSpec(dynamic=bool(batch_doc["dynamic"]), max=batch_doc.get("max"), size=batch_doc.get("size")),
        input_size=(int(size[0]), int(size[1])) if size is not None else None,
        resize=_resize(resize) if resize is not None else None,
        evaluation=doc.get("evaluation", "model"),
        constants=constants,
        checksums=dict(doc.get("checksums", {})),
        provenance=dict(doc.get("provenance", {})),
        parity=dict(doc.get("parity", {})),
        vqa=dict(doc["vqa"]) if "vqa" in doc else None,
        description=doc.get("description", ""),
    )


def _modality(m: Mapping[str, Any]) -> Modality:
    """One ``modalities[]`` entry with its preprocess and missing-fill defaults."""
    preprocess, missing = m.get("preprocess", {}), m.get("missing", {})
    return Modality(
        name=m["name"],
        input=m["input"],
        kind=m["kind"],
        layout=m["layout"],
        dtype=m["dtype"],
        channels=int(m["channels"]),
        preprocess=Preprocess(
            scale=float(preprocess.get("scale", 1.0)),
            mean=_floats(preprocess.get("mean"), (0.0,)),
            std=_floats(preprocess.get("std"), (1.0,)),
            interpolation=preprocess.get("interpolation", "bilinear"),
        ),
        missing=MissingSpec(
            fill=missing.get("fill", "zero_normalized"),
            mask_input=missing.get("mask_input"),
            noise_std=float(missing.get("noise_std", 1.0)),
        ),
        graph=m.get("graph", DEFAULT_GRAPH),
    )


def _resize(r: Mapping[str, Any]) -> ResizeSpec:
    """The ``resize`` block; ``align`` defaults to 32 for ``shorter_edge``."""
    if r["mode"] == "none":
        return ResizeSpec()
    if r["mode"] == "exact":
        return ResizeSpec("exact", (int(r["size"][0]), int(r["size"][1])))
    return ResizeSpec("shorter_edge", (int(r["size"]),), int(r.get("align", 32)))


def _output(o: Mapping[str, Any]) -> OutputSpec:
    """One ``outputs[]`` entry; the layout defaults by role (logits NCHW, class maps NHW)."""
    return OutputSpec(
        name=o["name"],
        role=o["role"],
        layout=o.get("layout", "NCHW" if o["role"] == "logits" else "NHW"),
        graph=o.get("graph", DEFAULT_GRAPH),
    )


def _constant(c: Mapping[str, Any]) -> Constant:
    """One ``constants[]`` entry; ``shape`` stays ``None`` when the document has none."""
    return Constant(
        input=c["input"],
        dtype=c["dtype"],
        value=c["value"],
        shape=tuple(c["shape"]) if "shape" in c else None,
        graph=c.get("graph", DEFAULT_GRAPH),
    )
