"""The weight-skipping ONNX reader agrees with ``onnx.load`` on everything it keeps."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx_graphs import build_seg_model_dir

from harness.errors import ManifestError
from harness.manifest.onnx_io import _load_structure, model_without_weights, read_graph_io


def _model_with_subgraph_and_payloads() -> onnx.ModelProto:
    then_graph = helper.make_graph(
        [helper.make_node("Constant", [], ["t"], value=numpy_helper.from_array(np.ones(3, np.float32)))],
        "then",
        [],
        [helper.make_tensor_value_info("t", TensorProto.FLOAT, [3])],
    )
    else_graph = helper.make_graph(
        [helper.make_node("Constant", [], ["e"], value=numpy_helper.from_array(np.zeros(3, np.float32)))],
        "else",
        [],
        [helper.make_tensor_value_info("e", TensorProto.FLOAT, [3])],
    )
    inits = [
        numpy_helper.from_array(np.arange(3, dtype=np.float32), "raw"),
        helper.make_tensor("typed", TensorProto.INT64, [2], [5, 6]),  # int64_data, not raw_data
        helper.make_tensor("names", TensorProto.STRING, [1], [b"a"]),
    ]
    graph = helper.make_graph(
        [
            helper.make_node("If", ["cond"], ["branch"], then_branch=then_graph, else_branch=else_graph),
            helper.make_node("Add", ["branch", "raw"], ["out"]),
        ],
        "g",
        [
            helper.make_tensor_value_info("cond", TensorProto.BOOL, []),
            helper.make_tensor_value_info("raw", TensorProto.FLOAT, [3]),
        ],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [3])],
        inits,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)]
    )
    model.metadata_props.add(key="k", value="v")
    return model


def test_structure_matches_onnx_load_without_payloads(tmp_path):
    model = _model_with_subgraph_and_payloads()
    path = tmp_path / "m.onnx"
    onnx.save(model, str(path))
    light = _load_structure(str(path))
    full = onnx.load(str(path))
    assert light.graph.node == full.graph.node  # subgraphs and Constant values kept
    assert light.graph.input == full.graph.input and light.graph.output == full.graph.output
    assert light.opset_import == full.opset_import and light.metadata_props == full.metadata_props
    assert [t.name for t in light.graph.initializer] == ["raw", "typed", "names"]
    assert all(not t.raw_data and not t.int64_data and not t.string_data for t in light.graph.initializer)
    io = read_graph_io(str(path))
    assert io.input_names == ["cond"]  # 'raw' is an initializer: an overridable default, not required
    assert io.opsets == {"ai.onnx": 17, "com.microsoft": 1}


def test_external_data_metadata_survives(tmp_path):
    model = build_seg_model_dir(tmp_path / "m", external_data=True)
    light = _load_structure(model.path)
    full = onnx.load(model.path, load_external_data=False)
    assert [list(t.external_data) for t in light.graph.initializer] == [
        list(t.external_data) for t in full.graph.initializer
    ]
    assert [t.data_location for t in light.graph.initializer] == [TensorProto.EXTERNAL] * len(full.graph.initializer)


def test_stripping_is_idempotent_and_smaller():
    data = _model_with_subgraph_and_payloads().SerializeToString()
    once = model_without_weights(data)
    assert len(once) < len(data)
    assert model_without_weights(once) == once


@pytest.mark.parametrize("cut", [1, 7, 0.5, -3])
def test_truncations_are_one_line_errors(tmp_path, cut):
    model = build_seg_model_dir(tmp_path / "m")
    with open(model.path, "rb") as handle:
        data = handle.read()
    keep = int(len(data) * cut) if isinstance(cut, float) else (cut if cut > 0 else len(data) + cut)
    with open(model.path, "wb") as handle:
        handle.write(data[:keep])
    with pytest.raises(ManifestError, match="corrupt or truncated") as caught:
        read_graph_io(model.path)
    assert "\n" not in str(caught.value)


def test_empty_file_is_refused(tmp_path):
    path = tmp_path / "empty.onnx"
    path.write_bytes(b"")
    with pytest.raises(ManifestError, match="not a readable ONNX model \\(empty file\\)"):
        read_graph_io(str(path))
