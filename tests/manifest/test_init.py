"""`mmharness init`: a manifest inferred from a bare ONNX graph (onnx.helper graphs, no torch).

Every test writes a graph the harness did not export, runs `init` through the CLI and reads
the written manifest.json back; bad input is one line on stderr with exit code 2.
"""

from __future__ import annotations

import hashlib
import re
import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from harness.cli import main
from harness.data.cityscapes import CLASSES as CITYSCAPES
from harness.data.deliver import CLASSES as DELIVER
from harness.errors import ExitCode
from harness.manifest import load_manifest, validate_against_graph
from harness.manifest.infer import channel_layout, modality_name
from harness.manifest.presets import IMAGENET_MEAN, IMAGENET_STD, kinds_in_name

F32, I64 = TensorProto.FLOAT, TensorProto.INT64


def write_graph(path: Path, inputs: dict[str, list], classes: int | str = 5, layout: str = "NCHW",
                argmax: bool = False, out_layout: str = "NCHW", extra: dict[str, tuple[int, list]] | None = None,
                external: bool = False) -> Path:
    """A 1x1 Conv over the first input (NCHW or NHWC), giving logits or a class map; the other
    inputs are declared (a graph may ignore inputs; init only reads their specs)."""
    first, shape = next(iter(inputs.items()))
    channels = shape[1] if layout == "NCHW" else shape[3]
    batch = shape[0]
    h, w = (shape[2], shape[3]) if layout == "NCHW" else (shape[1], shape[2])
    k = classes if isinstance(classes, int) else 5
    nodes, source = [], first
    if layout == "NHWC":
        nodes.append(helper.make_node("Transpose", [first], ["x_nchw"], perm=[0, 3, 1, 2]))
        source = "x_nchw"
    weight = numpy_helper.from_array(np.random.default_rng(0).normal(size=(k, channels, 1, 1)).astype(np.float32), "W")
    nodes.append(helper.make_node("Conv", [source, "W"], ["scores"]))
    if argmax:
        nodes.append(helper.make_node("ArgMax", ["scores"], ["class_map"], axis=1, keepdims=0))
        output = helper.make_tensor_value_info("class_map", I64, [batch, h, w])
    elif out_layout == "NHWC":
        nodes.append(helper.make_node("Transpose", ["scores"], ["logits"], perm=[0, 2, 3, 1]))
        output = helper.make_tensor_value_info("logits", F32, [batch, h, w, classes])
    else:
        nodes.append(helper.make_node("Identity", ["scores"], ["logits"]))
        output = helper.make_tensor_value_info("logits", F32, [batch, classes, h, w])
    values = [helper.make_tensor_value_info(name, F32, dims) for name, dims in inputs.items()]
    values += [helper.make_tensor_value_info(name, elem, dims) for name, (elem, dims) in (extra or {}).items()]
    graph = helper.make_graph(nodes, "plain", values, [output], [weight])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="someone-else")
    model.ir_version = 8
    path.parent.mkdir(parents=True, exist_ok=True)
    if external:
        onnx.save_model(model, path, save_as_external_data=True, location=f"{path.name}.data", size_threshold=0)
    else:
        onnx.save_model(model, path)
    return path


THREE = {"rgb": ["N", 3, 64, 64], "depth": ["N", 1, 64, 64], "thermal_ir": ["N", 1, 64, 64]}


