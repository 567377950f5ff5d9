"""Dataset and model agree on classes (names, in order) and channels, or say so in one line;
``--class-map`` remaps dataset labels onto the model's classes before anything is scored."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from test_deliver import H, W, make_fixture  # the DELIVER fixture writer beside this file

from harness.data import open_dataset
from harness.data.agreement import apply_class_map, check_classes
from harness.data.synthetic import CLASSES as SYNTHETIC
from harness.errors import ConfigError, DataError


def test_equal_class_lists_pass_and_the_first_difference_is_named():
    data = open_dataset("synthetic:size=16,length=2")
    check_classes(SYNTHETIC, data, "zoo", "--data synthetic")  # the zoo and synthetic agree
    swapped = ("sky", "road", "bump", "marking", "building", "static", "dynamic")
    with pytest.raises(DataError) as error:
        check_classes(swapped, data, "mine", "--data synthetic")
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith("--data synthetic: classes: dataset 'synthetic' (7 classes) and model 'mine' (manifest.json, "
                              "7 classes) first differ at id 2: dataset 'marking', model 'bump';")
    assert "--class-map FILE" in message and "--class-map names" in message
    with pytest.raises(DataError, match=r"first differ at id 7: dataset nothing \(it ends there\), model 'extra'"):
        check_classes((*SYNTHETIC, "extra"), data, "mine", "--data synthetic")


def test_class_map_file_remaps_labels_into_the_model_order(tmp_path):
    data = open_dataset("synthetic:size=16,length=3")
    model = ("background", "vehicle", "ground")
    spec = tmp_path / "map.yaml"
    spec.write_text("road: ground\nmarking: ground\nstatic: vehicle\ndynamic: vehicle\nsky: null\n")
    mapped = apply_class_map(data, model, 255, str(spec))
    assert mapped.classes == model and mapped.modalities == data.modalities and len(mapped) == 3
    check_classes(model, mapped, "m", "--data synthetic")
    lut = {0: 255, 1: 2, 2: 2, 3: 255, 4: 255, 5: 1, 6: 1}  # bump and building unmapped -> ignore
    for i in range(3):
        raw, got = data[i].label, mapped[i].label
        assert np.array_equal(got, np.vectorize(lut.get)(raw)) and set(np.unique(raw)) - {3, 4} != set()
        assert np.array_equal(mapped[i].modalities["rgb"], data[i].modalities["rgb"])
    assert mapped.fingerprint() != data.fingerprint()
    assert apply_class_map(data, model, 255, None) is data


def test_class_map_by_name_and_bad_maps(tmp_path):
    data = open_dataset("synthetic:size=16,length=2")
    mapped = apply_class_map(data, ("Road", "Sky", "car"), 255, "names")
    label = data[0].label
    expected = np.where(label == 1, 0, np.where(label == 0, 1, 255))
    assert np.array_equal(mapped[0].label, expected)
    bad = tmp_path / "bad.yaml"
    bad.write_text("roads: ground\n")
    with pytest.raises(ConfigError, match=r"--class-map .*bad.yaml: key 'roads' is not a dataset class"):
        apply_class_map(data, ("ground",), 255, str(bad))
    bad.write_text("road: tarmac\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: road: 'tarmac' is not a model class \(manifest.json\)"):
        apply_class_map(data, ("ground",), 255, str(bad))
    with pytest.raises(ConfigError, match="no dataset class .* has a model class of the same name"):
        apply_class_map(data, ("a", "b"), 255, "names")


def test_run_refuses_disagreeing_classes_and_remaps_with_class_map(tmp_path, capsys):
    """End to end: mmharness run exits 2 with the one-line refusal; --class-map runs, scored in the model's classes."""
    import json

    from onnx_graphs import build_seg_model_dir

    from harness.cli import main

    model = build_seg_model_dir(tmp_path / "m", {m: 3 for m in ("rgb", "depth", "event", "lidar")}, num_classes=7, size=(16, 16))
    doc = json.loads((Path(model.dir) / "manifest.json").read_text())
    doc["classes"] = ["road", "sky", "marking", "bump", "building", "static", "dynamic"]  # two swapped
    (Path(model.dir) / "manifest.json").write_text(json.dumps(doc))
    args = ["run", model.dir, "--data", "synthetic:size=16,length=4", "--scenarios", "emm", "--bootstrap", "0",
            "--progress", "off", "--no-telemetry", "--save-samples", "0"]
    assert main([*args, "--out", str(tmp_path / "refused")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "first differ at id 0: dataset 'sky', model 'road'" in err
    assert main([*args, "--out", str(tmp_path / "out"), "--class-map", "names"]) == 0
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results["config"]["class_map"] == "names"


# -- channels from the manifest ---------------------------------------------------------------
def test_deliver_gives_a_1_channel_model_1_channel_and_keeps_the_reference_repeat(tmp_path):
    written = make_fixture(tmp_path, {"fog": ["000001"]})
    three = open_dataset(f"deliver:{tmp_path}", split="val")[0]
    one = open_dataset(f"deliver:{tmp_path}", split="val", channels={"rgb": 3, "depth": 1, "lidar": 3})[0]
    depth = written["fog/000001"]["depth"]
    assert three.modalities["depth"].shape == (H, W, 3)
    assert one.modalities["depth"].shape == (H, W, 1) and np.array_equal(one.modalities["depth"][..., 0], depth)
    assert np.array_equal(one.modalities["rgb"], three.modalities["rgb"])
    with pytest.raises(DataError, match=r"_rgb_front.png: has 3 channels; the model takes 1 \(manifest.json channels"):
        open_dataset(f"deliver:{tmp_path}", split="val", channels={"rgb": 1})[0]


def test_folder_takes_the_manifest_channels_and_refuses_a_contradicting_spec(tmp_path):
    rng = np.random.default_rng(0)
    for sub, shape in (("rgb", (4, 4, 3)), ("depth", (4, 4)), ("label", (4, 4))):
        (tmp_path / "val" / sub).mkdir(parents=True)
        image = rng.integers(0, 2, shape, dtype=np.uint8)
        assert cv2.imwrite(str(tmp_path / "val" / sub / "f1.png"), image)
    base = 'classes: [a, b]\nmodalities: {rgb: "{split}/rgb/{id}.png", depth: "{split}/depth/{id}.png"}\nlabel: "{split}/label/{id}.png"\n'
    (tmp_path / "spec.yaml").write_text(base)
    spec = f"folder:{tmp_path / 'spec.yaml'}"
    assert open_dataset(spec)[0].modalities["depth"].shape == (4, 4, 3)  # no manifest: 3, as before
    assert open_dataset(spec, channels={"rgb": 3, "depth": 1})[0].modalities["depth"].shape == (4, 4, 1)
    (tmp_path / "spec.yaml").write_text(base + "channels: {depth: 3}\n")
    with pytest.raises(ConfigError) as error:
        open_dataset(spec, channels={"rgb": 3, "depth": 1})
    assert str(error.value) == (f"{tmp_path / 'spec.yaml'}: channels.depth: 3 contradicts the model's 1 (manifest.json "
                                "channels); set it to 1 or remove it (the manifest's count is the default)")
    (tmp_path / "spec.yaml").write_text(base + "channels: {depth: 1}\n")
    assert open_dataset(spec, channels={"rgb": 3, "depth": 1})[0].modalities["depth"].shape == (4, 4, 1)


def test_synthetic_serves_gray_modalities_as_1_channel_only():
    three = open_dataset("synthetic:size=16,length=2")
    one = open_dataset("synthetic:size=16,length=2", channels={"rgb": 3, "depth": 1, "lidar": 1, "event": 3})
    assert one[0].modalities["depth"].shape == (16, 16, 1) and one[0].modalities["rgb"].shape == (16, 16, 3)
    assert np.array_equal(one[1].modalities["lidar"][..., 0], three[1].modalities["lidar"][..., 0])
    assert one.fingerprint() != three.fingerprint()
    assert open_dataset("synthetic:size=16,length=2", channels={"rgb": 3, "depth": 3}).fingerprint() == three.fingerprint()
    with pytest.raises(ConfigError, match=r"synthetic: modality 'event' is rendered with 3 channels and the model takes 1"):
        open_dataset("synthetic:size=16,length=2", channels={"event": 1})


def test_run_feeds_a_1_channel_depth_model(tmp_path):
    """The runner passes the manifest's channels: a model with 1-channel depth runs on synthetic data."""
    from onnx_graphs import build_seg_model_dir

    from harness.cli import main

    model = build_seg_model_dir(tmp_path / "m", {"rgb": 3, "depth": 1, "event": 3, "lidar": 1}, num_classes=7, size=(16, 16))
    args = ["run", model.dir, "--data", "synthetic:size=16,length=4", "--scenarios", "emm", "--bootstrap", "0",
            "--progress", "off", "--no-telemetry", "--save-samples", "0", "--out", str(tmp_path / "out")]
    assert main(args) == 0
