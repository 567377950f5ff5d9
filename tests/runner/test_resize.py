"""Resolution end to end: a DELIVER-layout set at 1042x1042 through a 4-modality model with a
static 1024x1024 input (and a 136 px set on a 128 px model), EMM under both evaluation
conventions, every cell against an independent torch/PIL implementation of DELIVER's
evaluation written here: read_image -> Resize (shorter edge, align 32; bilinear for every
sensor, nearest for the label) -> /255 (+ mean/std for RGB) -> Liao's zero fill -> argmax ->
one confusion matrix -> IoU with absent classes as 0; ``native`` the mmsegmentation way
(bilinear logits to the label's size, then argmax). Plus the refusals.

The model quantizes its inputs (``Round(8 x)``) and has small integer weights, so ONNX
Runtime and torch compute identical logits whatever their summation order; the harness's
``x * (1/255)`` and torch's ``x / 255`` may differ in the last bit, which is checked not to
move any pixel across a rounding boundary. Confusion matrices are compared exactly; mIoU to
1e-9 (DELIVER multiplies by 100 after the mean, the harness before)."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from harness.cli import main
from harness.errors import DataError, ManifestError
from harness.manifest import load_manifest
from harness.manifest import manifest_to_dict
from harness.manifest.model import manifest_from_document
from harness.report import html, junit, markdown
from harness.report.merge import merge_results
from harness.runner import RunConfig, run_sweep
from harness.scenarios.plan import PlanSpec, Shard

torch = pytest.importorskip("torch")
Image = pytest.importorskip("PIL.Image")
F = torch.nn.functional

MODALITIES = ("rgb", "depth", "event", "lidar")
KINDS = {"rgb": "image", "depth": "depth", "event": "event", "lidar": "lidar"}
FOLDERS = {"rgb": ("img", "_rgb"), "depth": ("hha", "_depth"), "event": ("event", "_event"), "lidar": ("lidar", "_lidar"),
           "label": ("semantic", "_semantic")}
CLASSES = ("road", "car", "sky", "building")
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)  # DELIVER's Normalize, RGB only
QUANT = 8.0


def write_set(root: Path, sizes: list[int], seed: int = 0) -> Path:
    """Frames ``{i:06d}_<tag>_front.png`` in DELIVER's folders, smooth scenes with texture;
    labels stored as id + 1 (0 = unlabelled) like DELIVER's."""
    rng = np.random.default_rng(seed)
    for i, size in enumerate(sizes):
        for m in (*MODALITIES, "label"):
            folder, tag = FOLDERS[m]
            path = root / folder / "cloud" / "val" / "scene" / f"{i:06d}{tag}_front.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            if m == "label":
                coarse = rng.integers(0, len(CLASSES) + 1, (9, 9), dtype=np.uint8)
                Image.fromarray(coarse).resize((size, size), Image.NEAREST).save(path)
                continue
            smooth = Image.fromarray(rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)).resize((size, size), Image.BICUBIC)
            frame = np.asarray(smooth).astype(np.int16) + rng.integers(-12, 13, (size, size, 3))
            if m == "event":  # sparse
                frame = np.where(rng.random((size, size, 1)) < 0.1, frame, 0)
            Image.fromarray(np.clip(frame, 0, 255).astype(np.uint8)).save(path)
    (root / "classes.txt").write_text("\n".join(CLASSES) + "\n")
    return root


