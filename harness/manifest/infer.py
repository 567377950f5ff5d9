"""Infer a segmentation manifest from an ONNX graph the harness did not export.

The graph says dtypes, ranks, static dims and names; everything else (which sensor an input
carries, its normalisation, the class names) is a guess from names and presets, or a flag.
Each guess is recorded as a note the user must confirm, so ``mmharness init`` can print them.
Nothing here touches the disk: ``harness.manifest.bootstrap`` reads the graph and writes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, NoReturn

import numpy as np

from harness.backends.interface import TensorSpec
from harness.errors import ConfigError, ManifestError
from harness.manifest.onnx_io import GraphIO
from harness.manifest.presets import (
    KIND_TOKENS,
    KINDS,
    PRESETS,
    kinds_in_name,
    name_tokens,
    preset_preprocess,
    resolve_classes,
)

DTYPES = ("float32", "float16", "uint8", "int8", "int32", "int64", "bool")
LAYOUTS = ("NCHW", "NHWC")
MODALITY_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
RESIZE_ALIGN = 32
_HINT = ("--modality {name}=NAME:KIND (KIND: " + ", ".join(KINDS) + "), or --mask {name}=MODALITY / "
         "--constant {name}=VALUE if it is not a sensor")


@dataclass(frozen=True)
class InitOptions:
    """What the user said; ``None`` means "infer it from the graph"."""

    modalities: Mapping[str, tuple[str, str, str | None]] = field(default_factory=dict)  # input -> name, kind, layout
    masks: Mapping[str, str] = field(default_factory=dict)  # mask input -> modality name or input
    constants: Mapping[str, Any] = field(default_factory=dict)  # input -> value
    preset: str = "deliver"
    classes: str | None = None  # deliver | cityscapes | file
    num_classes: int | None = None
    input_size: tuple[int, int] | None = None
    evaluation: str | None = None  # model | native
    output: str | None = None
    output_layout: str | None = None
    batch_max: int = 16
    ignore_index: int = 255


@dataclass(frozen=True)
class InferredModality:
    """One modality entry and how it was found (``source``: name token or flag)."""

    name: str
    input: str
    kind: str
    layout: str
    dtype: str
    channels: int
    preprocess: dict[str, Any]
    source: str
    missing: dict[str, Any] = field(default_factory=lambda: {"fill": "zero_normalized"})

    def entry(self) -> dict[str, Any]:
        keys = ("name", "input", "kind", "layout", "dtype", "channels", "preprocess", "missing")
        return {key: getattr(self, key) for key in keys}


@dataclass(frozen=True)
class InferredOutput:
    name: str
    role: str  # logits | class_map
    layout: str  # NCHW | NHWC | NHW
    num_classes: int | None  # the static class axis of logits
    shape: tuple[Any, ...]


@dataclass(frozen=True)
class Inference:
    """Everything a manifest needs besides name, graph file, checksums and provenance."""

    modalities: tuple[InferredModality, ...]
    constants: tuple[dict[str, Any], ...]
    output: InferredOutput
    classes: tuple[str, ...]
    classes_source: str
    input_size: tuple[int, int]
    size_source: str
    batch: dict[str, Any]
    preset: str
    evaluation: str | None
    ignore_index: int
    confirm: tuple[str, ...]

    @property
    def resize(self) -> dict[str, Any]:
        """Shorter edge to the model's resolution; aligned to 32 when that size allows it."""
        size = min(self.input_size)
        return {"mode": "shorter_edge", "size": size, "align": RESIZE_ALIGN if size % RESIZE_ALIGN == 0 else 1}

    def document(self, name: str, graph_file: str, checksums: Mapping[str, str],
                 provenance: Mapping[str, Any]) -> dict[str, Any]:
        """The manifest document (validated by ``write_manifest``, not here)."""
        doc: dict[str, Any] = {
            "schema_version": 1,
            "name": name,
            "task": "segmentation",
            "description": f"inferred by mmharness init from {graph_file} (assumptions in provenance.init)",
            "graphs": {"model": graph_file},
            "modalities": [m.entry() for m in self.modalities],
            "outputs": [{"name": self.output.name, "role": self.output.role, "layout": self.output.layout}],
            "classes": list(self.classes),
            "ignore_index": self.ignore_index,
            "batch": dict(self.batch),
            "input_size": list(self.input_size),
            "resize": self.resize,
        }
        if self.evaluation is not None:
            doc["evaluation"] = self.evaluation
        if self.constants:
            doc["constants"] = [dict(c) for c in self.constants]
        doc["checksums"] = dict(checksums)
        doc["provenance"] = dict(provenance)
        return doc


