"""`mmharness run` through the CLI on a real ONNX graph on ONNX Runtime (CPU): exit codes,
summary, files, and the clean cell against a bare InferenceSession loop + scikit-learn."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from onnx_graphs import build_seg_model_dir
from sklearn.metrics import confusion_matrix

from harness.cli import main
from harness.data import open_dataset
from harness.errors import ExitCode

DATA = "synthetic:size=32,length=6"
MODS = {"rgb": 3, "depth": 3, "event": 3, "lidar": 3}


@pytest.fixture(scope="module")
def onnx_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    model = build_seg_model_dir(tmp_path_factory.mktemp("onnx") / "model", MODS, num_classes=7, size=(32, 32))
    return Path(model.dir)


def test_run_on_onnxruntime_matches_a_bare_session_loop(onnx_model, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["run", str(onnx_model), "--data", DATA, "--scenarios", "emm,nm", "--nm-suite", "rgb=gaussian_noise",
                 "--out", str(out), "--progress", "plain", "--bootstrap", "0", "--batch", "4"])
    captured = capsys.readouterr()
    assert code == ExitCode.OK, captured.err
    assert "emm.avg" in captured.out and "results:" in captured.out
    assert "[1/" in captured.err
    doc = json.loads((out / "results.json").read_text())
    assert doc["provenance"]["backend"]["provider"] == "CPUExecutionProvider"

    import onnxruntime as ort

    manifest = json.loads((onnx_model / "manifest.json").read_text())
    session = ort.InferenceSession(str(onnx_model / "model.onnx"), providers=["CPUExecutionProvider"])
    dataset = open_dataset(DATA)
    preds, labels = [], []
    for i in range(len(dataset)):
        sample = dataset[i]
        feeds = {}
        for m in manifest["modalities"]:
            pre = m.get("preprocess", {})
            x = sample.modalities[m["name"]].astype(np.float32) * np.float32(pre.get("scale", 1.0))
            x = (x - np.float32(pre.get("mean", [0.0]))) / np.float32(pre.get("std", [1.0]))
            feeds[m["input"]] = x.transpose(2, 0, 1)[None].astype(np.float32)
        preds.append(session.run(None, feeds)[0].argmax(axis=1)[0])
        labels.append(sample.label)
    expected = confusion_matrix(np.ravel(labels), np.ravel(preds), labels=list(range(7)))
    state = doc["cells"]["emm/missing=none"]["state"]
    got = np.zeros(49, dtype=np.int64)
    got[state["index"]] = state["count"]
    assert (got.reshape(7, 7) == expected).all()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--shard", "3/2"], "--shard: expected I/N"),
        (["--shard", "1/2", "--shard-by", "samples", "--limit", "1"], "make only 1 batch(es) of"),
        (["--scenarios", "emm,nmm"], "did you mean 'nm'"),
        (["--data", "synthetik"], "did you mean 'synthetic'"),
        (["--nm-suite", "rgb=fogg"], "did you mean 'fog'"),
        (["--backend", "ort:cpuu"], "did you mean 'ort:cpu'"),
    ],
)
def test_bad_run_flags_are_bad_input(onnx_model, tmp_path, capsys, args, message):
    code = main(["run", str(onnx_model), "--data", DATA, "--out", str(tmp_path / "o"), "--progress", "off", *args])
    err = capsys.readouterr().err
    assert code == ExitCode.BAD_INPUT, err
    assert message in err and err.count("\n") == 1


def test_missing_model_dir_is_bad_input(tmp_path, capsys):
    assert main(["run", str(tmp_path / "nope"), "--progress", "off"]) == ExitCode.BAD_INPUT


def test_class_map_graphs_and_mask_inputs(tmp_path):
    """A graph that outputs class ids scores like its logits twin; a ``mask`` fill feeds 0 to
    the mask input exactly when the modality is missing (1 otherwise)."""
    import onnxruntime as ort

    from harness.backends.callable import CallableBackend
    from harness.backends.interface import TensorSpec
    from harness.runner import RunConfig, run_sweep
    from harness.scenarios.plan import PlanSpec

    plan = PlanSpec(scenarios=("emm",))
    logits = build_seg_model_dir(tmp_path / "logits", MODS, num_classes=7, size=(32, 32))
    ids = build_seg_model_dir(tmp_path / "ids", MODS, num_classes=7, size=(32, 32), argmax=True)
    docs = [run_sweep(RunConfig(model_dir=Path(m.dir), data=DATA, plan=plan, bootstrap=0, out=tmp_path / f"o{k}", progress="off")).doc
            for k, m in enumerate((logits, ids))]
    assert {c: e["state"] for c, e in docs[0]["cells"].items()} == {c: e["state"] for c, e in docs[1]["cells"].items()}

    masked = build_seg_model_dir(tmp_path / "masked", MODS, num_classes=7, size=(32, 32), masks={"rgb": "rgb_mask"})
    session = ort.InferenceSession(masked.path, providers=["CPUExecutionProvider"])
    seen = []

    def fn(feeds):
        seen.append((bool((feeds["rgb_mask"] == 0).all()), bool((feeds["rgb"] == 0).all()), bool((feeds["rgb_mask"] == 1).all())))
        return {"logits": session.run(None, dict(feeds))[0]}

    specs = [TensorSpec(i.name, np.dtype(np.float32), tuple(i.shape)) for i in session.get_inputs()]
    backend = CallableBackend(fn, specs, [TensorSpec("logits", np.dtype(np.float32), ("N", 7, 32, 32))])
    doc = run_sweep(RunConfig(model_dir=Path(masked.dir), data=DATA, plan=plan, bootstrap=0, out=tmp_path / "om", progress="off"), backend=backend).doc
    assert all(e["status"] == "ok" for e in doc["cells"].values())
    assert {(zero_mask, zero_data) for zero_mask, zero_data, _ in seen} == {(True, True), (False, False)}
    assert all(ones for zero_mask, _, ones in seen if not zero_mask)