def write_model(root: Path, size: int, seed: int = 0, manifest: dict | None = None, argmax: bool = False) -> tuple[Path, np.ndarray, np.ndarray]:
    """logits = Conv1x1(concat(Round(8 x_m))) + b with small integer weights; H/W static.
    ``argmax``: the graph outputs the class map instead (an ``--argmax`` export)."""
    rng = np.random.default_rng(seed)
    weight = rng.integers(-3, 4, (len(CLASSES), 3 * len(MODALITIES), 1, 1)).astype(np.float32)
    bias = rng.integers(-4, 5, len(CLASSES)).astype(np.float32)
    inputs = [helper.make_tensor_value_info(m, TensorProto.FLOAT, ["N", 3, size, size]) for m in MODALITIES]
    nodes = []
    for m in MODALITIES:
        nodes += [helper.make_node("Mul", [m, "quant"], [f"{m}_s"]), helper.make_node("Round", [f"{m}_s"], [f"{m}_q"])]
    nodes += [helper.make_node("Concat", [f"{m}_q" for m in MODALITIES], ["x"], axis=1),
              helper.make_node("Conv", ["x", "w", "b"], ["logits"])]
    inits = [numpy_helper.from_array(np.array(QUANT, np.float32), "quant"), numpy_helper.from_array(weight, "w"),
             numpy_helper.from_array(bias, "b")]
    out = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", len(CLASSES), size, size])
    if argmax:
        nodes.append(helper.make_node("ArgMax", ["logits"], ["classes"], axis=1, keepdims=0))
        out = helper.make_tensor_value_info("classes", TensorProto.INT64, ["N", size, size])
    graph = helper.make_graph(nodes, "tiny_deliver", inputs, [out], inits)
    root.mkdir(parents=True, exist_ok=True)
    onnx.save_model(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), root / "model.onnx")
    doc = {
        "schema_version": 1, "name": "tiny-deliver", "task": "segmentation", "graphs": {"model": "model.onnx"},
        "modalities": [{"name": m, "input": m, "kind": KINDS[m], "layout": "NCHW", "dtype": "float32", "channels": 3,
                        "preprocess": {"scale": 1 / 255, "mean": list(MEAN) if m == "rgb" else [0.0],
                                       "std": list(STD) if m == "rgb" else [1.0]},
                        "missing": {"fill": "zero_normalized"}} for m in MODALITIES],
        "outputs": [{"name": "classes", "role": "class_map", "layout": "NHW"} if argmax else {"name": "logits", "role": "logits", "layout": "NCHW"}],
        "classes": list(CLASSES), "ignore_index": 255, "batch": {"dynamic": True, "max": 2}, "input_size": [size, size],
        **(manifest or {}),
    }
    (root / "manifest.json").write_text(json.dumps(doc))
    return root, weight, bias


# ---- the independent reference: DELIVER's val pipeline and metric, in torch ----------------

def _tv_resize(t: torch.Tensor, size: tuple[int, int], mode: str) -> torch.Tensor:
    """torchvision.transforms.functional.resize on a uint8 tensor (no torchvision here)."""
    if tuple(t.shape[-2:]) == size:
        return t
    kwargs = {"align_corners": False, "antialias": False} if mode == "bilinear" else {}
    return torch.round(F.interpolate(t[None].float(), size=size, mode=mode, **kwargs))[0].to(torch.uint8)


def _deliver_val(frames: dict[str, torch.Tensor], label: torch.Tensor, size: int) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """semseg/augmentations_mm.py get_val_augmentation(size): Resize then Normalize."""
    h, w = frames["rgb"].shape[1:]
    scale = size / min(h, w)
    nh, nw = round(h * scale), round(w * scale)
    ah, aw = math.ceil(nh / 32) * 32, math.ceil(nw / 32) * 32
    for target in ((nh, nw), (ah, aw)):
        frames = {m: _tv_resize(t, target, "bilinear") for m, t in frames.items()}
        label = _tv_resize(label, target, "nearest")
    out = {}
    for m, t in frames.items():
        x = t.float() / 255
        if m == "rgb":
            x = (x - torch.tensor(MEAN)[:, None, None]) / torch.tensor(STD)[:, None, None]
        out[m] = x
    return out, label


def _read(root: Path) -> list[tuple[dict[str, torch.Tensor], torch.Tensor]]:
    frames = []
    for rgb in sorted((root / "img").glob("*/val/*/*.png")):
        paths = {m: Path(str(rgb).replace("/img/", f"/{FOLDERS[m][0]}/").replace("_rgb", FOLDERS[m][1])) for m in (*MODALITIES, "label")}
        sensors = {m: torch.from_numpy(np.asarray(Image.open(paths[m]).convert("RGB")).transpose(2, 0, 1).copy()) for m in MODALITIES}
        frames.append((sensors, torch.from_numpy(np.asarray(Image.open(paths["label"])).copy())[None]))
    return frames


