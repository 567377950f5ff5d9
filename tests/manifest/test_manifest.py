"""Loading, resolving, preprocessing and writing manifests that are right."""

from __future__ import annotations

import json
import os
import re

import jsonschema
import numpy as np
import pytest
from onnx_graphs import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    build_seg_model_dir,
    seg_manifest_doc,
)

from harness.cli import main
from harness.errors import DataError, ManifestError
from harness.manifest import (
    load_manifest,
    manifest_schema,
    manifest_to_dict,
    read_graph_io,
    validate_against_graph,
    validate_document,
    write_manifest,
)

DOCS = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "manifest.md")


def test_schema_is_valid_draft_2020_12():
    jsonschema.Draft202012Validator.check_schema(manifest_schema())


def test_docs_example_passes_the_schema():
    with open(DOCS, encoding="utf-8") as handle:
        text = handle.read()
    example = re.search(r"## Example \(segmentation\)\s+```json\n(.*?)```", text, re.S)
    assert example is not None
    validate_document(json.loads(example.group(1)), where="docs/manifest.md")


def test_load_and_resolve_multi_input_model(tmp_path):
    model = build_seg_model_dir(
        tmp_path / "m", modalities={"rgb": 3, "depth": 1, "lidar": 1}, masks={"lidar": "lidar_present"}
    )
    manifest = load_manifest(model.dir)
    assert manifest.modality_names == ("rgb", "depth", "lidar")
    assert manifest.modality("lidar").missing.mask_input == "lidar_present"
    contract = validate_against_graph(manifest)
    claims = [(item.spec.name, item.claim, item.owner) for item in contract.inputs]
    assert claims == [
        ("rgb", "modality", "rgb"),
        ("depth", "modality", "depth"),
        ("lidar", "modality", "lidar"),
        ("lidar_present", "mask", "lidar"),
    ]
    assert contract.batch_dynamic is True and contract.batch_size is None
    assert [o.spec.name for o in contract.outputs] == ["logits"]
    assert contract.input_for("depth").spec.shape == ("N", 1, 8, 8)


def test_fixed_batch_is_detected_and_recorded(tmp_path):
    model = build_seg_model_dir(tmp_path / "m", batch=2)
    contract = validate_against_graph(load_manifest(model.dir))
    assert contract.batch_dynamic is False and contract.batch_size == 2
    assert contract.to_dict()["batch"] == {
        "graph_dynamic": False,
        "graph_size": 2,
        "manifest": {"dynamic": False, "max": None, "size": 2},
    }


def test_manifest_fixed_batch_on_dynamic_graph_is_allowed(tmp_path):
    model = build_seg_model_dir(tmp_path / "m", manifest_overrides={"batch": {"dynamic": False, "size": 4}})
    contract = validate_against_graph(load_manifest(model.dir))
    assert contract.batch_dynamic is True and contract.batch_size == 4


def test_constants_claim_inputs(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    folder = tmp_path / "c"
    folder.mkdir()
    graph = helper.make_graph(
        [helper.make_node("Mul", ["rgb", "gain"], ["logits"])],
        "g",
        [
            helper.make_tensor_value_info("rgb", TensorProto.FLOAT, ["N", 3, 8, 8]),
            helper.make_tensor_value_info("gain", TensorProto.FLOAT, [1]),
        ],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 3, 8, 8])],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(folder / "model.onnx"))
    doc = seg_manifest_doc({"rgb": 3})
    doc["constants"] = [{"input": "gain", "dtype": "float32", "shape": [1], "value": 0.5}]
    manifest = write_manifest(folder, doc)
    contract = validate_against_graph(manifest)
    assert [(i.spec.name, i.claim) for i in contract.inputs] == [("rgb", "modality"), ("gain", "constant")]
    np.testing.assert_array_equal(manifest.constants[0].array(), np.array([0.5], np.float32))


def test_preprocess_matches_hand_computation():
    from harness.manifest import Modality, Preprocess

    rgb = Modality(
        "rgb", "rgb", "image", "NCHW", "float32", 3, Preprocess(1 / 255, tuple(IMAGENET_MEAN), tuple(IMAGENET_STD))
    )
    raw = np.random.default_rng(0).integers(0, 256, (2, 4, 5, 3), dtype=np.uint8)
    out = rgb.preprocess_array(raw)
    assert out.shape == (2, 3, 4, 5) and out.dtype == np.float32
    for n in range(2):
        for c in range(3):
            for y in range(4):
                for x in range(5):
                    expected = (raw[n, y, x, c] / 255.0 - IMAGENET_MEAN[c]) / IMAGENET_STD[c]
                    assert out[n, c, y, x] == pytest.approx(expected, abs=1e-6)
    # zero_normalized is the mean colour; zero_raw is -mean/std
    np.testing.assert_allclose(rgb.raw_zero_normalized(), -np.array(IMAGENET_MEAN) / np.array(IMAGENET_STD), rtol=1e-6)


