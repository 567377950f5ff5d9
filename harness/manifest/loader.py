"""Loading and writing ``manifest.json``: the one way in and the one way out.

Reading is strict (duplicate JSON keys and NaN are refused, then the JSON Schema, then the
cross-field rules); writing validates the same way before anything touches the disk, so an
exporter cannot ship a manifest the harness would refuse.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from harness.errors import ManifestError
from harness.safeload import json_loads
from harness.filemode import publish
from harness.manifest.model import (
    DEFAULT_GRAPH,
    Constant,
    Manifest,
    Modality,
    OutputSpec,
    manifest_from_document,
)
from harness.manifest.schema import validate_document

MANIFEST_NAME = "manifest.json"


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise ValueError(f"duplicate key {key!r}")
        seen[key] = value
    return seen


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def read_json_document(path: str) -> Any:
    """Parse ``path`` as strict JSON; ``ManifestError`` with line/column on failure."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        raise ManifestError(
            f"{path}: not found; every model directory needs a manifest.json (see docs/manifest.md)"
        ) from None
    except (OSError, UnicodeDecodeError) as error:
        raise ManifestError(f"{path}: cannot be read as UTF-8 text ({error})") from None
    try:
        return json_loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constants)  # harness.safeload
    except json.JSONDecodeError as error:
        raise ManifestError(f"{path}: invalid JSON at line {error.lineno} column {error.colno}: {error.msg}") from None
    except ValueError as error:
        raise ManifestError(f"{path}: invalid JSON: {error}") from None


def manifest_path(model_dir: str) -> str:
    """``model_dir/manifest.json``, or ``model_dir`` itself when it names a file."""
    if os.path.isfile(model_dir) and model_dir.lower().endswith(".onnx"):
        raise ManifestError(f"{model_dir}: an ONNX graph, not a model directory; write its manifest first: "
                            f"mmharness init {model_dir}")
    if os.path.isfile(model_dir):
        return model_dir
    if not os.path.isdir(model_dir):
        raise ManifestError(f"{model_dir}: model directory does not exist; pass a folder holding manifest.json")
    path = os.path.join(model_dir, MANIFEST_NAME)
    graphs = sorted(name for name in os.listdir(model_dir) if name.lower().endswith(".onnx"))
    if graphs and not os.path.exists(path):
        raise ManifestError(f"{path}: not found; write one for the graph with: "
                            f"mmharness init {os.path.join(model_dir, graphs[0])}")
    return path


def load_manifest(model_dir: str | os.PathLike[str]) -> Manifest:
    """Load and schema-validate the manifest of ``model_dir`` (the graphs are not opened here;
    ``validate_against_graph`` does that)."""
    path = manifest_path(os.fspath(model_dir))
    doc = read_json_document(path)
    validate_document(doc, where=path)
    return manifest_from_document(doc, model_dir=os.path.dirname(os.path.abspath(path)))


def manifest_to_dict(manifest: Manifest) -> dict[str, Any]:
    """The canonical JSON document of ``manifest`` (defaults written out, ``model_dir`` dropped)."""
    doc: dict[str, Any] = {
        "schema_version": manifest.schema_version,
        "name": manifest.name,
        "task": manifest.task,
    }
    if manifest.description:
        doc["description"] = manifest.description
    doc["graphs"] = dict(manifest.graphs)
    if manifest.modalities:
        doc["modalities"] = [_modality_dict(m) for m in manifest.modalities]
    if manifest.outputs:
        doc["outputs"] = [_output_dict(o) for o in manifest.outputs]
    if manifest.classes:
        doc["classes"] = list(manifest.classes)
    if manifest.ignore_index is not None:
        doc["ignore_index"] = manifest.ignore_index
    if manifest.task == "segmentation":
        doc["batch"] = {k: v for k, v in asdict(manifest.batch).items() if v is not None}
    if manifest.input_size is not None:
        doc["input_size"] = list(manifest.input_size)
    if manifest.resize is not None:
        doc["resize"] = manifest.resize.to_dict()
    if manifest.evaluation != "model":
        doc["evaluation"] = manifest.evaluation
    if manifest.constants:
        doc["constants"] = [_constant_dict(c) for c in manifest.constants]
    for key in ("checksums", "provenance", "parity"):
        value = getattr(manifest, key)
        if value:
            doc[key] = dict(value)
    if manifest.vqa is not None:
        doc["vqa"] = dict(manifest.vqa)
    return doc