def reference_cells(root: Path, size: int, weight: np.ndarray, bias: np.ndarray, convention: str,
                    class_map: bool = False) -> dict[frozenset[str], np.ndarray]:
    """Confusion matrix (rows = label, cols = prediction) per missing set."""
    torch.set_num_threads(1)  # a DataLoader worker's kernel choice, which harness.data.resize reproduces
    n = len(CLASSES)
    hists = {}
    data = []
    for sensors, raw_label in _read(root):
        x, label = _deliver_val(sensors, raw_label, size)
        if convention == "native":  # mmsegmentation: the label as stored
            label = raw_label
        label = label[0].long()
        label = torch.where((label == 0) | (label == 255), 255, label - 1)  # DELIVER's encode
        data.append((x, label))
    # the model is linear in its quantized inputs and a zero-filled input quantizes to 0, so each
    # modality's share of the logits is computed once per frame (integers: exact in float32)
    shares = []
    for x, label in data:
        parts = {m: F.conv2d(torch.round(x[m][None] * QUANT), torch.from_numpy(weight[:, 3 * i : 3 * i + 3])) for i, m in enumerate(MODALITIES)}
        shares.append((parts, label))
    for k in range(len(MODALITIES)):
        for missing in itertools.combinations(MODALITIES, k):
            hist = torch.zeros(n * n, dtype=torch.int64)
            for parts, label in shares:
                logits = torch.from_numpy(bias)[None, :, None, None] + sum(parts[m] for m in MODALITIES if m not in missing)
                if convention == "native" and not class_map:
                    logits = F.interpolate(logits, size=tuple(label.shape), mode="bilinear", align_corners=False)
                pred = logits.argmax(1)[0]
                if convention == "native" and class_map:  # no scores left: nearest
                    pred = F.interpolate(pred[None, None].float(), size=tuple(label.shape), mode="nearest")[0, 0].long()
                keep = label != 255
                hist += torch.bincount(label[keep] * n + pred[keep], minlength=n * n)
            hists[frozenset(missing)] = hist.reshape(n, n).numpy()
    return hists


def deliver_miou(hist: np.ndarray) -> float:
    """semseg/metrics.py: ious = diag / (rows + cols - diag), NaN -> 0, mean, then * 100."""
    h = torch.from_numpy(hist).double()
    ious = h.diag() / (h.sum(0) + h.sum(1) - h.diag())
    ious[ious.isnan()] = 0.0
    return float(ious.mean() * 100)


def _dense(state: dict) -> np.ndarray:
    n = state["num_classes"]
    flat = np.zeros(n * n, np.int64)
    flat[state["index"]] = state["count"]
    return flat.reshape(n, n)


def _missing(cell_id: str) -> frozenset[str]:
    label = cell_id.split("=", 1)[1]
    return frozenset() if label == "none" else frozenset(label.split("+"))


def _run(model: Path, data: Path, out: Path, evaluation: str | None = None, **extra: object) -> dict:
    config = RunConfig(model_dir=model, data=f"deliver:{data}", plan=PlanSpec(scenarios=("emm",)), bootstrap=0, out=out,
                       progress="off", telemetry=False, save_samples=0, batch=2, evaluation=evaluation, **extra)  # type: ignore[arg-type]
    return run_sweep(config).doc


def _check_precondition() -> None:
    """x * (1/255) (harness) and x / 255 (torch) never round to different quantized inputs."""
    v = np.arange(256, dtype=np.float32)
    for mean, std in [*zip(MEAN, STD), (0.0, 1.0)]:
        ours = (v * np.float32(1 / 255) - np.float32(mean)) / np.float32(std)
        theirs = (v / np.float32(255) - np.float32(mean)) / np.float32(std)
        assert np.array_equal(np.rint(ours * np.float32(QUANT)), np.rint(theirs * np.float32(QUANT)))


@pytest.fixture(scope="module")
def deliver_1042(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, tuple[Path, np.ndarray, np.ndarray]]:
    root = tmp_path_factory.mktemp("resize")
    return write_set(root / "DELIVER", [1042, 1042]), write_model(root / "model", 1024)


@pytest.mark.parametrize("convention", ["model", "native"])
def test_emm_cells_equal_delivers_evaluation_in_torch(deliver_1042, tmp_path: Path, convention: str) -> None:
    _check_precondition()
    data, (model, weight, bias) = deliver_1042
    doc = _run(model, data, tmp_path / "out", convention)
    label = [1024, 1024] if convention == "model" else [1042, 1042]
    assert doc["evaluation"] == {
        "convention": convention, "resize": {"mode": "shorter_edge", "size": 1024, "align": 32, "source": "default from input_size"},
        "interpolation": dict.fromkeys(MODALITIES, "bilinear"), "frame_size": [1042, 1042], "model_input": [1024, 1024], "label_size": label,
    }
    expected = reference_cells(data, 1024, weight, bias, convention)
    assert len(doc["cells"]) == 15 == len(expected)
    for cell_id, entry in doc["cells"].items():
        hist = expected[_missing(cell_id)]
        assert np.array_equal(_dense(entry["state"]), hist), cell_id
        assert abs(entry["figures"]["miou"] - deliver_miou(hist)) < 1e-9, cell_id
    assert len({e["figures"]["miou"] for e in doc["cells"].values()}) > 5  # the missing sets do matter