def test_preprocess_nhwc_fp16_single_frame_and_integer_passthrough():
    from harness.manifest import Modality, Preprocess

    depth = Modality("depth", "d", "depth", "NHWC", "float16", 1, Preprocess(0.5, (1.0,), (2.0,)))
    out = depth.preprocess_array(np.full((3, 4, 1), 10.0, np.float32))
    assert out.shape == (1, 3, 4, 1) and out.dtype == np.float16
    assert np.all(out == np.float16((10.0 * 0.5 - 1.0) / 2.0))
    raw8 = Modality("rgb", "rgb", "image", "NCHW", "uint8", 3)
    frame = np.arange(2 * 2 * 3, dtype=np.uint8).reshape(2, 2, 3)
    np.testing.assert_array_equal(raw8.preprocess_array(frame)[0], frame.transpose(2, 0, 1))
    with pytest.raises(DataError, match="raw dtype float32, expected uint8"):
        raw8.preprocess_array(frame.astype(np.float32))


def test_preprocess_rejects_wrong_channels():
    from harness.manifest import Modality

    with pytest.raises(DataError, match=r"expected \(N, H, W, 3\)"):
        Modality("rgb", "rgb", "image", "NCHW", "float32", 3).preprocess_array(np.zeros((4, 4, 1)))


def test_write_manifest_round_trip(tmp_path):
    model = build_seg_model_dir(tmp_path / "m", masks={"depth": "depth_present"})
    first = load_manifest(model.dir)
    out = tmp_path / "copy"
    out.mkdir()
    os.link(model.path, out / "model.onnx")
    written = write_manifest(out, first)
    again = load_manifest(out)
    assert manifest_to_dict(again) == manifest_to_dict(first) == manifest_to_dict(written)


def test_write_manifest_validates_before_writing(tmp_path):
    model = build_seg_model_dir(tmp_path / "m")
    doc = seg_manifest_doc({"rgb": 3, "depth": 1})
    doc["modalities"][1]["input"] = "event"
    target = tmp_path / "m" / "new.json"
    with pytest.raises(ManifestError, match=r"modalities\[1\].input: 'event' is not an input of model.onnx"):
        write_manifest(target, doc)
    assert not target.exists()
    doc["modalities"][1]["input"] = "depth"
    doc["ignore_index"] = float("nan")
    with pytest.raises(ManifestError, match="ignore_index: nan is not valid JSON"):
        write_manifest(target, doc, check_graphs=False)
    assert (
        not target.exists()
        and os.listdir(model.dir) == sorted(os.listdir(model.dir))
        and not any(name.startswith(".manifest.") for name in os.listdir(model.dir))
    )


def test_external_data_inside_model_dir_is_fine(tmp_path):
    model = build_seg_model_dir(tmp_path / "m", external_data=True)
    io = read_graph_io(model.path, model.dir)
    assert io.external_data == ("model.onnx.data",)
    assert io.input_names == ["rgb", "depth"]


def test_graph_io_does_not_read_external_weights(tmp_path, monkeypatch):
    model = build_seg_model_dir(tmp_path / "m", external_data=True)
    import onnx.external_data_helper as helper

    def boom(*args, **kwargs):
        raise AssertionError("external data was loaded")

    monkeypatch.setattr(helper, "load_external_data_for_model", boom)
    assert read_graph_io(model.path, model.dir).output_names == ["logits"]


def test_vqa_manifest_schema(tmp_path):
    doc = {
        "schema_version": 1,
        "name": "tiny-llava",
        "task": "vqa",
        "graphs": {"vision": "vision.onnx", "embedding": "embedding.onnx", "decoder": "decoder.onnx"},
        "vqa": {
            "family": "llava",
            "image_token_id": 299,
            "tokens_per_image": 4,
            "tokenizer": "tokenizer.json",
            "answer_mode": "choices",
            "future_key": 1,
        },
    }
    validate_document(doc)
    doc["vqa"]["answer_mode"] = "sample"
    with pytest.raises(ManifestError, match=r"vqa.answer_mode: 'sample' is not one of 'choices', 'generate'"):
        validate_document(doc)
    del doc["vqa"]
    with pytest.raises(ManifestError, match="vqa: missing required field 'vqa'"):
        validate_document(doc)


def test_mask_input_without_mask_fill_is_refused():
    doc = seg_manifest_doc({"rgb": 3})
    doc["modalities"][0]["missing"] = {"fill": "zero_normalized", "mask_input": "rgb_present"}
    with pytest.raises(
        ManifestError,
        match=r"modalities\[0\].missing.mask_input: field not allowed: mask_input is only for fill 'mask'",
    ):
        validate_document(doc)


def test_segmentation_manifest_rejects_vqa_block():
    doc = seg_manifest_doc({"rgb": 3})
    doc["vqa"] = {}
    with pytest.raises(ManifestError, match="vqa: field not allowed: the vqa block is only for task 'vqa'"):
        validate_document(doc)


