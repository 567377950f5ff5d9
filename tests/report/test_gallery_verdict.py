"""The report's verdict, sample gallery and charts, without a browser: the kept samples are
the sweep's own predictions (byte-identical for a seed), the gate verdict heads the report,
bad inputs are one-line errors, and the chart helpers label what they draw."""

from __future__ import annotations

import json
import re
import zlib
from pathlib import Path

import numpy as np
import pytest
from sweep_fixtures import backend, config, write_model

from harness.cli import main
from harness.errors import ExitCode
from harness.report import palette, png, render_report, svg
from harness.report.gallery import SAMPLES_NAME
from harness.report.view import Table
from harness.runner import run_sweep
from harness.scenarios.cells import CLEAN_ID


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("gallery")
    model = write_model(root / "model")
    for name in ("a", "b"):
        run_sweep(config(model, root / name), backend=backend())
    return root / "a", root / "b"


def _meta(arrays: dict) -> dict:
    return json.loads(str(np.asarray(arrays["meta"]).reshape(-1)[0]))


def test_kept_samples_are_the_sweeps_predictions_and_byte_identical(runs: tuple[Path, Path]) -> None:
    a, b = runs
    assert (a / SAMPLES_NAME).read_bytes() == (b / SAMPLES_NAME).read_bytes()
    with np.load(a / SAMPLES_NAME) as data:
        arrays = {k: data[k] for k in data.files}
    with np.load(a / "per_image.npz") as data:
        per_image = {k: data[k] for k in data.files}
    meta = _meta(arrays)
    assert [s["role"] for s in meta["samples"]].count("most hurt") == 1 and len(meta["samples"]) == 4
    cells = [c["id"] for c in meta["cells"]]
    doc = json.loads((a / "results.json").read_text())
    assert [c for c in cells if c.startswith("emm/")] == [c for c in doc["plan"]["cells"] if c.startswith("emm/")]
    assert "nm/preset=liao/level=high" in cells and any(c.startswith("nm/rgb/") for c in cells)  # Liao: whole batches re-run
    rows = [list(per_image["sample_index"]).index(s["index"]) for s in meta["samples"]]
    labels = arrays["label"].astype(np.int64)
    n = len(doc["dataset"]["classes"])
    for cid in cells:
        pred = arrays[f"pred/{cid}"].astype(np.int64)
        for j, row in enumerate(rows):
            keep = labels[j] != 255
            matrix = np.bincount(labels[j][keep] * n + pred[j][keep], minlength=n * n).reshape(n, n)
            assert np.array_equal(matrix, per_image[cid][row]), (cid, j)
    rgb_cell = next(c for c in cells if c.startswith("nm/rgb/"))  # the corrupted frame the model was fed
    assert arrays[f"seen/{rgb_cell}/rgb"].shape == arrays["input/rgb"].shape
    assert not np.array_equal(arrays[f"seen/{rgb_cell}/rgb"], arrays["input/rgb"])


def test_html_gallery_shows_every_missing_set_per_sample(runs: tuple[Path, Path]) -> None:
    a, _ = runs
    html = _html(a)
    samples = html.split('<div class="sample"')[1:]
    assert len(samples) == 4
    for sample in samples:
        shown = set(re.findall(r'data-cell="([^"]+)"', sample))
        assert {CLEAN_ID, "emm/missing=rgb", "emm/missing=depth+event+lidar"} <= shown
        assert sample.count("data:image/png;base64,") >= 4 + 2 + 14
    assert "<script" not in html and 'src="http' not in html


def _html(results: Path, *flags: str) -> str:
    out = results.parent / "page.html"
    assert main(["report", str(results), "--format", "html", "-o", str(out), *flags]) == ExitCode.OK
    return out.read_text()


def test_save_samples_zero_removes_a_stale_gallery(tmp_path: Path) -> None:
    model = write_model(tmp_path / "model")
    out = tmp_path / "out"
    run_sweep(config(model, out), backend=backend())
    assert (out / SAMPLES_NAME).exists()
    run_sweep(config(model, out, save_samples=0), backend=backend())
    assert not (out / SAMPLES_NAME).exists()
    assert "No samples kept" in _html(out)


def test_bad_save_samples_and_gate_files_are_one_line_errors(runs: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["run", "--save-samples", "-1", "--out", str(tmp_path / "x")]) == ExitCode.BAD_INPUT
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--save-samples" in err
    a, _ = runs
    for flags, needle in ((["--gate", str(a / "results.json")], "not a gate result"),
                          (["--gate", "g.json", "--thresholds", "t.yaml"], "not both")):
        assert main(["report", str(a), *flags]) == ExitCode.BAD_INPUT
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and needle in err and "--gate" in err


