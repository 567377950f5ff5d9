"""Tiny multi-input ONNX segmentation models built with ``onnx.helper``, plus a NumPy twin.

Shared by every test that needs a real graph (manifest validation, backends, runner, CLI).
The model is a per-pixel linear fusion: ``logits = sum_m W_m @ (x_m * mask_m) + b`` as one
1x1 ``Conv`` per modality, so ``TinySegModel.forward`` reproduces it exactly in NumPy and a
test can check any backend's output against an independent implementation.

    model = build_seg_model_dir(tmp_path, modalities={"rgb": 3, "depth": 1}, num_classes=3)
    load_manifest(model.dir); model.forward({"rgb": x_rgb, "depth": x_depth})
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from harness.data.synthetic import CLASSES as SYNTHETIC_CLASSES  # 7-class graphs run on synthetic data; names must agree

OPSET = 17
IR_VERSION = 8
IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]

_ONNX_DTYPE = {
    np.dtype(np.float32): TensorProto.FLOAT,
    np.dtype(np.float16): TensorProto.FLOAT16,
    np.dtype(np.int64): TensorProto.INT64,
    np.dtype(np.uint8): TensorProto.UINT8,
    np.dtype(np.bool_): TensorProto.BOOL,
}


@dataclass(frozen=True)
class TinySegModel:
    """A built model: where it lives and the weights needed to recompute it in NumPy."""

    dir: str
    path: str
    modalities: dict[str, int]  # input name -> channels
    weights: dict[str, np.ndarray]  # input name -> (classes, channels) float32
    bias: np.ndarray  # (classes,) float32
    masks: dict[str, str] = field(default_factory=dict)  # modality input -> mask input name
    argmax: bool = False

    def forward(self, feeds: Mapping[str, np.ndarray]) -> np.ndarray:
        """NumPy reference: float64 maths on NCHW inputs; logits (N, K, H, W) or class map."""
        total = None
        for name, weight in self.weights.items():
            x = np.asarray(feeds[name], dtype=np.float64)
            if name in self.masks:
                x = x * np.asarray(feeds[self.masks[name]], dtype=np.float64).reshape(-1, 1, 1, 1)
            term = np.einsum("kc,nchw->nkhw", weight.astype(np.float64), x)
            total = term if total is None else total + term
        assert total is not None
        logits = total + self.bias.astype(np.float64)[None, :, None, None]
        return logits.argmax(axis=1) if self.argmax else logits


def make_seg_graph(
    modalities: Mapping[str, int],
    num_classes: int = 3,
    size: tuple[int, int] = (8, 8),
    batch: int | str = "N",
    dtype: Any = np.float32,
    masks: Mapping[str, str] | None = None,
    argmax: bool = False,
    seed: int = 0,
    output_name: str = "logits",
) -> tuple[onnx.ModelProto, dict[str, np.ndarray], np.ndarray]:
    """ModelProto of the linear fusion model plus its float32 weights and bias.

    ``batch`` is a static size or a symbolic name; ``dtype`` the float dtype of every modality
    input (weights follow it); ``masks`` maps a modality input to a mask input of shape (N,).
    """
    rng = np.random.default_rng(seed)
    dt = np.dtype(dtype)
    onnx_dt = _ONNX_DTYPE[dt]
    masks = dict(masks or {})
    height, width = size
    inputs, nodes, initializers = [], [], []
    weights: dict[str, np.ndarray] = {}
    terms: list[str] = []
    for name, channels in modalities.items():
        inputs.append(helper.make_tensor_value_info(name, onnx_dt, [batch, channels, height, width]))
        weight = rng.normal(0.0, 0.5, (num_classes, channels)).astype(dt).astype(np.float32)
        weights[name] = weight
        initializers.append(
            numpy_helper.from_array(weight.astype(dt).reshape(num_classes, channels, 1, 1), f"W_{name}")
        )
        source = name
        if name in masks:
            mask = masks[name]
            inputs.append(helper.make_tensor_value_info(mask, onnx_dt, [batch]))
            nodes.append(helper.make_node("Unsqueeze", [mask, "mask_axes"], [f"{mask}_4d"]))
            nodes.append(helper.make_node("Mul", [name, f"{mask}_4d"], [f"{name}_masked"]))
            source = f"{name}_masked"
        nodes.append(helper.make_node("Conv", [source, f"W_{name}"], [f"t_{name}"]))
        terms.append(f"t_{name}")
    if masks:
        initializers.append(numpy_helper.from_array(np.array([1, 2, 3], dtype=np.int64), "mask_axes"))
    bias = rng.normal(0.0, 0.1, num_classes).astype(dt).astype(np.float32)
    initializers.append(numpy_helper.from_array(bias.astype(dt).reshape(1, num_classes, 1, 1), "bias"))
    nodes.append(helper.make_node("Sum", [*terms, "bias"], ["scores" if argmax else output_name]))
    if argmax:
        nodes.append(helper.make_node("ArgMax", ["scores"], [output_name], axis=1, keepdims=0))
        output = helper.make_tensor_value_info(output_name, TensorProto.INT64, [batch, height, width])
    else:
        output = helper.make_tensor_value_info(output_name, onnx_dt, [batch, num_classes, height, width])
    graph = helper.make_graph(nodes, "tiny_seg", inputs, [output], initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="mmharness-tests")
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    return model, weights, bias


def seg_manifest_doc(
    modalities: Mapping[str, int],
    num_classes: int = 3,
    size: tuple[int, int] = (8, 8),
    batch: Mapping[str, Any] | None = None,
    dtype: str = "float32",
    masks: Mapping[str, str] | None = None,
    argmax: bool = False,
    graph_file: str = "model.onnx",
    output_name: str = "logits",
) -> dict[str, Any]:
    """A schema-valid manifest document matching ``make_seg_graph`` with the same arguments.

    Modality names equal input names; a 3-channel input is an ImageNet-normalized ``image``,
    anything else a ``depth``-kind input with identity preprocessing.
    """
    masks = dict(masks or {})
    mods = []
    for name, channels in modalities.items():
        image = channels == 3
        entry: dict[str, Any] = {
            "name": name,
            "input": name,
            "kind": "image" if image else "depth",
            "layout": "NCHW",
            "dtype": dtype,
            "channels": channels,
            "preprocess": {
                "scale": 1 / 255 if image else 1.0,
                "mean": IMAGENET_MEAN if image else [0.0],
                "std": IMAGENET_STD if image else [1.0],
            },
            "missing": {"fill": "mask", "mask_input": masks[name]} if name in masks else {"fill": "zero_normalized"},
        }
        mods.append(entry)
    return {
        "schema_version": 1,
        "name": "tiny-seg",
        "task": "segmentation",
        "graphs": {"model": graph_file},
        "modalities": mods,
        "outputs": [
            {"name": output_name, "role": "class_map" if argmax else "logits", "layout": "NHW" if argmax else "NCHW"}
        ],
        "classes": list(SYNTHETIC_CLASSES) if num_classes == len(SYNTHETIC_CLASSES) else [f"class{i}" for i in range(num_classes)],
        "ignore_index": 255,
        "batch": dict(batch) if batch is not None else {"dynamic": True, "max": 8},
        "input_size": list(size),
        "provenance": {"exporter": "tests/onnx_graphs.py", "opset": OPSET},
    }


def build_seg_model_dir(
    directory: str | os.PathLike[str],
    modalities: Mapping[str, int] | None = None,
    num_classes: int = 3,
    size: tuple[int, int] = (8, 8),
    batch: int | str = "N",
    dtype: Any = np.float32,
    masks: Mapping[str, str] | None = None,
    argmax: bool = False,
    seed: int = 0,
    manifest_overrides: Mapping[str, Any] | None = None,
    external_data: bool = False,
) -> TinySegModel:
    """Write ``model.onnx`` + ``manifest.json`` into ``directory`` and return the model twin.

    ``batch`` static -> manifest ``{"dynamic": false, "size": batch}``; ``manifest_overrides``
    replaces top-level manifest keys (to build deliberately broken manifests);
    ``external_data`` stores the weights in ``model.onnx.data`` beside the graph.
    """
    modalities = dict(modalities or {"rgb": 3, "depth": 1})
    directory = os.fspath(directory)
    os.makedirs(directory, exist_ok=True)
    model, weights, bias = make_seg_graph(modalities, num_classes, size, batch, dtype, masks, argmax, seed)
    path = os.path.join(directory, "model.onnx")
    if external_data:
        onnx.save_model(
            model,
            path,
            save_as_external_data=True,
            all_tensors_to_one_file=True,
            location="model.onnx.data",
            size_threshold=0,
        )
    else:
        onnx.save_model(model, path)
    batch_doc = {"dynamic": False, "size": batch} if isinstance(batch, int) else {"dynamic": True, "max": 8}
    doc = seg_manifest_doc(modalities, num_classes, size, batch_doc, np.dtype(dtype).name, masks, argmax)
    doc.update(manifest_overrides or {})
    write_json(os.path.join(directory, "manifest.json"), doc)
    return TinySegModel(directory, path, modalities, weights, bias, dict(masks or {}), argmax)


def write_json(path: str | os.PathLike[str], doc: Any) -> None:
    """Write ``doc`` as JSON without any validation (tests use it to write broken manifests)."""
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(doc, handle, indent=2)


def random_feeds(model: TinySegModel, batch: int = 2, seed: int = 1, dtype: Any = np.float32) -> dict[str, np.ndarray]:
    """Normal random NCHW feeds (and all-ones masks) for every input of ``model``."""
    rng = np.random.default_rng(seed)
    with open(os.path.join(model.dir, "manifest.json"), encoding="utf-8") as handle:
        height, width = json.load(handle)["input_size"]
    feeds = {name: rng.normal(size=(batch, c, height, width)).astype(dtype) for name, c in model.modalities.items()}
    for mask in model.masks.values():
        feeds[mask] = np.ones(batch, dtype=dtype)
    return feeds


def names(items: Sequence[Any]) -> list[str]:
    """``[spec.name for spec in items]`` — for asserting on TensorSpec lists."""
    return [item.name for item in items]