def test_validate_command_prints_contract_table(tmp_path, capsys):
    model = build_seg_model_dir(tmp_path / "m", masks={"depth": "depth_present"})
    assert main(["validate", model.dir]) == 0
    out = capsys.readouterr().out
    assert re.search(r"depth_present\s+float32\s+\[N\]\s+presence mask of depth", out)
    assert re.search(r"rgb\s+float32\s+\[N, 3, 8, 8\]\s+modality rgb \(image, NCHW, C=3", out)
    assert "ok: manifest agrees with its graphs" in out


def test_validate_command_json(tmp_path, capsys):
    model = build_seg_model_dir(tmp_path / "m", batch=1, argmax=True)
    assert main(["validate", model.dir, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["outputs"] == [
        {"graph": "model", "role": "class_map", "name": "logits", "dtype": "int64", "shape": [1, 8, 8]}
    ]
    assert doc["batch"]["graph_dynamic"] is False


def test_matching_checksums_pass(tmp_path):
    import hashlib

    model = build_seg_model_dir(tmp_path / "m")
    with open(model.path, "rb") as handle:
        digest = hashlib.sha256(handle.read()).hexdigest()
    doc = seg_manifest_doc({"rgb": 3, "depth": 1})
    doc["checksums"] = {"model.onnx": digest}
    manifest = write_manifest(model.dir, doc)
    assert validate_against_graph(manifest).manifest.checksums == {"model.onnx": digest}


SHIPPED_VLM = os.path.join(os.path.dirname(__file__), "..", "..", "models", "vlm-synth-tiny")


@pytest.mark.skipif(not os.path.isfile(os.path.join(SHIPPED_VLM, "manifest.json")), reason="shipped VLM not built")
def test_shipped_vqa_model_validates_and_its_block_is_checked(tmp_path, capsys):
    import shutil

    assert main(["validate", SHIPPED_VLM]) == 0
    assert "vqa: family llava" in capsys.readouterr().out
    copy = tmp_path / "vlm"
    shutil.copytree(SHIPPED_VLM, copy, ignore=shutil.ignore_patterns("_build"))
    os.remove(copy / "tokenizer.json")
    assert main(["validate", str(copy)]) == 2
    assert "vqa.tokenizer" in capsys.readouterr().err


def _with(edit):
    doc = seg_manifest_doc({"rgb": 3, "depth": 1}, masks={"depth": "depth_present"})
    edit(doc)
    return doc


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda d: d["modalities"][1].update(name="rgb"), r"modalities\[1\].name: duplicate modality 'rgb'"),
        (
            lambda d: d["modalities"][1].update(input="rgb"),
            r"modalities\[1\].input: graph input 'rgb' is already claimed",
        ),
        (
            lambda d: d["modalities"][1]["missing"].update(mask_input="rgb"),
            r"modalities\[1\].missing.mask_input: graph input 'rgb' is already claimed by modalities\[0\].input",
        ),
        (
            lambda d: d["modalities"][0].update(graph="vision"),
            r"modalities\[0\].graph: 'vision' is not a key of graphs",
        ),
        (lambda d: d.update(classes=["a", "a", "b"]), r"classes: duplicate class names \['a'\]"),
        (lambda d: d["outputs"].append(dict(d["outputs"][0])), r"outputs\[1\].name: duplicate output 'logits'"),
        (
            lambda d: d["modalities"][0].update(dtype="uint8"),
            r"modalities\[0\].preprocess: dtype uint8 inputs take raw values",
        ),
        (
            lambda d: d.update(batch={"dynamic": False, "max": 4}),
            r"batch.max: field not allowed: a fixed batch \(dynamic: false\) takes size, not max",
        ),
        (lambda d: d["graphs"].update(model="C:/m.onnx"), r"graphs.model: 'C:/m.onnx' is not allowed here"),
        (lambda d: d.update(name="has space"), r"name: 'has space' is not allowed here"),
    ],
)
def test_cross_field_rules(edit, message):
    with pytest.raises(ManifestError, match=message):
        validate_document(_with(edit))


def test_preprocess_is_invertible_for_any_valid_parameters():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from harness.manifest import Modality, Preprocess

    positive = st.floats(0.01, 100.0, allow_nan=False)

    @settings(max_examples=60, deadline=None)
    @given(
        scale=positive,
        mean=st.lists(st.floats(-5, 5), min_size=2, max_size=2),
        std=st.lists(positive, min_size=2, max_size=2),
        seed=st.integers(0, 2**16),
    )
    def check(scale, mean, std, seed):
        modality = Modality("m", "m", "thermal", "NCHW", "float32", 2, Preprocess(scale, tuple(mean), tuple(std)))
        raw = np.random.default_rng(seed).uniform(0, 255, (1, 3, 4, 2)).astype(np.float32)
        out = modality.preprocess_array(raw).transpose(0, 2, 3, 1).astype(np.float64)
        recovered = (out * np.asarray(std) + np.asarray(mean)) / scale
        np.testing.assert_allclose(recovered, raw, rtol=1e-4, atol=1e-3 / scale)

    check()


def test_negative_ignore_index_is_allowed():
    doc = seg_manifest_doc({"rgb": 3})
    doc["ignore_index"] = -1
    validate_document(doc)