def test_a_gallery_of_another_run_is_refused(runs: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    a, _ = runs
    other = tmp_path / "other"
    other.mkdir()
    doc = json.loads((a / "results.json").read_text())
    doc["config_hash"] = "sha256:" + "0" * 64
    (other / "results.json").write_text(json.dumps(doc))
    (other / SAMPLES_NAME).write_bytes((a / SAMPLES_NAME).read_bytes())
    assert main(["report", str(other / "results.json"), "--format", "html", "-o", str(tmp_path / "r.html")]) != ExitCode.OK
    assert "kept by another run" in capsys.readouterr().err


def test_gate_json_verdict_heads_html_and_markdown(runs: tuple[Path, Path], tmp_path: Path) -> None:
    a, _ = runs
    thresholds = tmp_path / "t.json"
    thresholds.write_text(json.dumps({"version": 1, "floors": {"clean": 0, "emm.avg": 101}}))
    gate = tmp_path / "gate.json"
    assert main(["gate", str(a), "--thresholds", str(thresholds), "--json", str(gate)]) == ExitCode.GATE_FAILED
    html = _html(a, "--gate", str(gate))
    body = html.split("<body>", 1)[1]
    assert re.match(r"<h1>[^<]+</h1><div class=\"verdict fail\"", body)
    verdict = body.split('<div class="verdict fail"', 1)[1].split("</div>", 1)[0]
    assert "1 of 3 gate checks failed" in verdict and "<code>emm.avg</code>" in verdict and "clean" not in verdict.split("<table", 1)[1]
    md = tmp_path / "r.md"
    assert main(["report", str(a), "--thresholds", str(thresholds), "-o", str(md)]) == ExitCode.OK
    text = md.read_text()
    assert "**Gate:** **FAIL**: 1 of 3 checks failed" in text and text.index("**Gate:**") < text.index("## EMM")
    assert "clean mIoU" in text.split("## EMM")[0]


def test_heatmap_tooltips_name_their_own_row_and_column() -> None:
    chart = svg.heatmap(["none", "rgb"], ["EMM", "RMM r=0.5", "RMM r=0.25"], [[90.0, 91.0, 92.0], [50.0, None, 70.0]])
    tips = re.findall(r'data-row="([^"]+)" data-col="([^"]+)"[^>]*><title>([^<]+)</title>', chart)
    assert len(tips) == 6 and len({col for _, col, _ in tips}) == 3
    assert all(tip.startswith(f"{row} / {col}: ") for row, col, tip in tips)
    assert 'class="colour-scale"' in chart and 'font-size="13"' in chart


def test_line_panels_label_every_line_and_clamp_to_0_100() -> None:
    series = {f"c{k}": [(1, 90.0 - k), (3, 50.0), (5, -7.0 if k == 0 else 40.0)] for k in range(8)}
    chart = svg.line_panel(series, title="rgb", x_label="severity", baseline=95.0)
    assert re.findall(r'class="series" data-series="([^"]+)"', chart) == list(series)
    assert re.findall(r'class="legend-entry" data-series="([^"]+)"', chart) == list(series)
    ys = [float(y) for pts in re.findall(r'points="([^"]+)"', chart) for y in re.findall(r",([-\d.]+)", pts)]
    assert max(ys) <= 52 + 230 + 0.01  # -7 is drawn at 0, not below the axis
    with pytest.raises(ValueError):
        svg.line_panel({**series, "ninth": [(1, 1.0)]}, title="too many")


def test_bar_labels_are_never_cut() -> None:
    chart = svg.bars({"multimodal gain (MG)": (12.0, (5.0, 20.0)), "perceptual score": (-3.0, None)}, title="t")
    x = float(re.search(r'class="bar-label" x="([\d.]+)"', chart).group(1))
    assert x >= svg.text_width("multimodal gain (MG)")


def test_appended_sections_render_inline_code_not_backticks(runs: tuple[Path, Path]) -> None:
    a, _ = runs
    doc = json.loads((a / "results.json").read_text())
    extras = [("Precision / backend comparison against `fp32` (model)", [Table("`int8` (ort:cpu, model.int8)", ("metric", "delta"), (("`emm.avg`", "-0.5"),))])]
    html = render_report(doc, "html", extras)
    headings = re.findall(r"<h([123])>(.*?)</h\1>", html)
    assert headings and not any("`" in text for _, text in headings)
    assert "<h2>Precision / backend comparison against <code>fp32</code> (model)</h2>" in html
    assert "<h3><code>int8</code> (ort:cpu, model.int8)</h3>" in html and "<td><code>emm.avg</code></td>" in html


def test_palettes_known_datasets_and_distinct_colours() -> None:
    from harness.data.cityscapes import CLASSES as CITYSCAPES
    from harness.data.deliver import CLASSES as DELIVER

    name, colours = palette.palette_for(DELIVER)
    assert name == "DELIVER" and colours[DELIVER.index("Road")] == (128, 64, 128) and len(set(colours)) == 25
    assert palette.palette_for(CITYSCAPES)[0] == "Cityscapes"
    name, colours = palette.palette_for([f"class{i}" for i in range(40)])
    assert name == "distinct" and len(set(colours)) == 40
    painted = palette.colorize(np.array([[0, 1], [255, 99]]), colours[:2], 255)
    assert painted[0, 0].tolist() == list(colours[0]) and painted[1].tolist() == [[0, 0, 0], [0, 0, 0]]


def test_png_encoder_round_trips() -> None:
    image = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    data = png.encode(image)
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data == png.encode(image.copy())
    idat = data[data.index(b"IDAT") + 4:]
    raw = np.frombuffer(zlib.decompressobj().decompress(idat), np.uint8).reshape(5, 1 + 7 * 3)
    assert (raw[:, 0] == 0).all() and np.array_equal(raw[:, 1:].reshape(5, 7, 3), image)


def test_bias_run_gallery_shows_each_probes_image_and_the_recorded_answer(tmp_path: Path) -> None:
    out = tmp_path / "bias"
    assert main(["bias", "--out", str(out), "--limit", "8", "--bootstrap", "50", "--corruptions", "fog", "--severities", "3"]) == ExitCode.OK
    doc = json.loads((out / "results.json").read_text())
    html = _html(out)
    samples = html.split('<div class="sample"')[1:]
    assert len(samples) == 4 and "seeded choice" in html
    ok = [cid for cid, e in doc["cells"].items() if e["status"] == "ok"]
    for sample in samples:
        tiles = re.findall(r'<figure class="tile ?(hurt)?" data-cell="([^"]+)">(.*?)</figure>', sample)
        assert [cid for _, cid, _ in tiles] == ok
        for hurt, cid, body in tiles:
            assert ("no image" in body) if cid == "bias/image=removed" else ("data:image/png;base64," in body)
            assert ("✗" in body) == (hurt == "hurt")
    sample_id = re.search(r'data-sample="([^"]+)"', samples[0]).group(1)
    position = doc["cells"]["bias/clean"]["state"]["sample_id"].index(sample_id)
    answer = doc["cells"]["bias/clean"]["state"]["prediction"][position]
    assert f"<b>{answer}</b>" in re.search(r'data-cell="bias/clean">(.*?)</figure>', samples[0]).group(1)


def test_sensor_frames_are_drawn_on_the_clean_frames_scale() -> None:
    from harness.report import colormap

    ramp = np.repeat(np.linspace(0, 255, 16)[None, :, None], 3, axis=2)  # depth ramp, 1 x 16 x 3
    span = colormap.display_range(ramp, "depth")
    luminance = colormap.to_rgb(ramp, "depth", span).astype(float) @ [0.299, 0.587, 0.114]
    assert np.all(np.diff(luminance[0]) >= 0) and luminance[0, -1] - luminance[0, 0] > 150  # magma: dark -> light
    lidar = ramp.copy()
    lidar[0, :4] = 0
    drawn = colormap.to_rgb(lidar, "lidar", colormap.display_range(lidar, "lidar"))
    assert (drawn[0, :4] == colormap.NO_RETURN).all() and not (drawn[0, 4:] == colormap.NO_RETURN).all(axis=-1).any()
    image = np.random.default_rng(1).integers(0, 256, (4, 4, 3)).astype(np.uint8)
    assert np.array_equal(colormap.to_rgb(image, "image", colormap.display_range(image, "image")), image)
    thermal = colormap.to_rgb(ramp[..., :1], "thermal", span)
    assert thermal.shape == (1, 16, 3) and tuple(thermal[0, -1]) == (252, 255, 164)  # inferno's end


def test_what_ran_names_the_evaluation_convention_before_any_figure(runs: tuple[Path, Path]) -> None:
    a, _ = runs
    html = _html(a)
    ran = html.split('class="ran"', 1)[1].split("</dl>", 1)[0]
    assert "<dt>evaluation</dt><dd>model (DELIVER/Liao): labels resized (nearest) to 32x32 and scored there; frames 32x32 -&gt; model input 32x32" in ran
    assert html.index('class="ran"') < html.index("What the model saw")