def test_a_136_px_set_runs_on_a_128_px_model_with_no_flag(tmp_path: Path) -> None:
    data = write_set(tmp_path / "DELIVER", [136, 136, 136], seed=1)
    model, weight, bias = write_model(tmp_path / "model", 128, seed=1)
    for convention in ("model", "native"):
        doc = _run(model, data, tmp_path / convention, convention)
        assert doc["evaluation"]["model_input"] == [128, 128]
        expected = reference_cells(data, 128, weight, bias, convention)
        for cell_id, entry in doc["cells"].items():
            assert np.array_equal(_dense(entry["state"]), expected[_missing(cell_id)]), (convention, cell_id)


def test_native_resizes_an_exported_class_map_with_nearest(tmp_path: Path) -> None:
    data = write_set(tmp_path / "DELIVER", [136, 136], seed=6)
    model, weight, bias = write_model(tmp_path / "model", 128, seed=6, argmax=True)
    doc = _run(model, data, tmp_path / "out", "native")
    expected = reference_cells(data, 128, weight, bias, "native", class_map=True)
    for cell_id, entry in doc["cells"].items():
        assert np.array_equal(_dense(entry["state"]), expected[_missing(cell_id)]), cell_id


def test_reports_name_the_convention_and_merge_refuses_mixed_ones(tmp_path: Path) -> None:
    data = write_set(tmp_path / "DELIVER", [136, 136], seed=2)
    model, _, _ = write_model(tmp_path / "model", 128, seed=2, manifest={"evaluation": "native"})
    native = _run(model, data, tmp_path / "a", shard=Shard(1, 2))  # the manifest's convention
    assert native["evaluation"]["convention"] == "native" and native["config"]["evaluation"] == "native"
    text = markdown.render(native).replace("\\", "")  # Markdown escapes punctuation
    assert "**evaluation**: native (mmsegmentation): logits resized bilinearly to the labels' on-disk 136x136" in text
    assert "model input 128x128 (resize mode shorter_edge, size 128, align 32; default from input_size)" in text
    assert '<property name="evaluation" value="native (mmsegmentation)' in junit.results_junit(native)
    assert "<dt>evaluation</dt><dd>native (mmsegmentation): logits resized bilinearly" in html.render(native)
    _run(model, data, tmp_path / "b", "model", shard=Shard(2, 2))  # --evaluation overrides the manifest
    with pytest.raises(Exception, match="config_hash differs"):
        merge_results([tmp_path / "a" / "results.json", tmp_path / "b" / "results.json"])


