"""Names of the build caches and the hashes that key them.

A TensorRT timing cache is only valid for one TensorRT version on one GPU architecture; an
INT8 calibration cache is only valid for one network, one calibration set and one TensorRT
version. Keying the file names by exactly those facts makes reuse automatic and stale reuse
impossible: a change of any ingredient yields a new name instead of a wrong cache.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

CACHE_DIR = ".mmharness-cache"


def _key(parts: Mapping[str, object]) -> str:
    """16 hex chars of the SHA-256 of the canonical JSON of ``parts``."""
    blob = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def _safe(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in text)


def timing_cache_path(cache_dir: str | os.PathLike[str], trt_version: str, sm: str) -> Path:
    """``<cache_dir>/timing-trt<version>-sm<sm>.cache``: one cache per TensorRT version and GPU arch."""
    return Path(cache_dir) / f"timing-trt{_safe(trt_version)}-sm{_safe(sm)}.cache"


def calibration_key(
    *,
    onnx_sha256: str,
    data_fingerprint: str,
    sample_indices: Sequence[int],
    batch_size: int,
    input_shapes: Mapping[str, Sequence[int]],
    trt_version: str,
    algorithm: str = "entropy2",
) -> str:
    """Key of an INT8 calibration cache: network, exact samples, batch shapes, TRT version, algorithm."""
    return _key({
        "onnx": onnx_sha256,
        "data": data_fingerprint,
        "samples": [int(i) for i in sample_indices],
        "batch": int(batch_size),
        "shapes": {k: [int(d) for d in v] for k, v in sorted(input_shapes.items())},
        "trt": trt_version,
        "algorithm": algorithm,
    })


def calibration_cache_path(cache_dir: str | os.PathLike[str], precision_stem: str, key: str) -> Path:
    """``<cache_dir>/<stem>.calib-<key>.cache`` (e.g. ``model.int8.calib-3f2a….cache``)."""
    return Path(cache_dir) / f"{_safe(precision_stem)}.calib-{key}.cache"