def _shape(shape: Sequence[Any]) -> str:
    return "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"


def _static(spec: TensorSpec, axis: int) -> int | None:
    return spec.static_dims().get(axis)


def channel_layout(spec: TensorSpec, hw: tuple[int, int] | None = None) -> tuple[str | None, bool]:
    """(``NCHW``/``NHWC``/None when both candidate axes are dynamic, ambiguous?) of a rank-4 tensor.

    Axes 2/3 or 1/2 equal to ``hw`` are the spatial ones. Else, with one of axes 1 and 3
    static: if axis 2 is static too, the two static neighbours are H, W (``[N, ?, 64, 64]`` is
    NCHW with a dynamic class axis), otherwise the static one is C. With both static the
    smaller is C (sensor channels are few); a tie is NCHW, flagged ambiguous.
    """
    c1, c2, c3 = (_static(spec, axis) for axis in (1, 2, 3))
    if hw is not None and (c2, c3) == hw:
        return "NCHW", False
    if hw is not None and (c1, c2) == hw:
        return "NHWC", False
    if c1 is None and c3 is None:
        return None, False
    if c1 is None or c3 is None:
        static_is_channel = c2 is None
        return ("NCHW" if (c1 is not None) == static_is_channel else "NHWC"), False
    if c1 != c3:
        return ("NCHW" if c1 < c3 else "NHWC"), False
    return "NCHW", True


def modality_name(input_name: str) -> str:
    """A manifest modality name (``[a-z][a-z0-9_]*``) from a graph input name."""
    name = re.sub(r"[^a-z0-9]+", "_", re.sub(r"([a-z])([A-Z])", r"\1_\2", input_name).lower()).strip("_")
    return name if name[:1].isalpha() else f"m_{name}".rstrip("_")


def _unique(name: str, taken: set[str]) -> str:
    candidate, index = name, 2
    while candidate in taken:
        candidate, index = f"{name}_{index}", index + 1
    return candidate