def _graph_key(graph: str) -> dict[str, str]:
    """``{"graph": …}`` only when it is not the default graph, so single-graph manifests stay terse."""
    return {"graph": graph} if graph != DEFAULT_GRAPH else {}


def _modality_dict(m: Modality) -> dict[str, Any]:
    """One ``modalities[]`` entry, key order as in docs/manifest.md; optional keys only when set."""
    return {
        "name": m.name,
        "input": m.input,
        **_graph_key(m.graph),
        "kind": m.kind,
        "layout": m.layout,
        "dtype": m.dtype,
        "channels": m.channels,
        "preprocess": {
            "scale": m.preprocess.scale,
            "mean": list(m.preprocess.mean),
            "std": list(m.preprocess.std),
            **({"interpolation": m.preprocess.interpolation} if m.preprocess.interpolation != "bilinear" else {}),
        },
        "missing": {
            "fill": m.missing.fill,
            **({"mask_input": m.missing.mask_input} if m.missing.mask_input is not None else {}),
            **({"noise_std": m.missing.noise_std} if m.missing.fill == "noise" else {}),
        },
    }


def _output_dict(o: OutputSpec) -> dict[str, Any]:
    """One ``outputs[]`` entry (``graph`` only when not the default)."""
    return {"name": o.name, **_graph_key(o.graph), "role": o.role, "layout": o.layout}


def _constant_dict(c: Constant) -> dict[str, Any]:
    """One ``constants[]`` entry (``graph``/``shape`` only when set)."""
    return {
        "input": c.input,
        **_graph_key(c.graph),
        "dtype": c.dtype,
        **({"shape": list(c.shape)} if c.shape is not None else {}),
        "value": c.value,
    }


def _finite(value: Any, where: str) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise ManifestError(f"{where}: {value} is not valid JSON; use a finite number")
    if isinstance(value, Mapping):
        for key, item in value.items():
            _finite(item, f"{where}.{key}")
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _finite(item, f"{where}[{index}]")


def write_manifest(
    path: str | os.PathLike[str], doc: Mapping[str, Any] | Manifest, *, check_graphs: bool = True
) -> Manifest:
    """Validate ``doc`` and write it atomically to ``path`` (a file or a model directory).

    With ``check_graphs`` (default) the graphs it names must already be in the directory and
    agree with it (``validate_against_graph``). Returns the loaded ``Manifest``.
    """
    from harness.manifest.contract import validate_against_graph

    target = os.fspath(path)
    if os.path.isdir(target):
        target = os.path.join(target, MANIFEST_NAME)
    document = manifest_to_dict(doc) if isinstance(doc, Manifest) else json.loads(json.dumps(doc))
    _finite(document, target)
    validate_document(document, where=target)
    manifest = manifest_from_document(document, model_dir=os.path.dirname(os.path.abspath(target)))
    if check_graphs:
        validate_against_graph(manifest, where=target)
    folder = os.path.dirname(os.path.abspath(target))
    handle, temp = tempfile.mkstemp(prefix=".manifest.", suffix=".json", dir=folder)
    try:
        publish(handle)  # mkstemp's 0600 -> what the umask gives any other file (0644 under 022)
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(document, out, indent=2, allow_nan=False)
            out.write("\n")
        os.replace(temp, target)
    except BaseException:
        if os.path.exists(temp):
            os.unlink(temp)
        raise
    return manifest
