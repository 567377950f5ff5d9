"""Build a precision variant beside the FP32 model and list it in the manifest.

``mmharness build --target ort`` lands here: convert (FP16) or quantize (INT8 Q/DQ, with the
harness calibration reader), check that the variant keeps the FP32 model's contract (same
input and output names, dtypes and ranks, so every manifest field still applies), then add
it to the manifest's ``graphs`` (``"model.int8": "model.int8.onnx"``) with its SHA-256 in
``checksums``. TensorRT engines are registered the same way by :func:`register_graph`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.report.io import file_sha256
from exporters.variants.plan import BuildPlan, plan_build
from harness.variants.calibration import CalibrationReader
from harness.errors import ConfigError, InfrastructureError
from harness.manifest import MANIFEST_NAME, read_json_document, write_manifest
from harness.manifest.contract import ResolvedContract
from harness.manifest.model import DEFAULT_GRAPH
from harness.manifest.onnx_io import GraphIO, read_graph_io


@dataclass(frozen=True)
class VariantResult:
    path: Path
    role: str
    plan: BuildPlan
    sha256: str


def check_same_contract(source: GraphIO, variant: GraphIO) -> None:
    """The variant must be a drop-in replacement: same I/O names, dtypes and ranks."""
    for kind, a, b in (("input", source.inputs, variant.inputs), ("output", source.outputs, variant.outputs)):
        want = {s.name: (s.dtype, s.rank) for s in a}
        got = {s.name: (s.dtype, s.rank) for s in b}
        if want != got:
            diff = sorted(
                f"{n}: {want.get(n)} -> {got.get(n)}" for n in set(want) | set(got) if want.get(n) != got.get(n)
            )
            raise InfrastructureError(
                f"{os.path.basename(variant.path)}: {kind}s differ from {os.path.basename(source.path)} ({'; '.join(diff)}); "
                "the converter changed the model contract"
            )


def register_graph(model_dir: str | os.PathLike[str], role: str, file: str) -> None:
    """Add ``role -> file`` to ``graphs`` (and the file's hash to ``checksums``) and rewrite the
    manifest through the manifest writer, which re-validates everything it names."""
    folder = os.fspath(model_dir)
    doc = read_json_document(os.path.join(folder, MANIFEST_NAME))
    doc["graphs"][role] = file
    doc.setdefault("checksums", {})[file] = file_sha256(os.path.join(folder, file))
    write_manifest(folder, doc)


def build_ort_variant(
    contract: ResolvedContract,
    precision: str,
    reader: Callable[[], CalibrationReader] | None = None,
    *,
    graph: str = DEFAULT_GRAPH,
    calib_method: str = "entropy",
    register: bool = True,
) -> VariantResult:
    """Write ``model.fp16.onnx`` or ``model.int8.onnx`` beside ``graph``'s ONNX and register it."""
    from exporters.variants.quantize import convert_fp16, quantize_int8

    manifest = contract.manifest
    model_dir = Path(manifest.model_dir)
    source_file = manifest.graphs[graph]
    if not source_file.endswith(".onnx"):
        raise ConfigError(f"graphs.{graph} is {source_file!r}; ONNX Runtime variants are built from an .onnx graph")
    plan = plan_build(precision, "ort", None, source_file=source_file, base_role=graph)
    source = model_dir / source_file
    target = model_dir / plan.output
    if plan.transform == "fp16":
        convert_fp16(source, target)
    else:
        if reader is None:
            raise ConfigError("--precision int8 needs calibration data (--calib-data)")
        quantize_int8(source, target, reader().ort_reader(), recipe="ort-cpu", method=calib_method)
    root = os.fspath(model_dir)
    check_same_contract(read_graph_io(os.fspath(source), root), read_graph_io(os.fspath(target), root))
    if register:
        register_graph(model_dir, plan.role, plan.output)
    return VariantResult(path=target, role=plan.role, plan=plan, sha256=file_sha256(target))