class _Inferrer:
    """Walks one graph's inputs and outputs; raises the first problem as one line."""

    def __init__(self, io: GraphIO, options: InitOptions, where: str) -> None:
        self.io, self.options, self.where = io, options, where
        self.confirm: list[str] = []
        self.guessed: list[str] = []

    def fail(self, message: str) -> NoReturn:
        raise ManifestError(f"{self.where}: {message}")

    def describe(self, spec: TensorSpec) -> str:
        return f"{spec.dtype} {_shape(spec.shape)}"

    def check_flag_inputs(self) -> None:
        names = self.io.input_names
        flags = [("--modality", self.options.modalities), ("--mask", self.options.masks),
                 ("--constant", self.options.constants)]
        seen: dict[str, str] = {}
        for flag, entries in flags:
            for name in entries:
                if name not in names:
                    raise ConfigError(f"{flag} {name}=...: {name!r} is not an input of {self.where} "
                                      f"(inputs: {', '.join(names)})")
                if name in seen:
                    raise ConfigError(f"{flag} {name}=...: input {name!r} is already declared by {seen[name]}")
                seen[name] = flag

    def dtype(self, spec: TensorSpec) -> str:
        dtype = str(spec.dtype)
        if dtype not in DTYPES:
            self.fail(f"input {spec.name!r} is {dtype}; mmharness feeds {', '.join(DTYPES)}")
        return dtype

    def place(self, spec: TensorSpec, taken: set[str]) -> tuple[str, str, str | None, str]:
        """(name, kind, layout override, source) of a modality input, from a flag or its name."""
        override = self.options.modalities.get(spec.name)
        if override is not None:
            name, kind, layout = override
            if name in taken:
                raise ConfigError(f"--modality {spec.name}={name}:{kind}: modality name {name!r} is used twice")
            return name, kind, layout, "--modality"
        kinds = kinds_in_name(spec.name)
        if spec.rank != 4 or len(kinds) != 1:
            why = ("is not an image-like rank-4 tensor" if spec.rank != 4 else
                   f"has a name that suggests several kinds ({', '.join(kinds)})" if kinds else
                   f"has no name token that says which sensor it carries ({', '.join(sorted(KIND_TOKENS))})")
            hint = _HINT.format(name=spec.name)
            self.fail(f"input {spec.name!r} ({self.describe(spec)}) {why}; declare it with {hint}")
        token = next(t for t in name_tokens(spec.name) if KIND_TOKENS.get(t) == kinds[0])
        self.guessed.append(f"{spec.name} -> {kinds[0]} (token {token!r})")
        return _unique(modality_name(spec.name), taken), kinds[0], None, f"name token {token!r}"

    def modality(self, spec: TensorSpec, taken: set[str]) -> InferredModality:
        name, kind, layout, source = self.place(spec, taken)
        if spec.rank != 4:
            self.fail(f"input {spec.name!r} ({self.describe(spec)}): a modality input must be rank 4 "
                      f"(NCHW or NHWC); declare it with --mask or --constant instead")
        dtype = self.dtype(spec)
        guessed, ambiguous = channel_layout(spec, self.options.input_size)
        layout = layout or guessed
        if layout is None:
            self.fail(f"input {spec.name!r} ({self.describe(spec)}): axes 1 and 3 are both dynamic, so the channel "
                      "count is unknown; re-export with a static channel axis")
        if ambiguous and source != "--modality":
            self.confirm.append(f"input {spec.name!r} {_shape(spec.shape)} could be NCHW or NHWC; NCHW was assumed "
                                f"(else --modality {spec.name}={name}:{kind}:NHWC)")
        channels = _static(spec, 1 if layout == "NCHW" else 3)
        if channels is None:
            self.fail(f"input {spec.name!r} ({self.describe(spec)}) has a dynamic channel axis for layout {layout}; "
                      "re-export with a static channel axis or pass the other layout in --modality")
        if dtype in ("float32", "float16"):
            preprocess, note = preset_preprocess(self.options.preset, kind, channels)
            if note:
                self.confirm.append(f"{name}: {note}")
        else:
            preprocess = {"scale": 1.0, "mean": [0.0], "std": [1.0]}
            self.confirm.append(f"{name}: {dtype} input takes raw values (no normalisation; the graph must normalise)")
        return InferredModality(name, spec.name, kind, layout, dtype, channels, preprocess, source)

    def attach_masks(self, modalities: list[InferredModality]) -> list[InferredModality]:
        out = list(modalities)
        for mask, target in self.options.masks.items():
            index = next((i for i, m in enumerate(out) if target in (m.name, m.input)), None)
            if index is None:
                raise ConfigError(f"--mask {mask}={target}: no modality {target!r} "
                                  f"(modalities: {', '.join(m.name for m in out)})")
            if out[index].missing.get("fill") == "mask":
                raise ConfigError(f"--mask {mask}={target}: modality {out[index].name!r} already has a mask input")
            spec = self.io.input(mask)
            assert spec is not None
            if spec.rank < 1:
                raise ConfigError(f"--mask {mask}={target}: input {mask!r} is a scalar; a mask needs a batch axis")
            self.dtype(spec)
            out[index] = replace(out[index], missing={"fill": "mask", "mask_input": mask})
        return out

    def constant(self, name: str, value: Any) -> dict[str, Any]:
        spec = self.io.input(name)
        assert spec is not None
        dims = spec.static_dims()
        if len(dims) != spec.rank:
            raise ConfigError(f"--constant {name}=...: input {name!r} has dynamic dims {_shape(spec.shape)}; "
                              "only fully static inputs can be fed a constant")
        dtype = self.dtype(spec)
        shape = [dims[axis] for axis in range(spec.rank)]
        try:
            np.broadcast_to(np.asarray(value, dtype=np.dtype(dtype)), shape)
        except (TypeError, ValueError) as error:
            raise ConfigError(f"--constant {name}={value!r}: does not fit input {name!r} ({dtype} {shape}): {error}") from None
        return {"input": name, "dtype": dtype, "shape": shape, "value": value}

    def input_size(self, modalities: Sequence[InferredModality]) -> tuple[tuple[int, int], str]:
        """The H x W every modality shares: static in the graph, or ``--input-size``."""
        wanted = self.options.input_size
        dynamic: list[str] = []
        sizes: dict[tuple[int, int], str] = {}
        for m in modalities:
            spec = self.io.input(m.input)
            assert spec is not None
            axes = (2, 3) if m.layout == "NCHW" else (1, 2)
            dims = [_static(spec, axis) for axis in axes]
            for axis, dim, want in zip(axes, dims, wanted or (None, None), strict=True):
                if dim is not None and want is not None and dim != want:
                    raise ConfigError(f"--input-size {wanted[0]}x{wanted[1]}: input {m.input!r} has "  # type: ignore[index]
                                      f"{dim} at axis {axis} (shape {_shape(spec.shape)}); drop --input-size "
                                      "or pass the graph's size")
            if None in dims:
                dynamic.append(m.input)
            else:
                sizes.setdefault((dims[0], dims[1]), m.input)  # type: ignore[arg-type]
        if len(sizes) > 1:
            listed = ", ".join(f"{name} {h}x{w}" for (h, w), name in sizes.items())
            self.fail(f"modality inputs disagree on height x width ({listed}); mmharness feeds one size to all")
        if wanted is not None:
            return wanted, "--input-size"
        if dynamic:
            self.fail(f"input {dynamic[0]!r} has a dynamic height/width; pass --input-size HxW "
                      "(the resolution the model was trained or evaluated at)")
        return next(iter(sizes)), "graph"

    def output(self, hw: tuple[int, int]) -> InferredOutput:
        """The graph output that holds logits (rank-4 float) or a class map (rank-3 integer)."""
        def role(spec: TensorSpec) -> str | None:
            if spec.rank == 4 and np.issubdtype(spec.dtype, np.floating):
                return "logits"
            if spec.rank == 3 and np.issubdtype(spec.dtype, np.integer):
                return "class_map"
            return None

        listed = ", ".join(f"{s.name} {self.describe(s)}" for s in self.io.outputs)
        if self.options.output is not None:
            spec = self.io.output(self.options.output)
            if spec is None or role(spec) is None:
                what = "is not an output" if spec is None else "is neither rank-4 float logits nor a rank-3 integer class map"
                raise ConfigError(f"--output {self.options.output}: {what} of {self.where} (outputs: {listed})")
        else:
            candidates = [s for s in self.io.outputs if role(s) is not None]
            if not candidates:
                self.fail(f"no output is rank-4 float logits or a rank-3 integer class map (outputs: {listed}); "
                          "mmharness init handles segmentation graphs only")
            spec = candidates[0]
            if len(candidates) > 1:
                self.confirm.append(f"{len(candidates)} outputs could be the prediction "
                                    f"({', '.join(s.name for s in candidates)}); {spec.name!r} was used (else --output NAME)")
        if role(spec) == "class_map":
            return InferredOutput(spec.name, "class_map", "NHW", None, spec.shape)
        layout, ambiguous = channel_layout(spec, hw)
        if self.options.output_layout is not None:
            layout = self.options.output_layout
        elif ambiguous:
            self.confirm.append(f"output {spec.name!r} {_shape(spec.shape)} could be NCHW or NHWC; NCHW was assumed "
                                f"(else --output {spec.name}:NHWC)")
        layout = layout or "NCHW"
        return InferredOutput(spec.name, "logits", layout, _static(spec, 1 if layout == "NCHW" else 3), spec.shape)

    def classes(self, output: InferredOutput) -> tuple[tuple[str, ...], str]:
        """Class names, checked against the graph's static class axis."""
        count, given = output.num_classes, self.options.num_classes
        where = f"{self.where} output {output.name!r} has {count} classes (shape {_shape(output.shape)})"
        if self.options.classes is not None:
            names, source = resolve_classes(self.options.classes)
            if count is not None and len(names) != count:
                raise ConfigError(f"--classes {self.options.classes}: {len(names)} names but {where}; "
                                  "pass the class list the model was trained with")
            if given is not None and len(names) != given:
                raise ConfigError(f"--classes {self.options.classes} has {len(names)} names but --num-classes is {given}")
            return names, source
        if given is not None and count is not None and given != count:
            raise ConfigError(f"--num-classes {given}: {where}; drop --num-classes or fix it")
        count = count if count is not None else given
        if count is None:
            what = "is a class map" if output.role == "class_map" else "has a dynamic class axis"
            self.fail(f"output {output.name!r} ({_shape(output.shape)}) {what}, so the class count is unknown; "
                      "pass --classes deliver|cityscapes|FILE or --num-classes K")
        hint = {25: " (25, as DELIVER: --classes deliver?)", 19: " (19, as Cityscapes: --classes cityscapes?)"}
        self.confirm.append(f"classes are placeholders class0..class{count - 1}{hint.get(count, '')}; "  # type: ignore[operator]
                            "pass --classes deliver|cityscapes|FILE for real names (run compares them with the dataset's)")
        return tuple(f"class{i}" for i in range(count)), "placeholders"  # type: ignore[arg-type]

    def batch(self, modalities: Sequence[InferredModality]) -> dict[str, Any]:
        sizes = {d for m in modalities if (d := _static(self.io.input(m.input), 0)) is not None}  # type: ignore[arg-type]
        if len(sizes) > 1:
            self.fail(f"modality inputs disagree on the batch size ({sorted(sizes)})")
        if sizes:
            return {"dynamic": False, "size": sizes.pop()}
        self.confirm.append(f"dynamic batch: at most {self.options.batch_max} samples a run (--batch-max)")
        return {"dynamic": True, "max": self.options.batch_max}


