"""Check a manifest against its graphs and resolve the contract the runner relies on.

Every manifest input must exist in its graph with the same dtype, the rank its layout implies
and matching static dims (channels, input size, batch); every graph input must be claimed by
the manifest (a modality, a mask input or a declared constant); every declared output must
exist with a plausible rank. The result records what the graph really says (e.g. whether the
batch axis is dynamic), so nothing downstream re-reads the ONNX file to find out.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

from harness.backends.interface import TensorSpec
from harness.errors import ManifestError
from harness.manifest.model import Manifest
from harness.manifest.onnx_io import GraphIO, read_graph_io

ENGINE_SUFFIXES = (".engine", ".plan")
Claim = Literal["modality", "mask", "constant", "vqa"]


@dataclass(frozen=True)
class ResolvedInput:
    """A graph input and what feeds it: a modality, a modality's mask, or a constant."""

    graph: str
    spec: TensorSpec
    claim: Claim
    owner: str  # modality name, or "constants[i]"


@dataclass(frozen=True)
class ResolvedOutput:
    graph: str
    spec: TensorSpec
    role: str


@dataclass(frozen=True)
class ResolvedContract:
    """A manifest proven consistent with its ONNX graphs, plus the facts read from them."""

    manifest: Manifest
    graphs: Mapping[str, GraphIO]  # role -> io, ONNX graphs only
    engines: Mapping[str, str]  # role -> engine file (checked when the trt backend opens it)
    inputs: tuple[ResolvedInput, ...]
    outputs: tuple[ResolvedOutput, ...]
    batch_dynamic: bool  # what the graph says about axis 0 of the modality inputs
    batch_size: int | None  # the fixed batch size when not dynamic

    def input_for(self, modality: str) -> ResolvedInput:
        return next(item for item in self.inputs if item.claim == "modality" and item.owner == modality)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (recorded in results provenance, printed by ``validate --json``)."""

        def spec(s: TensorSpec) -> dict[str, Any]:
            return {"name": s.name, "dtype": str(s.dtype), "shape": list(s.shape)}

        return {
            "name": self.manifest.name,
            "task": self.manifest.task,
            "model_dir": self.manifest.model_dir,
            "graphs": {
                role: {"file": self.manifest.graphs[role], "opsets": io.opsets, "external_data": list(io.external_data)}
                for role, io in self.graphs.items()
            },
            "engines": {role: self.manifest.graphs[role] for role in self.engines},
            "inputs": [{"graph": i.graph, "claim": i.claim, "owner": i.owner, **spec(i.spec)} for i in self.inputs],
            "outputs": [{"graph": o.graph, "role": o.role, **spec(o.spec)} for o in self.outputs],
            "batch": {
                "graph_dynamic": self.batch_dynamic,
                "graph_size": self.batch_size,
                "manifest": asdict(self.manifest.batch),
            },
            "classes": list(self.manifest.classes),
            "ignore_index": self.manifest.ignore_index,
        }


def _is_engine(file: str) -> bool:
    return file.lower().endswith(ENGINE_SUFFIXES)


def _names(names: list[str]) -> str:
    return ", ".join(names) if names else "none"


class _Checker:
    """Collects the resolved inputs of one manifest; raises on the first inconsistency."""

    def __init__(self, manifest: Manifest, where: str, graphs: Mapping[str, GraphIO]) -> None:
        self.manifest = manifest
        self.where = where
        self.graphs = graphs
        self.inputs: list[ResolvedInput] = []
        self.batch_axes: list[tuple[str, int | str | None]] = []

    def fail(self, field: str, message: str) -> None:
        raise ManifestError(f"{self.where}: {field}: {message}")

    def graph_input(self, role: str, name: str, field: str) -> tuple[str, TensorSpec] | None:
        file = self.manifest.graphs[role]
        io = self.graphs.get(role)
        if io is None:  # an engine: its bindings are checked by the trt backend
            return None
        spec = io.input(name)
        if spec is None:
            self.fail(field, f"{name!r} is not an input of {file} (inputs: {_names(io.input_names)})")
        return file, spec  # type: ignore[return-value]

    def modality(self, index: int) -> None:
        m = self.manifest.modalities[index]
        at = f"modalities[{index}]"
        found = self.graph_input(m.graph, m.input, f"{at}.input")
        if found is None:
            return
        file, spec = found
        if spec.dtype != m.np_dtype:
            self.fail(
                f"{at}.dtype",
                f"{m.dtype!r} but {file} input {m.input!r} is {spec.dtype}; set dtype to {str(spec.dtype)!r} or re-export",
            )
        if spec.rank != 4:
            self.fail(
                f"{at}.layout",
                f"{m.layout} needs a rank-4 input but {file} input {m.input!r} has rank {spec.rank} {spec.shape}",
            )
        channel_axis, (h_axis, w_axis) = (1, (2, 3)) if m.layout == "NCHW" else (3, (1, 2))
        static = spec.static_dims()
        if channel_axis in static and static[channel_axis] != m.channels:
            self.fail(
                f"{at}.channels",
                f"{m.channels} but {file} input {m.input!r} has {static[channel_axis]} at axis {channel_axis} "
                f"(shape {spec.shape}, layout {m.layout}); set channels to {static[channel_axis]} or fix the layout",
            )
        size = self.manifest.input_size
        if size is not None:
            for axis, want in ((h_axis, size[0]), (w_axis, size[1])):
                if axis in static and static[axis] != want:
                    self.fail(
                        "input_size",
                        f"{list(size)} but {file} input {m.input!r} has shape {spec.shape} (layout {m.layout}); "
                        "set input_size to the graph's [height, width]",
                    )
        resize = self.manifest.resize
        if resize is not None and resize.mode == "exact":
            for axis, want in ((h_axis, resize.size[0]), (w_axis, resize.size[1])):
                if axis in static and static[axis] != want:
                    self.fail(
                        "resize.size",
                        f"{list(resize.size)} but {file} input {m.input!r} has shape {spec.shape} (layout {m.layout}); "
                        "resize frames to the graph's [height, width]",
                    )
        self.batch_axes.append((f"{file} input {m.input!r}", spec.shape[0]))
        self.inputs.append(ResolvedInput(m.graph, spec, "modality", m.name))
        if m.missing.mask_input is not None:
            found = self.graph_input(m.graph, m.missing.mask_input, f"{at}.missing.mask_input")
            if found is not None:
                mask_spec = found[1]
                if mask_spec.rank < 1:
                    self.fail(
                        f"{at}.missing.mask_input",
                        f"{found[0]} input {mask_spec.name!r} is a scalar; a mask needs a batch axis",
                    )
                self.inputs.append(ResolvedInput(m.graph, mask_spec, "mask", m.name))

    def constant(self, index: int) -> None:
        c = self.manifest.constants[index]
        at = f"constants[{index}]"
        found = self.graph_input(c.graph, c.input, f"{at}.input")
        if found is None:
            return
        file, spec = found
        if spec.dtype != np.dtype(c.dtype):
            self.fail(f"{at}.dtype", f"{c.dtype!r} but {file} input {c.input!r} is {spec.dtype}")
        try:
            value = c.array()
        except (TypeError, ValueError) as error:
            self.fail(f"{at}.value", f"cannot become a {c.dtype} array of shape {c.shape}: {error}")
        if value.ndim != spec.rank or any(value.shape[a] != d for a, d in spec.static_dims().items()):
            self.fail(f"{at}.value", f"shape {value.shape} does not fit {file} input {c.input!r} of shape {spec.shape}")
        self.inputs.append(ResolvedInput(c.graph, spec, "constant", at))

    def unclaimed(self) -> None:
        claimed = {(item.graph, item.spec.name) for item in self.inputs}
        used_roles = {m.graph for m in self.manifest.modalities} | {c.graph for c in self.manifest.constants}
        for role in sorted(used_roles):
            io = self.graphs.get(role)
            if io is None:
                continue
            free = [name for name in io.input_names if (role, name) not in claimed]
            if free:
                self.fail(
                    "modalities",
                    f"{self.manifest.graphs[role]} input {free[0]!r} is not claimed by the manifest "
                    f"(add it as a modality, a missing.mask_input or a constant)",
                )

    def output(self, index: int) -> ResolvedOutput | None:
        o = self.manifest.outputs[index]
        at = f"outputs[{index}]"
        io = self.graphs.get(o.graph)
        if io is None:
            return None
        spec = io.output(o.name)
        file = self.manifest.graphs[o.graph]
        if spec is None:
            self.fail(f"{at}.name", f"{o.name!r} is not an output of {file} (outputs: {_names(io.output_names)})")
        assert spec is not None
        if o.role == "logits":
            if spec.rank != 4 or not np.issubdtype(spec.dtype, np.floating):
                self.fail(
                    f"{at}.role",
                    f"logits must be a rank-4 float tensor, {file} output {o.name!r} is {spec.dtype} {spec.shape}",
                )
            axis = 1 if o.layout == "NCHW" else 3
            classes = spec.static_dims().get(axis)
            if classes is not None and self.manifest.classes and classes != len(self.manifest.classes):
                self.fail(
                    "classes",
                    f"{len(self.manifest.classes)} names but {file} output {o.name!r} has {classes} channels "
                    f"(shape {spec.shape}); list one class name per output channel, in channel order",
                )
        elif spec.rank != 3 or not np.issubdtype(spec.dtype, np.integer):
            self.fail(
                f"{at}.role",
                f"class_map must be a rank-3 integer tensor, {file} output {o.name!r} is {spec.dtype} {spec.shape}",
            )
        return ResolvedOutput(o.graph, spec, o.role)

    def batch(self) -> tuple[bool, int | None]:
        """Detect the batch axis from the modality inputs and reconcile it with ``batch``."""
        fixed = [(what, dim) for what, dim in self.batch_axes if isinstance(dim, int) and dim > 0]
        sizes = {dim for _, dim in fixed}
        if len(sizes) > 1:
            self.fail("modalities", f"inputs disagree on the batch size: {', '.join(f'{w}={d}' for w, d in fixed)}")
        graph_dynamic = not fixed and bool(self.batch_axes)
        graph_size = next(iter(sizes)) if sizes else None
        spec = self.manifest.batch
        if spec.dynamic and graph_size is not None:
            what = fixed[0][0]
            self.fail(
                "batch.dynamic",
                f"true but {what} has a fixed batch of {graph_size}; set batch to "
                f'{{"dynamic": false, "size": {graph_size}}} or re-export with a dynamic batch axis',
            )
        if not spec.dynamic and graph_size is not None and spec.size != graph_size:
            self.fail("batch.size", f"{spec.size} but {fixed[0][0]} has a fixed batch of {graph_size}")
        return graph_dynamic, graph_size if graph_size is not None else (None if spec.dynamic else spec.size)


def read_graphs(manifest: Manifest, where: str) -> tuple[dict[str, GraphIO], dict[str, str]]:
    """Read every ONNX graph of the manifest (io only); engine files are only checked to exist."""
    graphs: dict[str, GraphIO] = {}
    engines: dict[str, str] = {}
    for role, file in manifest.graphs.items():
        path = os.path.join(manifest.model_dir, file)
        if not os.path.isfile(path):
            raise ManifestError(f"{where}: graphs.{role}: file {file!r} does not exist in {manifest.model_dir}")
        if _is_engine(file):
            engines[role] = path
        else:
            graphs[role] = read_graph_io(path, manifest.model_dir)
    return graphs, engines


def verify_checksums(manifest: Manifest, where: str) -> None:
    """Every file listed in ``checksums`` exists inside the model directory and hashes as stated."""
    root = os.path.realpath(manifest.model_dir)
    for file, expected in manifest.checksums.items():
        path = os.path.realpath(os.path.join(root, file))
        if os.path.commonpath([root, path]) != root:
            raise ManifestError(f"{where}: checksums.{file}: points outside the model directory; refused")
        if not os.path.isfile(path):
            raise ManifestError(f"{where}: checksums.{file}: file does not exist in {manifest.model_dir}")
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            while block := handle.read(1 << 20):
                digest.update(block)
        if digest.hexdigest() != expected:
            raise ManifestError(
                f"{where}: checksums.{file}: sha256 {digest.hexdigest()[:12]}..., expected {expected[:12]}...; "
                "the file changed after export: re-export, or update the manifest if the change is intended"
            )


def _check_vqa(manifest: Manifest, where: str, graphs: Mapping[str, GraphIO]) -> list[ResolvedInput]:
    """The ``vqa`` block's own rules and its graph-input claims live with the MLLM runtime
    (``harness.mllm.manifest``): every input of the three graphs must be claimed."""
    from pathlib import Path

    from harness.mllm.manifest import check_vqa_graphs, parse_vqa_block

    spec = parse_vqa_block(manifest.vqa, Path(manifest.model_dir), dict(manifest.graphs), where)
    return [ResolvedInput(role, tensor, "vqa", role) for role, tensor in check_vqa_graphs(spec, graphs, where)]


def validate_against_graph(manifest: Manifest, where: str | None = None, checksums: bool = True) -> ResolvedContract:
    """Prove ``manifest`` consistent with its graphs; ``ManifestError`` names the field otherwise.

    ``checksums`` (default on) also hashes every file listed under ``checksums``.
    """
    where = where or os.path.join(manifest.model_dir, "manifest.json")
    if checksums:
        verify_checksums(manifest, where)
    graphs, engines = read_graphs(manifest, where)
    vqa_inputs = _check_vqa(manifest, where, graphs) if manifest.task == "vqa" else []
    checker = _Checker(manifest, where, graphs)
    checker.inputs.extend(vqa_inputs)
    for index in range(len(manifest.modalities)):
        checker.modality(index)
    for index in range(len(manifest.constants)):
        checker.constant(index)
    checker.unclaimed()
    outputs = tuple(out for out in (checker.output(i) for i in range(len(manifest.outputs))) if out is not None)
    dynamic, size = checker.batch()
    return ResolvedContract(
        manifest=manifest,
        graphs=graphs,
        engines=engines,
        inputs=tuple(checker.inputs),
        outputs=outputs,
        batch_dynamic=dynamic,
        batch_size=size,
    )
