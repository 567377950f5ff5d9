"""Bring your own ONNX, end to end through the CLI: a plain ``torch.onnx.export`` of a 3-input
network -> ``mmharness init`` -> ``validate`` -> ``run`` on a folder dataset, with no manifest
edits; the clean cell must equal a bare ONNX Runtime loop fed by hand-written preprocessing."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from torch import nn

from harness.cli import main
from harness.errors import ExitCode

SIZE, CLASSES = 64, ("sky", "road", "car", "tree", "person")
CHANNELS = {"rgb": 3, "depth": 1, "thermal_ir": 1}
MEAN, STD = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])


class ThreeInputs(nn.Module):
    """Each input gets its own 3x3 conv; the scores are summed (every input matters)."""

    def __init__(self) -> None:
        super().__init__()
        self.convs = nn.ModuleDict({name: nn.Conv2d(c, len(CLASSES), 3, padding=1) for name, c in CHANNELS.items()})

    def forward(self, rgb: torch.Tensor, depth: torch.Tensor, thermal_ir: torch.Tensor) -> torch.Tensor:
        return self.convs["rgb"](rgb) + self.convs["depth"](depth) * 2 + self.convs["thermal_ir"](thermal_ir) * 3


@pytest.fixture(scope="module")
def plain_onnx(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("plain") / "three_inputs.onnx"
    example = tuple(torch.randn(2, c, SIZE, SIZE) for c in CHANNELS.values())
    batch = torch.export.Dim("batch", min=1, max=16)
    torch.onnx.export(ThreeInputs().eval(), example, str(path), input_names=list(CHANNELS), output_names=["logits"],
                      dynamic_shapes={name: {0: batch} for name in CHANNELS}, dynamo=True, external_data=False,
                      verbose=False)
    return path


def write_folder_data(root: Path, size: int) -> Path:
    """Five frames of ``size`` x ``size`` (1-channel depth and thermal) and a folder spec."""
    rng = np.random.default_rng(3)
    for frame in ("f0", "f1", "f2", "f3", "f4"):
        for name, c in CHANNELS.items():
            image = rng.integers(0, 256, (size, size, c) if c == 3 else (size, size), dtype=np.uint8)
            (root / "val" / name).mkdir(parents=True, exist_ok=True)
            assert cv2.imwrite(str(root / "val" / name / f"{frame}.png"), image)
        (root / "val" / "label").mkdir(parents=True, exist_ok=True)
        assert cv2.imwrite(str(root / "val" / "label" / f"{frame}.png"), rng.integers(0, 5, (size, size), dtype=np.uint8))
    spec = {"classes": list(CLASSES), "ignore_index": 255, "label": "{split}/label/{id}.png",
            "modalities": {name: f"{{split}}/{name}/{{id}}.png" for name in CHANNELS},
            "channels": {"depth": 1, "thermal_ir": 1}}
    (root / "spec.json").write_text(json.dumps(spec))
    return root


@pytest.fixture(scope="module")
def folder_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_folder_data(tmp_path_factory.mktemp("data"), SIZE)


def test_init_validate_run_with_no_manifest_edits(plain_onnx, folder_data, tmp_path, capsys):
    (tmp_path / "classes.json").write_text(json.dumps(list(CLASSES)))
    model = tmp_path / "model"
    assert main(["init", str(plain_onnx), "--out", str(model), "--classes", str(tmp_path / "classes.json")]) == ExitCode.OK
    captured = capsys.readouterr()
    assert captured.out.strip() == str(model / "manifest.json")
    assert "confirm: normalisation preset 'deliver' was assumed" in captured.err
    doc = json.loads((model / "manifest.json").read_text())
    assert [(m["name"], m["kind"], m["channels"]) for m in doc["modalities"]] == [
        ("rgb", "image", 3), ("depth", "depth", 1), ("thermal_ir", "thermal", 1)]
    assert doc["batch"] == {"dynamic": True, "max": 16} and doc["classes"] == list(CLASSES)
    assert doc["input_size"] == [SIZE, SIZE] and doc["outputs"][0]["role"] == "logits"

    assert main(["validate", str(model)]) == ExitCode.OK
    assert "ok: manifest agrees with its graphs" in capsys.readouterr().out

    out = tmp_path / "results"
    code = main(["run", str(model), "--data", f"folder:{folder_data / 'spec.json'}", "--limit", "4", "--scenarios", "emm",
                 "--out", str(out), "--progress", "off", "--bootstrap", "0", "--batch", "2"])
    err = capsys.readouterr().err
    assert code == ExitCode.OK, err
    results = json.loads((out / "results.json").read_text())
    assert sorted(results["cells"]) == sorted(
        ["emm/missing=none", "emm/missing=rgb", "emm/missing=depth", "emm/missing=thermal_ir", "emm/missing=rgb+depth",
         "emm/missing=rgb+thermal_ir", "emm/missing=depth+thermal_ir"])  # 2^3 - 1: never all three missing

    # the clean cell equals ONNX Runtime fed by the DELIVER transform written out by hand
    import onnxruntime as ort

    session = ort.InferenceSession(str(plain_onnx), providers=["CPUExecutionProvider"])
    expected = np.zeros((5, 5), np.int64)
    for frame in ("f0", "f1", "f2", "f3"):
        feeds = {}
        for name, c in CHANNELS.items():
            raw = cv2.imread(str(folder_data / "val" / name / f"{frame}.png"), cv2.IMREAD_UNCHANGED)
            raw = raw[..., ::-1] if c == 3 else raw[..., None]  # the loader reads RGB order
            mean, std = (MEAN, STD) if c == 3 else (MEAN.mean(), STD.mean())
            feeds[name] = ((raw / 255.0 - mean) / std).transpose(2, 0, 1)[None].astype(np.float32)
        pred = session.run(None, feeds)[0].argmax(axis=1)[0]
        label = cv2.imread(str(folder_data / "val" / "label" / f"{frame}.png"), cv2.IMREAD_UNCHANGED)
        np.add.at(expected, (label.ravel(), pred.ravel()), 1)
    state = results["cells"]["emm/missing=none"]["state"]
    got = np.zeros(25, np.int64)
    got[state["index"]] = state["count"]
    assert (got.reshape(5, 5) == expected).all()


def test_larger_frames_reach_the_graph_through_the_inferred_resize(plain_onnx, tmp_path, capsys):
    model = tmp_path / "model"
    (tmp_path / "classes.txt").write_text("\n".join(CLASSES))
    assert main(["init", str(plain_onnx), "--out", str(model), "--classes", str(tmp_path / "classes.txt")]) == ExitCode.OK
    data = write_folder_data(tmp_path / "data", 2 * SIZE)
    out = tmp_path / "results"
    code = main(["run", str(model), "--data", f"folder:{data / 'spec.json'}", "--limit", "2", "--scenarios", "emm",
                 "--out", str(out), "--progress", "off", "--bootstrap", "0"])
    err = capsys.readouterr().err
    assert code == ExitCode.OK, err
    evaluation = json.loads((out / "results.json").read_text())["evaluation"]
    assert evaluation["frame_size"] == [2 * SIZE, 2 * SIZE] and evaluation["model_input"] == [SIZE, SIZE]
    assert evaluation["resize"] == {"mode": "shorter_edge", "size": SIZE, "align": 32, "source": "manifest"}