def infer_manifest(io: GraphIO, options: InitOptions, where: str) -> Inference:
    """Infer every segmentation manifest field of graph ``io``; ``where`` names it in errors."""
    if options.preset not in PRESETS:
        raise ConfigError(f"--preset {options.preset!r} is unknown; expected one of {', '.join(PRESETS)}")
    run = _Inferrer(io, options, where)
    run.check_flag_inputs()
    taken: set[str] = set()
    modalities: list[InferredModality] = []
    for spec in io.inputs:
        if spec.name in options.masks or spec.name in options.constants:
            continue
        modality = run.modality(spec, taken)
        taken.add(modality.name)
        modalities.append(modality)
    if not modalities:
        run.fail("no input is left for a modality (all are --mask/--constant)")
    modalities = run.attach_masks(modalities)
    constants = tuple(run.constant(name, value) for name, value in options.constants.items())
    size, size_source = run.input_size(modalities)
    output = run.output(size)
    classes, classes_source = run.classes(output)
    batch = run.batch(modalities)
    confirm = [f"normalisation preset {options.preset!r} was assumed ({PRESETS[options.preset]}); "
               f"pass --preset {'|'.join(PRESETS)} if the model was trained otherwise"]
    if run.guessed:
        confirm.append(f"modality kinds were guessed from input names ({'; '.join(run.guessed)}); "
                       "override with --modality INPUT=NAME:KIND")
    confirm.append("a missing modality is fed zeros after normalisation (missing.fill zero_normalized, Liao's convention)")
    return Inference(
        modalities=tuple(modalities), constants=constants, output=output, classes=classes,
        classes_source=classes_source, input_size=size, size_source=size_source, batch=batch,
        preset=options.preset, evaluation=options.evaluation, ignore_index=options.ignore_index,
        confirm=(*confirm, *run.confirm),
    )