def test_resume_refuses_another_convention(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = write_set(tmp_path / "DELIVER", [136], seed=3)
    model, _, _ = write_model(tmp_path / "model", 128, seed=3)
    argv = ["run", str(model), "--data", f"deliver:{data}", "--scenarios", "emm", "--bootstrap", "0", "--progress", "off",
            "--save-samples", "0", "--out", str(tmp_path / "out")]
    assert main(argv) == 0
    capsys.readouterr()
    assert main([*argv, "--resume", "--evaluation", "native"]) == 2
    err = capsys.readouterr().err
    assert "evaluation" in err and len(err.strip().splitlines()) == 1, err


def test_a_static_graph_of_another_size_is_refused_naming_resize(tmp_path: Path) -> None:
    data = write_set(tmp_path / "DELIVER", [136], seed=4)
    model, _, _ = write_model(tmp_path / "model", 128, manifest={"resize": {"mode": "none"}})
    with pytest.raises(DataError) as error:
        _run(model, data, tmp_path / "out")
    message = str(error.value)
    assert "\n" not in message and "frames are 136x136" in message and "static 128x128" in message
    assert '"resize": {"mode": "exact", "size": [128, 128]}' in message
    assert not any((tmp_path / "out" / "cells").glob("*"))  # before any cell ran


def test_native_refuses_a_split_whose_labels_differ_in_size(tmp_path: Path) -> None:
    data = write_set(tmp_path / "DELIVER", [136, 144], seed=5)
    model, _, _ = write_model(tmp_path / "model", 128)
    assert _run(model, data, tmp_path / "model-convention", "model")["evaluation"]["label_size"] == [128, 128]  # both resize to 128
    with pytest.raises(DataError) as error:
        _run(model, data, tmp_path / "native", "native")
    message = str(error.value)
    assert "\n" not in message and "label is 144x144" in message and "136x136" in message and "--evaluation model" in message


def test_the_new_fields_round_trip_through_the_manifest_writer(tmp_path: Path) -> None:
    extra = {"resize": {"mode": "exact", "size": [120, 160]}, "evaluation": "native"}
    model, _, _ = write_model(tmp_path / "model", 128, manifest=extra)
    doc = json.loads((model / "manifest.json").read_text())
    doc["modalities"][2]["preprocess"]["interpolation"] = "nearest"
    manifest = manifest_from_document(doc, str(model))
    written = manifest_to_dict(manifest)
    assert written["resize"] == extra["resize"] and written["evaluation"] == "native"
    assert written["modalities"][2]["preprocess"]["interpolation"] == "nearest" and "interpolation" not in written["modalities"][0]["preprocess"]
    assert manifest_from_document(written, str(model)) == manifest
    plain = manifest_to_dict(load_manifest(write_model(tmp_path / "plain", 128)[0]))
    assert "resize" not in plain and "evaluation" not in plain  # defaults stay implicit: existing manifests are written unchanged


@pytest.mark.parametrize(("block", "field"), [
    ({"mode": "shorter_edge"}, "resize.size: missing required field 'size'"),
    ({"mode": "exact", "size": 1024}, "resize.size: expected array"),
    ({"mode": "none", "align": 32}, "resize.align: field not allowed"),
    ({"mode": "stretch", "size": 1024}, "resize.mode: 'stretch' is not one of"),
])
def test_a_bad_resize_block_names_the_field(tmp_path: Path, capsys: pytest.CaptureFixture[str], block: dict, field: str) -> None:
    model, _, _ = write_model(tmp_path / "model", 128, manifest={"resize": block})
    with pytest.raises(ManifestError, match=field):
        load_manifest(model)
    assert main(["validate", str(model)]) == 2
    err = capsys.readouterr().err
    assert field in err and len(err.strip().splitlines()) == 1, err


def test_validate_prints_the_resolution_and_refuses_an_exact_size_the_graph_cannot_take(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model, _, _ = write_model(tmp_path / "ok", 128)
    assert main(["validate", str(model)]) == 0
    out = capsys.readouterr().out
    assert "resolution: resize {'mode': 'shorter_edge', 'size': 128, 'align': 32} (default from input_size); evaluation model" in out
    model, _, _ = write_model(tmp_path / "bad", 128, manifest={"resize": {"mode": "exact", "size": [120, 128]}})
    assert main(["validate", str(model)]) == 2
    err = capsys.readouterr().err
    assert "resize.size: [120, 128] but model.onnx input 'rgb'" in err and len(err.strip().splitlines()) == 1, err


def test_frames_of_one_sample_that_disagree_in_size_are_refused_without_a_resize(tmp_path: Path) -> None:
    from harness.data.interface import Sample
    from harness.runner.resolution import resolve

    frames = {m: np.zeros((136 if m != "event" else 68, 136, 3), np.uint8) for m in MODALITIES}
    sample = Sample(index=0, sample_id="f0", modalities=frames, label=np.zeros((136, 136), np.int64))
    none = load_manifest(write_model(tmp_path / "none", 128, manifest={"resize": {"mode": "none"}})[0])
    with pytest.raises(DataError) as error:
        resolve(none, sample, "--data x")
    message = str(error.value)
    assert "\n" not in message and "event 68x136" in message and "rgb 136x136" in message and '"resize"' in message
    resized = resolve(load_manifest(write_model(tmp_path / "default", 128)[0]), sample, "--data x")  # the default resize brings every frame to 128
    raw, label = resized.apply(load_manifest(tmp_path / "default"), sample)
    assert {a.shape for a in raw.values()} == {(128, 128, 3)} and label.shape == (128, 128)
