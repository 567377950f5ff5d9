"""The ``*.engine.json`` sidecar: what a TensorRT engine was built with, in one place.

A serialized TensorRT engine only runs on the TensorRT version and GPU architecture (SM)
that built it; loading it elsewhere fails deep inside TensorRT or, worse, silently picks
other kernels. The builder (``exporters/tensorrt.py``) writes this sidecar beside every
engine; the ``trt`` backend reads it and refuses a mismatch with a one-line error *before*
deserializing. Both sides use only this module, so the format has one definition.

``model.int8.engine`` -> ``model.int8.engine.json``::

    {"schema_version": 1, "engine": "model.int8.engine", "precision": "int8",
     "strategy": "builder-flags" | "strongly-typed",
     "tensorrt": {"version": "10.3.0", "major": 10},
     "device": {"name": "Orin", "sm": "8.7", "gpu_id": 0},
     "source_onnx": {"file": "model.onnx", "sha256": "..."},
     "built_from": {"file": "model.int8.onnx", "sha256": "..."},
     "profiles": [{"rgb": {"min": [1,3,96,96], "opt": [...], "max": [...]}}],
     "build": {"seconds": 12.5, "utc": "2026-11-25T02:00:00Z", "workspace_mib": 1024, ...}}
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import ManifestError

SIDECAR_SCHEMA_VERSION = 1
SIDECAR_SUFFIX = ".json"
PRECISIONS = ("fp32", "fp16", "int8")
STRATEGIES = ("builder-flags", "strongly-typed")

# input name -> {"min"|"opt"|"max": shape}
Profile = Mapping[str, Mapping[str, Sequence[int]]]


@dataclass(frozen=True)
class EngineSidecar:
    """Build facts of one engine (see the module docstring for the JSON form)."""

    engine: str
    precision: str
    strategy: str
    trt_version: str
    device_name: str
    sm: str  # compute capability "major.minor", e.g. "8.7"
    source_onnx: str
    source_sha256: str
    profiles: tuple[Profile, ...] = ()
    built_from: str | None = None  # the typed ONNX actually parsed (TRT 11 path), if not the source
    built_from_sha256: str | None = None
    gpu_id: int = 0
    build: Mapping[str, Any] = field(default_factory=dict)

    @property
    def trt_major(self) -> int:
        return int(self.trt_version.split(".")[0])

    def to_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "schema_version": SIDECAR_SCHEMA_VERSION,
            "engine": self.engine,
            "precision": self.precision,
            "strategy": self.strategy,
            "tensorrt": {"version": self.trt_version, "major": self.trt_major},
            "device": {"name": self.device_name, "sm": self.sm, "gpu_id": self.gpu_id},
            "source_onnx": {"file": self.source_onnx, "sha256": self.source_sha256},
            "profiles": [
                {name: {k: [int(d) for d in dims[k]] for k in ("min", "opt", "max")} for name, dims in p.items()}
                for p in self.profiles
            ],
            "build": dict(self.build),
        }
        if self.built_from is not None:
            doc["built_from"] = {"file": self.built_from, "sha256": self.built_from_sha256}
        return doc


def sidecar_path(engine_path: str | os.PathLike[str]) -> Path:
    """``model.int8.engine`` -> ``model.int8.engine.json`` (beside the engine)."""
    return Path(str(engine_path) + SIDECAR_SUFFIX)


def write_sidecar(engine_path: str | os.PathLike[str], sidecar: EngineSidecar) -> Path:
    """Write the sidecar atomically (temp file + rename) and return its path."""
    path = sidecar_path(engine_path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(sidecar.to_dict(), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


_REQUIRED: dict[str, type | tuple[type, ...]] = {
    "schema_version": int,
    "engine": str,
    "precision": str,
    "strategy": str,
    "tensorrt": dict,
    "device": dict,
    "source_onnx": dict,
    "profiles": list,
    "build": dict,
}
_OPTIONAL = {"built_from"}


def _field(doc: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if key not in doc:
        raise ManifestError(f"{where}: missing field {key!r}; rebuild the engine with: mmharness build MODEL_DIR --target trt")
    value = doc[key]
    if not isinstance(value, kind) or isinstance(value, bool) and kind is int:
        raise ManifestError(f"{where}: {key} is {type(value).__name__} {value!r}, expected {getattr(kind, '__name__', kind)}")
    return value


def sidecar_from_dict(doc: Any, where: str) -> EngineSidecar:
    """Parse and check a sidecar document; ``where`` (the file name) prefixes every error."""
    if not isinstance(doc, dict):
        raise ManifestError(f"{where}: expected a JSON object, got {type(doc).__name__}")
    unknown = sorted(set(doc) - set(_REQUIRED) - _OPTIONAL)
    if unknown:
        raise ManifestError(f"{where}: unknown fields {unknown} (known: {sorted(set(_REQUIRED) | _OPTIONAL)})")
    for key, kind in _REQUIRED.items():
        _field(doc, key, kind, where)
    if doc["schema_version"] != SIDECAR_SCHEMA_VERSION:
        raise ManifestError(
            f"{where}: schema_version {doc['schema_version']} is not supported (expected {SIDECAR_SCHEMA_VERSION}); "
            "rebuild the engine with this mmharness"
        )
    if doc["precision"] not in PRECISIONS:
        raise ManifestError(f"{where}: precision {doc['precision']!r}, expected one of {', '.join(PRECISIONS)}")
    if doc["strategy"] not in STRATEGIES:
        raise ManifestError(f"{where}: strategy {doc['strategy']!r}, expected one of {', '.join(STRATEGIES)}")
    trt = doc["tensorrt"]
    device = doc["device"]
    source = doc["source_onnx"]
    version = _field(trt, "version", str, f"{where}: tensorrt")
    sm = _field(device, "sm", str, f"{where}: device")
    if not _is_sm(sm):
        raise ManifestError(f"{where}: device.sm {sm!r}, expected 'major.minor' such as '8.7'")
    profiles = tuple(_profile(p, f"{where}: profiles[{i}]") for i, p in enumerate(doc["profiles"]))
    built = doc.get("built_from")
    return EngineSidecar(
        engine=doc["engine"],
        precision=doc["precision"],
        strategy=doc["strategy"],
        trt_version=version,
        device_name=_field(device, "name", str, f"{where}: device"),
        sm=sm,
        gpu_id=int(device.get("gpu_id", 0)),
        source_onnx=_field(source, "file", str, f"{where}: source_onnx"),
        source_sha256=_field(source, "sha256", str, f"{where}: source_onnx"),
        profiles=profiles,
        built_from=built.get("file") if isinstance(built, dict) else None,
        built_from_sha256=built.get("sha256") if isinstance(built, dict) else None,
        build=dict(doc["build"]),
    )


def _is_sm(text: str) -> bool:
    major, dot, minor = text.partition(".")
    return bool(dot) and major.isdigit() and minor.isdigit()


def _profile(raw: Any, where: str) -> Profile:
    if not isinstance(raw, dict):
        raise ManifestError(f"{where}: expected an object input -> {{min, opt, max}}, got {type(raw).__name__}")
    out: dict[str, dict[str, tuple[int, ...]]] = {}
    for name, dims in raw.items():
        if not isinstance(dims, dict) or set(dims) != {"min", "opt", "max"}:
            raise ManifestError(f"{where}.{name}: expected exactly the keys min, opt, max")
        shapes = {k: tuple(int(d) for d in dims[k]) for k in ("min", "opt", "max")}
        if not len(shapes["min"]) == len(shapes["opt"]) == len(shapes["max"]):
            raise ManifestError(f"{where}.{name}: min/opt/max ranks differ: {shapes}")
        out[name] = shapes
    return out


def read_sidecar(engine_path: str | os.PathLike[str]) -> EngineSidecar:
    """Read the sidecar of ``engine_path``; a missing or malformed one is a ``ManifestError``."""
    path = sidecar_path(engine_path)
    if not path.is_file():
        raise ManifestError(
            f"{path}: engine sidecar not found; an engine without its build record cannot be checked. "
            "Rebuild it with: mmharness build MODEL_DIR --target trt"
        )
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ManifestError(f"{path}: not valid JSON ({error}); rebuild the engine with: mmharness build") from None
    return sidecar_from_dict(doc, str(path))


def check_sidecar(
    sidecar: EngineSidecar,
    *,
    trt_version: str,
    sm: str,
    where: str,
    onnx_sha256: str | None = None,
) -> None:
    """Refuse an engine built by another TensorRT version or for another GPU architecture.

    TensorRT engines are tied to the exact TensorRT version and compute capability that built
    them (unless built version-/hardware-compatible, which mmharness does not do). When
    ``onnx_sha256`` is given, an engine built from a different ONNX file is refused too.
    """
    problems = []
    if sidecar.trt_version != trt_version:
        problems.append(f"built with TensorRT {sidecar.trt_version}, this machine has TensorRT {trt_version}")
    if sidecar.sm != sm:
        problems.append(f"built for SM {sidecar.sm} ({sidecar.device_name}), this GPU is SM {sm}")
    if onnx_sha256 is not None and sidecar.source_sha256 != onnx_sha256:
        problems.append(
            f"built from {sidecar.source_onnx} sha256 {sidecar.source_sha256[:12]}…, which now hashes to {onnx_sha256[:12]}…"
        )
    if problems:
        raise ManifestError(
            f"{where}: engine does not match this machine: {'; '.join(problems)}. "
            f"Rebuild it here with: mmharness build MODEL_DIR --target trt --precision {sidecar.precision}"
        )