def init(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["init", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def init_ok(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[dict, str]:
    code, out, err = init(capsys, *args)
    assert code == ExitCode.OK, err
    path = Path(out.strip())
    return json.loads(path.read_text()), err


def init_bad(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    code, _, err = init(capsys, *args)
    assert code == ExitCode.BAD_INPUT, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_three_inputs_kinds_channels_sizes_and_what_to_confirm(tmp_path, capsys):
    graph = write_graph(tmp_path / "plain.onnx", THREE)
    doc, err = init_ok(capsys, graph)
    mods = {m["name"]: m for m in doc["modalities"]}
    assert [m["input"] for m in doc["modalities"]] == ["rgb", "depth", "thermal_ir"]
    assert {n: (m["kind"], m["channels"], m["layout"], m["dtype"]) for n, m in mods.items()} == {
        "rgb": ("image", 3, "NCHW", "float32"),
        "depth": ("depth", 1, "NCHW", "float32"),
        "thermal_ir": ("thermal", 1, "NCHW", "float32"),
    }
    # preset deliver: /255 then ImageNet statistics on every modality (averaged for 1 channel)
    assert mods["rgb"]["preprocess"] == {"scale": 1 / 255, "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD)}
    assert mods["depth"]["preprocess"]["mean"] == pytest.approx([sum(IMAGENET_MEAN) / 3])
    assert doc["outputs"] == [{"name": "logits", "role": "logits", "layout": "NCHW"}]
    assert doc["classes"] == [f"class{i}" for i in range(5)] and doc["ignore_index"] == 255
    assert doc["batch"] == {"dynamic": True, "max": 16}
    assert doc["input_size"] == [64, 64]
    assert doc["resize"] == {"mode": "shorter_edge", "size": 64, "align": 32}
    assert doc["name"] == "plain" and doc["graphs"] == {"model": "plain.onnx"}
    assert doc["checksums"] == {"plain.onnx": hashlib.sha256(graph.read_bytes()).hexdigest()}
    assert doc["provenance"]["init"]["preset"] == "deliver" and doc["provenance"]["opset"] == 17
    assert "evaluation" not in doc
    # the table and the assumptions the user must confirm
    assert re.search(r"thermal_ir +thermal_ir +thermal +1 +NCHW +float32 .* name token 'thermal'", err)
    assert "confirm: normalisation preset 'deliver' was assumed" in err
    assert "confirm: classes are placeholders class0..class4" in err
    assert "confirm: modality kinds were guessed from input names" in err
    contract = validate_against_graph(load_manifest(tmp_path))
    assert contract.batch_dynamic and [i.owner for i in contract.inputs] == ["rgb", "depth", "thermal_ir"]


def test_presets_imagenet_and_none(tmp_path, capsys):
    graph = write_graph(tmp_path / "a" / "m.onnx", THREE)
    doc, err = init_ok(capsys, graph, "--preset", "imagenet", "--evaluation", "native")
    mods = {m["name"]: m["preprocess"] for m in doc["modalities"]}
    assert mods["rgb"] == {"scale": 1 / 255, "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD)}
    assert mods["depth"] == mods["thermal_ir"] == {"scale": 1 / 255, "mean": [0.0], "std": [1.0]}
    assert doc["evaluation"] == "native"
    doc, _ = init_ok(capsys, graph, "--preset", "none", "--force")
    assert all(m["preprocess"] == {"scale": 1.0, "mean": [0.0], "std": [1.0]} for m in doc["modalities"])


def test_nhwc_inputs_and_nhwc_logits(tmp_path, capsys):
    inputs = {"camera_front": ["N", 48, 80, 3], "lidar_range": ["N", 48, 80, 1]}
    graph = write_graph(tmp_path / "nhwc.onnx", inputs, layout="NHWC", out_layout="NHWC", classes=7)
    doc, _ = init_ok(capsys, graph)
    assert [(m["name"], m["kind"], m["layout"], m["channels"]) for m in doc["modalities"]] == [
        ("camera_front", "image", "NHWC", 3), ("lidar_range", "lidar", "NHWC", 1)]
    assert doc["outputs"][0]["layout"] == "NHWC" and len(doc["classes"]) == 7
    assert doc["input_size"] == [48, 80] and doc["resize"] == {"mode": "shorter_edge", "size": 48, "align": 1}
    validate_against_graph(load_manifest(tmp_path))


def test_ambiguous_layout_is_listed_and_overridable(tmp_path, capsys):
    graph = write_graph(tmp_path / "m.onnx", {"rgb": ["N", 3, 16, 16], "event_voxel": ["N", 16, 16, 16]})
    doc, err = init_ok(capsys, graph)
    assert (doc["modalities"][1]["layout"], doc["modalities"][1]["channels"]) == ("NCHW", 16)
    assert "confirm: input 'event_voxel' [N, 16, 16, 16] could be NCHW or NHWC; NCHW was assumed" in err
    doc, err = init_ok(capsys, graph, "--force", "--modality", "event_voxel=voxels:event:nhwc")
    assert [doc["modalities"][1][k] for k in ("name", "kind", "layout", "channels")] == ["voxels", "event", "NHWC", 16]
    assert "could be NCHW or NHWC" not in err


def test_class_map_output_needs_a_class_count(tmp_path, capsys):
    graph = write_graph(tmp_path / "argmax.onnx", THREE, argmax=True)
    line = init_bad(capsys, graph)
    assert "output 'class_map'" in line and "is a class map" in line and "--classes" in line and "--num-classes" in line
    doc, _ = init_ok(capsys, graph, "--num-classes", "5")
    assert doc["outputs"] == [{"name": "class_map", "role": "class_map", "layout": "NHW"}]
    assert doc["classes"] == [f"class{i}" for i in range(5)]


def test_dynamic_class_axis_asks_for_classes(tmp_path, capsys):
    graph = write_graph(tmp_path / "dyn.onnx", THREE, classes="K")
    assert "has a dynamic class axis" in init_bad(capsys, graph)
    doc, _ = init_ok(capsys, graph, "--classes", "cityscapes")
    assert doc["classes"] == list(CITYSCAPES) and len(doc["classes"]) == 19


def test_an_input_it_cannot_place_names_the_flag(tmp_path, capsys):
    inputs = {"rgb": ["N", 3, 64, 64], "input_1": ["N", 1, 64, 64]}
    graph = write_graph(tmp_path / "odd.onnx", inputs)
    line = init_bad(capsys, graph)
    assert "input 'input_1'" in line and "--modality input_1=NAME:KIND" in line
    doc, err = init_ok(capsys, graph, "--modality", "input_1=radar_like:lidar")
    second = doc["modalities"][1]
    assert (second["name"], second["input"], second["kind"], second["channels"]) == ("radar_like", "input_1", "lidar", 1)
    assert re.search(r"input_1 +radar_like +lidar +1 +NCHW +float32 .* --modality", err)


def test_ambiguous_names_and_non_image_inputs_are_refused(tmp_path, capsys):
    graph = write_graph(tmp_path / "a" / "m.onnx", {"rgb_depth": ["N", 4, 64, 64]})
    assert "suggests several kinds (image, depth)" in init_bad(capsys, graph)
    graph = write_graph(tmp_path / "b" / "m.onnx", {"rgb": ["N", 3, 64, 64]}, extra={"temperature": (F32, [1])})
    line = init_bad(capsys, graph)
    assert "input 'temperature'" in line and "is not an image-like rank-4 tensor" in line and "--constant temperature=VALUE" in line


def test_mask_and_constant_inputs(tmp_path, capsys):
    extra = {"depth_present": (F32, ["N"]), "temperature": (F32, [1])}
    graph = write_graph(tmp_path / "m.onnx", {"rgb": ["N", 3, 64, 64], "depth": ["N", 1, 64, 64]}, extra=extra)
    doc, _ = init_ok(capsys, graph, "--mask", "depth_present=depth", "--constant", "temperature=0.5")
    assert doc["modalities"][1]["missing"] == {"fill": "mask", "mask_input": "depth_present"}
    assert doc["constants"] == [{"input": "temperature", "dtype": "float32", "shape": [1], "value": 0.5}]
    assert "no modality 'sonar'" in init_bad(capsys, graph, "--force", "--mask", "depth_present=sonar",
                                             "--constant", "temperature=0.5")


def test_class_count_mismatch_is_one_line(tmp_path, capsys):
    graph = write_graph(tmp_path / "m.onnx", THREE)
    line = init_bad(capsys, graph, "--classes", "deliver")
    assert "--classes deliver: 25 names but" in line and "output 'logits' has 5 classes" in line
    assert not (tmp_path / "manifest.json").exists()


@pytest.mark.parametrize("text", ["sky\nroad\n\ncar\ntree\nperson\n", '["sky", "road", "car", "tree", "person"]'])
def test_classes_file_lines_or_json(tmp_path, capsys, text):
    graph = write_graph(tmp_path / "m.onnx", THREE)
    (tmp_path / "names.txt").write_text(text)
    doc, err = init_ok(capsys, graph, "--classes", tmp_path / "names.txt")
    assert doc["classes"] == ["sky", "road", "car", "tree", "person"]
    assert f"classes: 5 from file {tmp_path / 'names.txt'}" in err


def test_bad_class_files(tmp_path, capsys):
    graph = write_graph(tmp_path / "m.onnx", THREE)
    for text, message in [("a\nb\na\nc\nd\n", "class names listed twice: a"), ('["a", 3]', "a JSON list of non-empty"),
                          ("\n\n", "no class names"), ("[1,", "invalid JSON list at line 1")]:
        (tmp_path / "names.txt").write_text(text)
        assert message in init_bad(capsys, graph, "--classes", tmp_path / "names.txt")
    assert "not a preset (deliver, cityscapes) and no such file" in init_bad(capsys, graph, "--classes", "ade20k")


def test_deliver_classes_preset(tmp_path, capsys):
    graph = write_graph(tmp_path / "m.onnx", THREE, classes=25)
    doc, _ = init_ok(capsys, graph, "--classes", "deliver")
    assert tuple(doc["classes"]) == DELIVER and doc["classes"][0] == "Building"


def test_static_batch(tmp_path, capsys):
    inputs = {name: [2, *dims[1:]] for name, dims in THREE.items()}
    doc, err = init_ok(capsys, write_graph(tmp_path / "m.onnx", inputs))
    assert doc["batch"] == {"dynamic": False, "size": 2}
    assert "batch: fixed 2" in err
    contract = validate_against_graph(load_manifest(tmp_path))
    assert not contract.batch_dynamic and contract.batch_size == 2


def test_dynamic_height_width_needs_input_size(tmp_path, capsys):
    inputs = {"rgb": ["N", 3, "H", "W"], "depth": ["N", 1, "H", "W"]}
    graph = write_graph(tmp_path / "m.onnx", inputs)
    assert "input 'rgb' has a dynamic height/width; pass --input-size HxW" in init_bad(capsys, graph)
    doc, _ = init_ok(capsys, graph, "--input-size", "512x1024")
    assert doc["input_size"] == [512, 1024] and doc["resize"] == {"mode": "shorter_edge", "size": 512, "align": 32}
    assert doc["provenance"]["init"]["input_size"] == "--input-size"


def test_refuses_to_overwrite_a_manifest(tmp_path, capsys):
    graph = write_graph(tmp_path / "m.onnx", THREE)
    init_ok(capsys, graph)
    before = (tmp_path / "manifest.json").read_text()
    line = init_bad(capsys, graph, "--name", "other")
    assert "manifest.json already exists; pass --force" in line
    assert (tmp_path / "manifest.json").read_text() == before
    doc, _ = init_ok(capsys, graph, "--name", "other", "--force")
    assert doc["name"] == "other"


def test_out_dir_copies_graph_and_external_data(tmp_path, capsys):
    graph = write_graph(tmp_path / "src" / "net v2.onnx", THREE, external=True)
    doc, err = init_ok(capsys, graph, "--out", tmp_path / "model")
    files = sorted(p.name for p in (tmp_path / "model").iterdir())
    assert files == ["manifest.json", "net v2.onnx", "net v2.onnx.data"]
    assert doc["name"] == "net-v2"
    for rel in ("net v2.onnx", "net v2.onnx.data"):
        assert doc["checksums"][rel] == hashlib.sha256((tmp_path / "src" / rel).read_bytes()).hexdigest()
    assert "copied into" in err and not (tmp_path / "src" / "manifest.json").exists()
    assert main(["validate", str(tmp_path / "model")]) == ExitCode.OK


@pytest.mark.parametrize("command", ["run", "validate"])
def test_run_and_validate_on_a_bare_graph_suggest_init(tmp_path, capsys, command):
    graph = write_graph(tmp_path / "plain.onnx", THREE)
    for target in (graph, tmp_path):
        code = main([command, str(target), *(["--out", str(tmp_path / "o")] if command == "run" else [])])
        err = capsys.readouterr().err
        assert code == ExitCode.BAD_INPUT and err.count("\n") == 1, err
        assert f"mmharness init {graph}" in err and "UTF-8" not in err


@pytest.mark.parametrize(("args", "message"), [
    (["--modality", "rgb=Bad:image"], "name 'Bad' must match"),
    (["--modality", "rgb=rgb:radar"], "KIND one of image, depth"),
    (["--modality", "nope=x:image"], "'nope' is not an input of"),
    (["--constant", "rgb=abc"], "must be a JSON number"),
    (["--input-size", "32x32"], "input 'rgb' has 64 at axis 2"),
    (["--name", "-x"], "--name '-x'"),
    (["--output", "scores"], "--output scores: is not an output"),
])
def test_bad_flags_are_one_line(tmp_path, capsys, args, message):
    graph = write_graph(tmp_path / "m.onnx", THREE)
    assert message in init_bad(capsys, graph, *args)


def test_inference_helpers():
    assert kinds_in_name("thermalIR") == ["thermal"] and kinds_in_name("LWIR_cam") == ["thermal"]
    assert kinds_in_name("Camera:0") == ["image"] and kinds_in_name("hha_img") == ["depth", "image"]
    assert kinds_in_name("prediction") == [] and kinds_in_name("eventVoxel") == ["event"]
    assert modality_name("RGB.Image:0") == "rgb_image_0" and modality_name("0depth") == "m_0depth"
    from harness.backends.interface import TensorSpec

    def spec(*dims):
        return TensorSpec("x", np.dtype(np.float32), dims)

    assert channel_layout(spec("N", 3, 64, 64)) == ("NCHW", False)
    assert channel_layout(spec("N", 64, 64, 3)) == ("NHWC", False)
    assert channel_layout(spec("N", 3, "H", "W")) == ("NCHW", False)
    assert channel_layout(spec("N", "H", "W", 1)) == ("NHWC", False)
    assert channel_layout(spec("N", 150, 64, 64), (64, 64)) == ("NCHW", False)
    assert channel_layout(spec("N", 8, 8, 8)) == ("NCHW", True)
    assert channel_layout(spec("N", "C", "H", "W")) == (None, False)
    assert channel_layout(spec("N", "K", 16, 16)) == ("NCHW", False)  # logits with a dynamic class axis
    assert channel_layout(spec("N", 16, 16, "K")) == ("NHWC", False)


def test_reproduces_the_shipped_zoo_manifest(tmp_path, capsys):
    """Given only its graph, init with --preset imagenet rebuilds what export mmss wrote for the zoo model."""
    from harness.data.synthetic import CLASSES as SYNTHETIC
    from harness.zoo import shipped_model

    shipped = load_manifest(shipped_model("mmss-synth-robust"))
    (tmp_path / "classes.txt").write_text("\n".join(SYNTHETIC))
    init_ok(capsys, Path(shipped.graph_path()), "--out", tmp_path / "m", "--preset", "imagenet",
            "--classes", tmp_path / "classes.txt")
    inferred = load_manifest(tmp_path / "m")
    assert inferred.classes == shipped.classes and inferred.batch == shipped.batch
    assert inferred.input_size == shipped.input_size and inferred.outputs == shipped.outputs
    for mine, theirs in zip(inferred.modalities, shipped.modalities, strict=True):
        assert (mine.name, mine.input, mine.kind, mine.layout, mine.dtype, mine.channels) == (
            theirs.name, theirs.input, theirs.kind, theirs.layout, theirs.dtype, theirs.channels)
        assert mine.preprocess.scale == pytest.approx(theirs.preprocess.scale)
        np.testing.assert_allclose(mine.mean, theirs.mean)
        np.testing.assert_allclose(mine.std, theirs.std)
