"""Precision variants of a three-graph VLM (docs/vlm-contract.md), CPU-runnable with ONNX Runtime.

A VLM variant is one or more of its graphs rewritten beside the originals and listed in the
manifest's ``graphs`` as ``<role>.<precision>`` (``decoder.int4 -> decoder.int4.onnx``), so
``mmharness bias --compare int4`` can swap exactly those graphs in. What each precision does,
and to which graphs by default (``--graph`` picks one):

- ``fp16``: every graph, onnxruntime's float16 converter with FP32 inputs and outputs kept
  (the contract's float tensors and the KV cache stay ``vqa.kv_cache.dtype``);
- ``int8``: the vision encoder, static Q/DQ calibrated on images of ``--calib-data``
  preprocessed exactly as the runtime does (``harness.mllm.preprocess``);
- ``int4``: the decoder, weight-only 4-bit blocks (onnxruntime's ``MatMulNBits``, the format
  onnxruntime-genai ships); activations stay float, so no calibration data is needed.

Every variant is checked against the role's contract before it is registered.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import ConfigError

ROLES: tuple[str, ...] = ("vision", "embedding", "decoder")
DEFAULT_ROLES: Mapping[str, tuple[str, ...]] = {"fp16": ROLES, "int8": ("vision",), "int4": ("decoder",)}
CALIBRATED: Mapping[str, tuple[str, ...]] = {"int8": ("vision",)}  # static Q/DQ needs activations: images only


@dataclass(frozen=True)
class VlmVariant:
    """One written graph: its manifest role, file name and SHA-256."""

    role: str
    file: str
    sha256: str


def vlm_roles(precision: str, graph: str | None) -> tuple[str, ...]:
    """The graph roles ``--precision`` rewrites: its default roles, or the one ``--graph`` names."""
    if precision == "fp32":
        raise ConfigError("--precision fp32: the VLM's graphs already are FP32; ask for fp16, int8 or int4")
    if graph is None:
        return DEFAULT_ROLES[precision]
    if graph not in ROLES:
        raise ConfigError(f"--graph {graph!r}: a VLM has the graphs {', '.join(ROLES)}")
    if precision in CALIBRATED and graph not in CALIBRATED[precision]:
        raise ConfigError(f"--precision {precision} --graph {graph}: static INT8 is calibrated on images, so it is "
                          f"built for the {'/'.join(CALIBRATED[precision])} graph only; use int4 (weight-only) for the decoder")
    return (graph,)


class VisionCalibration:
    """onnxruntime's ``CalibrationDataReader`` protocol over images of a VQA dataset, preprocessed
    as the runtime feeds the vision graph; ``num_samples`` images spread evenly over the set."""

    def __init__(self, spec: Any, dataset: Any, num_samples: int, batch_size: int) -> None:
        from harness.variants.calibration import spread_indices

        images = [item.image for item in dataset if item.image is not None]
        if len(images) < num_samples:
            raise ConfigError(f"calibration data {dataset.name!r}: {len(images)} items with images, calibration needs "
                              f"{num_samples}; pass --calib-samples {len(images) - len(images) % batch_size or len(images)}")
        self.images = [images[i] for i in spread_indices(len(images), num_samples)]
        self.spec, self.batch_size = spec, batch_size
        self._iter = self._batches()

    def _batches(self) -> Iterator[dict[str, np.ndarray]]:
        from harness.mllm.preprocess import vision_feeds

        for start in range(0, len(self.images), self.batch_size):
            yield vision_feeds(self.images[start : start + self.batch_size], self.spec.image)

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._iter, None)

    def rewind(self) -> None:
        self._iter = self._batches()


def build_vlm_variant(model_dir: str | os.PathLike[str], precision: str, graph: str | None = None, *,
                      calibration: Callable[[Any], VisionCalibration] | None = None, calib_method: str = "entropy",
                      int4_block_size: int = 32) -> list[VlmVariant]:
    """Write and register the ``precision`` variants of a VLM's graphs; returns what was written."""
    from harness.report.io import file_sha256
    from exporters.variants.quantize import convert_fp16, quantize_int4, quantize_int8
    from exporters.variants.ort import register_graph
    from harness.mllm.manifest import load_vqa_spec
    from harness.variants.registry import variant_file, variant_role

    spec = load_vqa_spec(model_dir)
    written = []
    for role in vlm_roles(precision, graph):
        source = spec.graphs[role]
        target = source.with_name(variant_file(source.name, precision))
        if precision == "fp16":
            convert_fp16(source, target)
        elif precision == "int4":
            quantize_int4(source, target, block_size=int4_block_size)
        else:
            if calibration is None:
                raise ConfigError("--precision int8 needs calibration images (--calib-data)")
            quantize_int8(source, target, calibration(spec), recipe="ort-cpu", method=calib_method)
        check_variant_contract(spec, role, target)
        key = variant_role(role, precision)
        register_graph(spec.model_dir, key, target.name)
        written.append(VlmVariant(key, target.name, file_sha256(target)))
    return written


def check_variant_contract(spec: Any, role: str, path: Path) -> None:
    """The variant still has the role's tensors (names, dtypes, ranks, fixed dims). Operator
    domains are not checked: an INT4 decoder needs ``com.microsoft`` MatMulNBits, so these
    variants run on ONNX Runtime (docs/vlm-contract.md, variants)."""
    from dataclasses import replace

    from harness.errors import InfrastructureError, ManifestError
    from harness.manifest.onnx_io import read_graph_io
    from harness.mllm.manifest import check_vqa_graphs

    io = read_graph_io(os.fspath(path), os.fspath(spec.model_dir))
    graph_io = _NoOpsets(io.inputs, io.outputs)
    try:
        check_vqa_graphs(replace(spec, raw_graphs={**spec.raw_graphs, role: path.name}), {role: graph_io},
                         str(spec.model_dir / "manifest.json"))
    except ManifestError as error:
        raise InfrastructureError(f"{path.name}: the converter changed the {role} graph's contract: {error}") from None


@dataclass(frozen=True)
class _NoOpsets:
    inputs: Any
    outputs: Any
    opsets: None = None
