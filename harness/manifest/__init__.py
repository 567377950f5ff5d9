"""The model manifest: schema, frozen values, loading, writing, and validation
against the graphs it names. ``docs/manifest.md`` documents every field.

    manifest = load_manifest("models/mmss-synth")       # schema + cross-field checks
    contract = validate_against_graph(manifest)          # + every graph input/output agrees
    x = manifest.modality("rgb").preprocess_array(raw)   # raw HWC -> model tensor
"""

from __future__ import annotations

from harness.manifest.contract import ResolvedContract, ResolvedInput, ResolvedOutput, validate_against_graph
from harness.manifest.loader import MANIFEST_NAME, load_manifest, manifest_to_dict, read_json_document, write_manifest
from harness.manifest.model import (
    DEFAULT_GRAPH,
    BatchSpec,
    Constant,
    Manifest,
    MissingSpec,
    Modality,
    OutputSpec,
    Preprocess,
    ResizeSpec,
)
from harness.manifest.onnx_io import GraphIO, read_graph_io
from harness.manifest.schema import SCHEMA_VERSION, manifest_schema, validate_document

__all__ = [
    "DEFAULT_GRAPH",
    "MANIFEST_NAME",
    "SCHEMA_VERSION",
    "BatchSpec",
    "Constant",
    "GraphIO",
    "Manifest",
    "MissingSpec",
    "Modality",
    "OutputSpec",
    "Preprocess",
    "ResizeSpec",
    "ResolvedContract",
    "ResolvedInput",
    "ResolvedOutput",
    "load_manifest",
    "manifest_schema",
    "manifest_to_dict",
    "read_graph_io",
    "read_json_document",
    "validate_against_graph",
    "validate_document",
    "write_manifest",
]
