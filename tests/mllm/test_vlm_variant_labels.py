"""The variant naming rule shared by segmentation and VLMs (``harness.variants.registry``), VLM
``--compare`` labels, and the INT8 vision build calibrated on images."""

from __future__ import annotations

import shutil

import onnx
import pytest

from harness.cli import main
from harness.errors import ConfigError, ExitCode, ManifestError
from harness.mllm.bias import DEFAULT_MODEL
from harness.variants.registry import engine_role, precisions_of, variant_file, variant_role
from harness.variants.vlm import resolve_label, resolve_labels

GRAPHS = {"vision": "vision.onnx", "embedding": "embedding.onnx", "decoder": "decoder.onnx",
          "vision.int8": "vision.int8.onnx", "decoder.int4": "decoder.int4.onnx", "vision.fp16": "vision.fp16.onnx",
          "embedding.fp16": "embedding.fp16.onnx", "decoder.fp16": "decoder.fp16.onnx", "decoder.int8.engine": "x.engine"}


def test_naming_rule():  # type: ignore[no-untyped-def]
    assert variant_role("decoder", "int4") == "decoder.int4"
    assert variant_file("decoder.onnx", "int4") == "decoder.int4.onnx"
    assert variant_file("model.onnx", "int8", ".engine") == "model.int8.engine"
    assert engine_role("model", "fp32") == "model.engine" and engine_role("model", "int8") == "model.int8.engine"
    assert precisions_of(GRAPHS, ("vision", "embedding", "decoder")) == {
        "fp16": ("vision", "embedding", "decoder"), "int4": ("decoder",), "int8": ("vision",)}  # engines left out


def test_labels_resolve_per_role_and_combine():  # type: ignore[no-untyped-def]
    assert resolve_label("int4", GRAPHS).graphs == (("decoder", "decoder.int4"),)
    combined = resolve_label("int8+int4", GRAPHS)
    assert combined.graphs == (("vision", "vision.int8"), ("decoder", "decoder.int4")) and combined.slug == "int8_int4"
    assert resolve_label("int4+fp16", GRAPHS).graphs == (  # the first listed precision a role has wins
        ("vision", "vision.fp16"), ("embedding", "embedding.fp16"), ("decoder", "decoder.int4"))
    with pytest.raises(ManifestError, match=r"no variant 'int2' \(variants: fp16, int4, int8\); .*--precision int2"):
        resolve_label("int2", GRAPHS, "M")
    with pytest.raises(ConfigError, match="given twice"):
        resolve_labels(["int4", "int4"], GRAPHS)
    with pytest.raises(ConfigError, match="reference itself"):
        resolve_labels(["fp32"], GRAPHS)


def test_int8_vision_build_is_static_qdq_calibrated_on_images(tmp_path, capsys):  # type: ignore[no-untyped-def]
    model = tmp_path / "vlm"
    shutil.copytree(DEFAULT_MODEL, model, ignore=shutil.ignore_patterns("hf"))
    assert main(["build", str(model), "--precision", "int8", "--calib-samples", "300", "--calib-batch", "4",
                 "--calib-data", str(tmp_path / "none.jsonl")]) == ExitCode.BAD_INPUT  # a missing file names itself
    assert "none.jsonl" in capsys.readouterr().err
    assert main(["build", str(model), "--precision", "int8", "--calib-samples", "16", "--calib-batch", "8"]) == ExitCode.OK
    graph = onnx.load(model / "vision.int8.onnx")
    assert {"QuantizeLinear", "DequantizeLinear"} <= {n.op_type for n in graph.graph.node}
    assert [o.name for o in graph.graph.output] == ["image_features"]
    assert main(["build", str(model), "--precision", "int4", "--dry-run"]) == ExitCode.OK
    assert '"roles": ["decoder.int4"]' in capsys.readouterr().out
