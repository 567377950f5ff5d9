"""Every bad input of issue 4: one line on stderr naming file and field, exit code 2, via the CLI."""

from __future__ import annotations

import json
import os

import numpy as np
import onnx
import pytest
from onnx_graphs import build_seg_model_dir, write_json

from harness.cli import main
from harness.errors import ExitCode


def _validate(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    code = main(["validate", *args])
    err = capsys.readouterr().err
    assert code == ExitCode.BAD_INPUT, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, f"expected one line, got: {err}"
    assert "Traceback" not in err
    return lines[0]


def _edit_manifest(model_dir: str, edit) -> str:
    path = os.path.join(model_dir, "manifest.json")
    with open(path, encoding="utf-8") as handle:
        doc = json.load(handle)
    edit(doc)
    write_json(path, doc)
    return path


@pytest.fixture
def model_dir(tmp_path):
    return build_seg_model_dir(tmp_path / "m", modalities={"rgb": 3, "depth": 1}).dir


def test_missing_manifest(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    line = _validate(capsys, str(tmp_path / "empty"))
    assert "manifest.json: not found" in line


def test_missing_model_dir(tmp_path, capsys):
    line = _validate(capsys, str(tmp_path / "nope"))
    assert "model directory does not exist" in line


def test_invalid_json(model_dir, capsys):
    path = os.path.join(model_dir, "manifest.json")
    with open(path, "w") as handle:
        handle.write('{"schema_version": 1,\n "name": "x",,}')
    line = _validate(capsys, model_dir)
    assert f"{path}: invalid JSON at line 2 column" in line


def test_duplicate_json_key_is_refused(model_dir, capsys):
    path = os.path.join(model_dir, "manifest.json")
    with open(path) as handle:
        text = handle.read()
    with open(path, "w") as handle:
        handle.write(text.replace('"name": "tiny-seg"', '"name": "tiny-seg", "name": "other"', 1))
    assert "duplicate key 'name'" in _validate(capsys, model_dir)


def test_nan_is_refused(model_dir, capsys):
    path = os.path.join(model_dir, "manifest.json")
    with open(path) as handle:
        text = handle.read()
    with open(path, "w") as handle:
        handle.write(text.replace('"ignore_index": 255', '"ignore_index": NaN', 1))
    assert "NaN is not valid JSON" in _validate(capsys, model_dir)


def test_unknown_top_level_field(model_dir, capsys):
    _edit_manifest(model_dir, lambda d: d.update(colour="blue"))
    line = _validate(capsys, model_dir)
    assert "manifest.json: <root>: unknown field 'colour'" in line
    assert "allowed:" in line and "modalities" in line


def test_unknown_field_in_modality(model_dir, capsys):
    _edit_manifest(model_dir, lambda d: d["modalities"][1].update(gain=2))
    assert "modalities[1]: unknown field 'gain'" in _validate(capsys, model_dir)


def test_unknown_modality_kind(model_dir, capsys):
    _edit_manifest(model_dir, lambda d: d["modalities"][1].update(kind="radar"))
    line = _validate(capsys, model_dir)
    assert "modalities[1].kind: 'radar' is not one of 'image', 'depth', 'lidar', 'event', 'thermal', 'text'" in line


def test_missing_required_field(model_dir, capsys):
    _edit_manifest(model_dir, lambda d: d["modalities"][0].pop("channels"))
    assert "modalities[0].channels: missing required field 'channels'" in _validate(capsys, model_dir)


def test_unsupported_schema_version(model_dir, capsys):
    _edit_manifest(model_dir, lambda d: d.update(schema_version=2))
    assert "schema_version: 2 is not supported" in _validate(capsys, model_dir)


def test_input_name_not_in_graph(model_dir, capsys):
    path = _edit_manifest(model_dir, lambda d: d["modalities"][1].update(input="event"))
    line = _validate(capsys, model_dir)
    assert line.endswith(f"{path}: modalities[1].input: 'event' is not an input of model.onnx (inputs: rgb, depth)")


def test_graph_input_not_in_manifest(tmp_path, capsys):
    model = build_seg_model_dir(tmp_path / "m", modalities={"rgb": 3, "depth": 1, "lidar": 1})
    _edit_manifest(model.dir, lambda d: d["modalities"].pop(2))
    line = _validate(capsys, model.dir)
    assert "model.onnx input 'lidar' is not claimed by the manifest" in line
    assert "manifest.json: modalities:" in line


def test_layout_mismatch(model_dir, capsys):
    _edit_manifest(model_dir, lambda d: d["modalities"][0].update(layout="NHWC"))
    # the graph is NCHW: in NHWC the channel axis 3 holds W = 8
    assert "modalities[0].channels: 3 but model.onnx input 'rgb' has 8 at axis 3" in _validate(capsys, model_dir)


def test_rank_mismatch_rank3_graph(tmp_path, capsys):
    from onnx import TensorProto, helper

    folder = tmp_path / "r3"
    folder.mkdir()
    graph = helper.make_graph(
        [helper.make_node("Identity", ["rgb"], ["logits"])],
        "g",
        [helper.make_tensor_value_info("rgb", TensorProto.FLOAT, ["N", 3, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 3, 8])],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(folder / "model.onnx"))
    from onnx_graphs import seg_manifest_doc

    write_json(folder / "manifest.json", seg_manifest_doc({"rgb": 3}))
    line = _validate(capsys, str(folder))
    assert "modalities[0].layout: NCHW needs a rank-4 input but model.onnx input 'rgb' has rank 3" in line


def test_channel_dim_mismatch(model_dir, capsys):
    _edit_manifest(
        model_dir,
        lambda d: d["modalities"][1].update(channels=2, preprocess={"scale": 1.0, "mean": [0.0], "std": [1.0]}),
    )
    assert "modalities[1].channels: 2 but model.onnx input 'depth' has 1 at axis 1" in _validate(capsys, model_dir)


def test_input_size_mismatch(model_dir, capsys):
    _edit_manifest(model_dir, lambda d: d.update(input_size=[16, 8]))
    assert "input_size: [16, 8] but model.onnx input 'rgb' has shape ('N', 3, 8, 8)" in _validate(capsys, model_dir)


def test_dtype_mismatch(model_dir, capsys):
    _edit_manifest(model_dir, lambda d: d["modalities"][0].update(dtype="float16"))
    assert "modalities[0].dtype: 'float16' but model.onnx input 'rgb' is float32" in _validate(capsys, model_dir)


def test_batch_dynamic_but_graph_fixed(tmp_path, capsys):
    model = build_seg_model_dir(tmp_path / "m", batch=1)
    _edit_manifest(model.dir, lambda d: d.update(batch={"dynamic": True, "max": 4}))
    assert "batch.dynamic: true but model.onnx input 'rgb' has a fixed batch of 1" in _validate(capsys, model.dir)


def test_output_not_in_graph(model_dir, capsys):
    _edit_manifest(model_dir, lambda d: d["outputs"][0].update(name="scores"))
    assert "outputs[0].name: 'scores' is not an output of model.onnx (outputs: logits)" in _validate(capsys, model_dir)


def test_class_count_disagrees_with_logits(model_dir, capsys):
    _edit_manifest(model_dir, lambda d: d.update(classes=["a", "b"]))
    assert "classes: 2 names but model.onnx output 'logits' has 3 channels" in _validate(capsys, model_dir)


def test_ignore_index_inside_class_range(model_dir, capsys):
    _edit_manifest(model_dir, lambda d: d.update(ignore_index=1))
    assert "ignore_index: 1 is a valid class id" in _validate(capsys, model_dir)


def test_mean_length_mismatch(model_dir, capsys):
    _edit_manifest(model_dir, lambda d: d["modalities"][0]["preprocess"].update(mean=[0.5, 0.5]))
    assert "modalities[0].preprocess.mean: 2 values, expected 1 or channels=3" in _validate(capsys, model_dir)


@pytest.mark.parametrize(
    "edit, expected",
    [
        (lambda d: d["modalities"][0]["preprocess"].update(std=[0.2, 0.0, 0.2]), "modalities[0].preprocess.std[1]: got 0.0, expected a number > 0"),
        (lambda d: d["modalities"][1].update(channels=0), "modalities[1].channels: got 0, expected a number >= 1"),
        (lambda d: d.update(classes=[]), "classes: has 0 item(s), expected at least 1"),
        (lambda d: d["modalities"][0].update(input=""), "modalities[0].input: '' is too short, expected at least 1 character(s)"),
    ],
)
def test_bounds_are_stated_as_expected_vs_got(model_dir, capsys, edit, expected):
    _edit_manifest(model_dir, edit)
    assert expected in _validate(capsys, model_dir)


def test_mask_fill_needs_mask_input(model_dir, capsys):
    _edit_manifest(model_dir, lambda d: d["modalities"][1].update(missing={"fill": "mask"}))
    assert "modalities[1].missing.mask_input: missing required field 'mask_input'" in _validate(capsys, model_dir)


@pytest.mark.parametrize("bad", ["../model.onnx", "/etc/passwd", "sub/../../x.onnx"])
def test_graph_path_outside_model_dir(model_dir, capsys, bad):
    _edit_manifest(model_dir, lambda d: d["graphs"].update(model=bad))
    assert "graphs.model:" in _validate(capsys, model_dir)


def test_graph_file_missing(model_dir, capsys):
    os.remove(os.path.join(model_dir, "model.onnx"))
    assert "graphs.model: file 'model.onnx' does not exist" in _validate(capsys, model_dir)


def test_corrupt_onnx(model_dir, capsys):
    with open(os.path.join(model_dir, "model.onnx"), "wb") as handle:
        handle.write(b"\x08\x07this is not a protobuf \xff\xff\xff")
    line = _validate(capsys, model_dir)
    assert "model.onnx: not a readable ONNX model" in line and "re-export" in line


def test_truncated_onnx(model_dir, capsys):
    path = os.path.join(model_dir, "model.onnx")
    with open(path, "rb") as handle:
        data = handle.read()
    with open(path, "wb") as handle:
        handle.write(data[: len(data) // 2])
    line = _validate(capsys, model_dir)
    assert "model.onnx: not a" in line and "corrupt or truncated" in line


def test_external_data_path_traversal_refused(tmp_path, capsys):
    model = build_seg_model_dir(tmp_path / "m", external_data=True)
    secret = tmp_path / "secret.bin"
    secret.write_bytes(np.zeros(64, np.float32).tobytes())
    proto = onnx.load(model.path, load_external_data=False)
    for tensor in proto.graph.initializer:
        for entry in tensor.external_data:
            if entry.key == "location":
                entry.value = "../secret.bin"
    onnx.save(proto, model.path)
    line = _validate(capsys, model.dir)
    assert "external data location '../secret.bin' points outside the model directory" in line
    assert "path traversal" in line


def test_external_data_file_missing(tmp_path, capsys):
    model = build_seg_model_dir(tmp_path / "m", external_data=True)
    os.remove(os.path.join(model.dir, "model.onnx.data"))
    assert "external data file 'model.onnx.data' is missing" in _validate(capsys, model.dir)


def test_unknown_backend_name(model_dir, capsys):
    line = _validate(capsys, model_dir, "--backend", "ort:cdua")
    assert "unknown backend 'ort:cdua'; did you mean 'ort:cuda'" in line


@pytest.mark.parametrize(
    "opt, expected",
    [
        ("threads", "'threads' is not key=value"),
        ("=3", "'=3' is not key=value"),
        ("threads=many", "threads=many: invalid for ort:cpu, expected an integer"),
        ("opt_level=max", "expected one of disable, basic, extended, all"),
    ],
)
def test_malformed_backend_opt(model_dir, capsys, opt, expected):
    assert expected in _validate(capsys, model_dir, "--backend", "ort:cpu", "--backend-opt", opt)


def test_repeated_backend_opt(model_dir, capsys):
    line = _validate(capsys, model_dir, "--backend-opt", "threads=1", "--backend-opt", "threads=2")
    assert "'threads' given twice" in line


def test_trt_backend_without_engine(model_dir, capsys):
    assert "graphs.model.engine: not present" in _validate(capsys, model_dir, "--backend", "trt")


def test_checksum_mismatch(model_dir, capsys):
    _edit_manifest(model_dir, lambda d: d.update(checksums={"model.onnx": "0" * 64}))
    line = _validate(capsys, model_dir)
    assert "checksums.model.onnx: sha256" in line and "expected 000000000000" in line


def test_checksum_file_outside_model_dir(model_dir, capsys):
    _edit_manifest(model_dir, lambda d: d.update(checksums={"../x.onnx": "0" * 64}))
    assert "checksums.../x.onnx: points outside the model directory" in _validate(capsys, model_dir)
