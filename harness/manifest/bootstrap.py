"""Turn a bare ONNX file into a model directory: graph (+ external data), checksums, manifest.

The inference itself is ``harness.manifest.infer``; this module does the file work around
it in a safe order: read the graph (weights never loaded), infer, refuse to overwrite,
schema-check the document, copy the files when ``--out`` is another folder, hash them and
write the manifest through ``write_manifest`` (which checks it against the copied graph).
"""

from __future__ import annotations

import filecmp
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import ConfigError, ManifestError
from harness.manifest.infer import Inference, InitOptions, infer_manifest
from harness.manifest.loader import MANIFEST_NAME, write_manifest
from harness.manifest.onnx_io import GraphIO, read_graph_io
from harness.manifest.schema import validate_document
from harness.report.io import file_sha256

MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")


@dataclass(frozen=True)
class InitResult:
    manifest_path: Path
    graph: GraphIO
    inference: Inference
    copied: tuple[str, ...]  # files copied into the model directory (relative names)


def default_name(onnx_path: Path) -> str:
    """The file stem as a manifest name (``[A-Za-z0-9][A-Za-z0-9._+-]*``)."""
    name = re.sub(r"[^A-Za-z0-9._+-]+", "-", onnx_path.stem).lstrip("._+-")
    return name or "model"


def _graph_path(onnx_path: Path) -> Path:
    if onnx_path.is_dir():
        found = sorted(p.name for p in onnx_path.glob("*.onnx"))
        hint = f" (e.g. {onnx_path / found[0]})" if found else ""
        raise ConfigError(f"init: {onnx_path} is a folder; pass the .onnx file{hint}")
    if not onnx_path.is_file():
        raise ConfigError(f"init: {onnx_path}: no such file; pass the path of an .onnx graph")
    return onnx_path


def _copy_into(source_dir: Path, out: Path, files: list[str], force: bool) -> tuple[str, ...]:
    """Copy ``files`` (relative to ``source_dir``) into ``out``; a different file there is kept unless ``force``."""
    copied = []
    for rel in files:
        src, dst = source_dir / rel, out / rel
        if dst.exists() and not filecmp.cmp(src, dst, shallow=False) and not force:
            raise ConfigError(f"init: {dst} exists and differs from {src}; pass --force to replace it")
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
        copied.append(rel)
    return tuple(copied)


def provenance(io: GraphIO, source: Path, inference: Inference) -> dict[str, Any]:
    """What is known of where the graph came from, and which conventions init assumed."""
    import onnx

    from harness import __version__

    doc: dict[str, Any] = {"exporter": "unknown (manifest inferred by mmharness init)", "source_model": source.name}
    if "ai.onnx" in io.opsets:
        doc["opset"] = io.opsets["ai.onnx"]
    doc["onnx"] = onnx.__version__
    doc["init"] = {"mmharness": __version__, "preset": inference.preset, "classes": inference.classes_source,
                   "input_size": inference.size_source}
    return doc


def init_model_dir(onnx_path: str | os.PathLike[str], out_dir: str | os.PathLike[str] | None = None,
                   options: InitOptions | None = None, *, name: str | None = None, force: bool = False) -> InitResult:
    """Infer a manifest for ``onnx_path`` and write it into ``out_dir`` (default: the file's folder)."""
    source = _graph_path(Path(onnx_path))
    out = Path(out_dir) if out_dir is not None else source.parent
    if name is not None and not MODEL_NAME.match(name):
        raise ConfigError(f"--name {name!r}: use letters, digits and . _ + - (starting with a letter or digit)")
    target = out / MANIFEST_NAME
    if target.exists() and not force:
        raise ConfigError(f"init: {target} already exists; pass --force to replace it")
    io = read_graph_io(str(source))
    inference = infer_manifest(io, options or InitOptions(), str(source))
    files = [source.name, *io.external_data]
    checksums = {rel: "0" * 64 for rel in files}  # placeholders: the schema check runs before any copy
    doc = inference.document(name or default_name(source), source.name, checksums, provenance(io, source, inference))
    validate_document(doc, where=str(target))
    out.mkdir(parents=True, exist_ok=True)
    same = out.resolve() == source.parent.resolve()
    copied = () if same else _copy_into(source.parent, out, files, force)
    doc["checksums"] = {rel: file_sha256(out / rel) for rel in files}
    try:
        write_manifest(out, doc)
    except ManifestError as error:  # a bug in inference, not the user's input: say so
        raise ManifestError(f"{error} (manifest inferred by mmharness init; please report it)") from None
    return InitResult(target, io, inference, copied)
