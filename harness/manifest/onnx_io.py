"""Read an ONNX graph's inputs and outputs without loading its weights, safely.

A model file is data: it is parsed with ``load_external_data=False`` (external weight files
are never opened), every external-data location must resolve inside the model directory
(``../../etc/passwd`` is refused), and a corrupt or truncated file becomes one
``ManifestError`` line instead of a protobuf traceback. Initializers that are also listed as
graph inputs (old exporters do that) are overridable defaults, not inputs the harness must feed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.backends.interface import TensorSpec
from harness.errors import ManifestError


@dataclass(frozen=True)
class GraphIO:
    """Inputs the caller must feed, outputs, and the opsets of one ONNX file."""

    path: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    opsets: dict[str, int]
    external_data: tuple[str, ...]  # relative locations of external weight files

    def input(self, name: str) -> TensorSpec | None:
        return next((spec for spec in self.inputs if spec.name == name), None)

    def output(self, name: str) -> TensorSpec | None:
        return next((spec for spec in self.outputs if spec.name == name), None)

    @property
    def input_names(self) -> list[str]:
        return [spec.name for spec in self.inputs]

    @property
    def output_names(self) -> list[str]:
        return [spec.name for spec in self.outputs]


def onnx_elem_to_numpy(elem_type: int, where: str) -> np.dtype:
    """NumPy dtype of an ONNX ``TensorProto`` element type (bfloat16 and friends are refused)."""
    from onnx import helper

    try:
        return np.dtype(helper.tensor_dtype_to_np_dtype(elem_type))
    except Exception:
        raise ManifestError(
            f"{where}: ONNX element type {elem_type} has no NumPy equivalent; export with float32/float16"
        ) from None


def _value_info_spec(value_info: Any, where: str) -> TensorSpec:
    tensor_type = value_info.type.tensor_type
    if not value_info.type.HasField("tensor_type"):
        raise ManifestError(f"{where}: {value_info.name!r} is not a tensor (sequence/map inputs are not supported)")
    dims: list[int | str | None] = []
    if tensor_type.HasField("shape"):
        for dim in tensor_type.shape.dim:
            if dim.HasField("dim_value"):
                dims.append(int(dim.dim_value))
            elif dim.HasField("dim_param"):
                dims.append(dim.dim_param)
            else:
                dims.append(None)
    return TensorSpec(
        value_info.name, onnx_elem_to_numpy(tensor_type.elem_type, f"{where}: {value_info.name}"), tuple(dims)
    )


def _tensors(graph: Any) -> Iterator[Any]:
    """Every TensorProto of a graph and its subgraphs (initializers and tensor attributes)."""
    yield from graph.initializer
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.HasField("t"):
                yield attribute.t
            yield from attribute.tensors
            if attribute.HasField("g"):
                yield from _tensors(attribute.g)
            for subgraph in attribute.graphs:
                yield from _tensors(subgraph)


def check_external_data(model: Any, path: str, model_dir: str) -> tuple[str, ...]:
    """Refuse external-data locations outside ``model_dir`` or missing; return the locations."""
    from onnx import TensorProto

    root = os.path.realpath(model_dir)
    base = os.path.dirname(os.path.realpath(path))
    locations: list[str] = []
    for tensor in _tensors(model.graph):
        if tensor.data_location != TensorProto.EXTERNAL:
            continue
        entries = {entry.key: entry.value for entry in tensor.external_data}
        location = entries.get("location", "")
        target = os.path.realpath(os.path.join(base, location))
        if os.path.isabs(location) or os.path.commonpath([root, target]) != root:
            raise ManifestError(
                f"{path}: initializer {tensor.name!r}: external data location {location!r} points outside the model "
                f"directory {model_dir}; refused (path traversal). Re-export with weights beside the model"
            )
        if not os.path.isfile(target):
            raise ManifestError(
                f"{path}: initializer {tensor.name!r}: external data file {location!r} is missing; copy it beside the model"
            )
        if location not in locations:
            locations.append(location)
    return tuple(locations)


# ---- reading a ModelProto without its weight payloads ---------------------------------------
# ModelProto.graph = 7; GraphProto.initializer = 5; TensorProto payload fields (float_data,
# int32_data, string_data, int64_data, raw_data, double_data, uint64_data) are dropped so a
# 2 GB model costs a few kB of parsing. Only the wire format is read here; onnx parses the rest.
_MODEL_GRAPH, _GRAPH_INITIALIZER = 7, 5
_TENSOR_PAYLOAD = frozenset({4, 5, 6, 7, 9, 10, 11})


def _varint(data: Any, pos: int, end: int) -> tuple[int, int]:
    result, shift = 0, 0
    while True:
        if pos >= end:
            raise ValueError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("malformed varint")


def _fields(data: Any, start: int, end: int) -> Iterator[tuple[int, int, int, int, int]]:
    """(field, wire_type, field_start, value_start, value_end) of each field in data[start:end]."""
    pos = start
    while pos < end:
        field_start = pos
        key, pos = _varint(data, pos, end)
        field, wire = key >> 3, key & 7
        if wire == 0:
            _, pos = _varint(data, pos, end)
            yield field, wire, field_start, field_start, pos
            continue
        if wire == 2:
            length, pos = _varint(data, pos, end)
            value_end = pos + length
        elif wire == 1:
            value_end = pos + 8
        elif wire == 5:
            value_end = pos + 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
        if value_end > end:
            raise ValueError("truncated field")
        yield field, wire, field_start, pos, value_end
        pos = value_end


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _length_field(field: int, payload: bytes) -> bytes:
    return _encode_varint(field << 3 | 2) + _encode_varint(len(payload)) + payload


def _strip(data: Any, start: int, end: int, keep: Any) -> bytes:
    """Copy data[start:end] field by field; ``keep(field, wire, vs, ve)`` returns bytes or None."""
    out = bytearray()
    for field, wire, field_start, value_start, value_end in _fields(data, start, end):
        replaced = keep(field, wire, value_start, value_end)
        out += bytes(data[field_start:value_end]) if replaced is None else replaced
    return bytes(out)


def model_without_weights(data: Any) -> bytes:
    """Serialized ModelProto ``data`` with every initializer's payload removed (wire format)."""

    def tensor(field: int, wire: int, vs: int, ve: int) -> bytes | None:
        return b"" if field in _TENSOR_PAYLOAD else None

    def graph(field: int, wire: int, vs: int, ve: int) -> bytes | None:
        if field == _GRAPH_INITIALIZER and wire == 2:
            return _length_field(field, _strip(data, vs, ve, tensor))
        return None

    def model(field: int, wire: int, vs: int, ve: int) -> bytes | None:
        if field == _MODEL_GRAPH and wire == 2:
            return _length_field(field, _strip(data, vs, ve, graph))
        return None

    return _strip(data, 0, len(data), model)


