"""Tiny in-test models for the sweep tests (runner, report, gate): a manifest over the synthetic dataset's four
modalities and a NumPy per-pixel linear classifier behind the shipped ``CallableBackend`` (no ONNX)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from harness.backends.callable import CallableBackend
from harness.backends.interface import TensorSpec
from harness.runner.config import RunConfig
from harness.scenarios.plan import PlanSpec, Shard

MODALITIES = ("rgb", "depth", "event", "lidar")
KINDS = {"rgb": "image", "depth": "depth", "event": "event", "lidar": "lidar", "thermal": "thermal"}
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


def backend(fn: Callable[[Mapping[str, np.ndarray]], Mapping[str, np.ndarray]] | None = None, modalities: tuple[str, ...] = MODALITIES, batch: int | str = "N", size: int = 32) -> CallableBackend:
    """The shipped test double around ``fn`` (default: ``linear_model()``)."""
    inputs = [TensorSpec(m, np.dtype(np.float32), (batch, 3, size, size)) for m in modalities]
    outputs = [TensorSpec("logits", np.dtype(np.float32), (batch, N_CLASSES, size, size))]
    return CallableBackend(fn or linear_model(modalities=modalities), inputs, outputs, label="linear")


TINY_SUITE = (("rgb", ("gaussian_noise",)), ("depth", ("depth_holes",)))


def config(model: Path, out: Path, **changes: Any) -> RunConfig:
    plan = changes.pop("plan", PlanSpec(nm_suite=TINY_SUITE, nm_severities=(1, 3)))
    base: dict[str, Any] = {"model_dir": model, "data": DATA, "out": out, "plan": plan, "bootstrap": 50, "progress": "off", "batch": 4}
    base.update(changes)
    if isinstance(base.get("shard"), str):
        index, count = base["shard"].split("/")
        base["shard"] = Shard(int(index), int(count))
    return RunConfig(**base)


def without_timing(path: Path) -> dict[str, Any]:
    doc = json.loads(Path(path).read_text())
    doc.pop("timing")
    return doc
