"""Tiny in-test models for runner tests: a manifest over the synthetic dataset's four
modalities and a NumPy per-pixel linear classifier behind a stand-in backend (no ONNX)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from harness.backends.interface import TensorSpec

MODALITIES = ("rgb", "depth", "event", "lidar")
KINDS = {"rgb": "image", "depth": "depth", "event": "event", "lidar": "lidar"}
N_CLASSES = 7
DATA = "synthetic:size=32,length=6"


def write_model(root: Path, name: str = "tiny", modalities: tuple[str, ...] = MODALITIES, batch: dict[str, Any] | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "model.onnx").write_bytes(b"stand-in graph for " + name.encode())
    doc = {
        "schema_version": 1,
        "name": name,
        "task": "segmentation",
        "graphs": {"model": "model.onnx"},
        "modalities": [
            {
                "name": m, "input": m, "kind": KINDS[m], "layout": "NCHW", "dtype": "float32", "channels": 3,
                "preprocess": {"scale": 1 / 255, "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]},
                "missing": {"fill": "zero_normalized"},
            }
            for m in modalities
        ],
        "outputs": [{"name": "logits", "role": "logits", "layout": "NCHW"}],
        "classes": ["sky", "road", "marking", "bump", "building", "static", "dynamic"],
        "ignore_index": 255,
        "batch": batch or {"dynamic": True, "max": 16},
        "input_size": [32, 32],
    }
    (root / "manifest.json").write_text(json.dumps(doc, indent=2))
    return root


def linear_model(seed: int = 0, modalities: tuple[str, ...] = MODALITIES) -> Callable[[Mapping[str, np.ndarray]], dict[str, np.ndarray]]:
    """Per-pixel logits = W @ [channels of every modality] + b: every modality matters."""
    rng = np.random.default_rng(seed)
    weights = rng.normal(size=(N_CLASSES, 3 * len(modalities))).astype(np.float32)
    bias = rng.normal(size=(N_CLASSES, 1, 1)).astype(np.float32)

    def run(feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        x = np.concatenate([feeds[m] for m in modalities], axis=1)
        return {"logits": np.einsum("kc,nchw->nkhw", weights, x) + bias}

    return run


class StandInSession:
    def __init__(self, fn: Callable[[Mapping[str, np.ndarray]], dict[str, np.ndarray]], modalities: tuple[str, ...], batch: int | None) -> None:
        self.fn = fn
        self.calls = 0
        self._inputs = [TensorSpec(m, np.dtype(np.float32), (batch if batch else "N", 3, 32, 32)) for m in modalities]

    @property
    def inputs(self) -> list[TensorSpec]:
        return self._inputs

    @property
    def outputs(self) -> list[TensorSpec]:
        return [TensorSpec("logits", np.dtype(np.float32), ("N", N_CLASSES, 32, 32))]

    @property
    def provenance(self) -> dict[str, Any]:
        return {"backend": "stand-in", "provider": "numpy"}

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.calls += 1
        return self.fn(feeds)

    def close(self) -> None: ...

    def __enter__(self) -> StandInSession:
        return self

    def __exit__(self, *exc: object) -> None: ...


class StandInBackend:
    name = "stand-in"

    def __init__(self, fn: Callable[[Mapping[str, np.ndarray]], dict[str, np.ndarray]], modalities: tuple[str, ...] = MODALITIES, batch: int | None = None) -> None:
        self.fn, self.modalities, self.batch = fn, modalities, batch
        self.sessions: list[StandInSession] = []

    def open(self) -> StandInSession:
        session = StandInSession(self.fn, self.modalities, self.batch)
        self.sessions.append(session)
        return session


@pytest.fixture
def tiny_model(tmp_path: Path) -> Path:
    return write_model(tmp_path / "model")