def _load_structure(path: str) -> Any:
    """ModelProto of ``path`` with nodes, inputs, outputs, opsets and initializer metadata only."""
    import mmap

    import onnx

    with open(path, "rb") as handle:
        if os.fstat(handle.fileno()).st_size == 0:
            raise ValueError("empty file")
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
            return onnx.ModelProto.FromString(model_without_weights(data))


def read_graph_io(path: str, model_dir: str | None = None) -> GraphIO:
    """Inputs/outputs/opsets of the ONNX file at ``path``; weights are neither loaded nor parsed
    (external files are never opened, embedded payloads are skipped at the wire level).

    ``model_dir`` (default: the file's folder) bounds where external data may live.
    """
    if not os.path.isfile(path):
        raise ManifestError(f"{path}: graph file does not exist; fix 'graphs' in manifest.json or export the model")
    try:
        model = _load_structure(path)
    except Exception as error:  # protobuf DecodeError, truncated reads, wrong file type
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ManifestError(
            f"{path}: not a readable ONNX model ({first}); the file is corrupt or truncated, re-export it"
        ) from None
    if model.ir_version <= 0 or not model.graph.output:
        raise ManifestError(
            f"{path}: not a complete ONNX model (ir_version={model.ir_version}, {len(model.graph.output)} outputs); "
            "the file is corrupt or truncated, re-export it"
        )
    external = check_external_data(model, path, model_dir or os.path.dirname(os.path.abspath(path)))
    initializers = {tensor.name for tensor in model.graph.initializer}
    inputs = tuple(_value_info_spec(vi, path) for vi in model.graph.input if vi.name not in initializers)
    outputs = tuple(_value_info_spec(vi, path) for vi in model.graph.output)
    opsets = {entry.domain or "ai.onnx": int(entry.version) for entry in model.opset_import}
    return GraphIO(path=path, inputs=inputs, outputs=outputs, opsets=opsets, external_data=external)
