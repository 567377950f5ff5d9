"""Issue 15: VLM precision variants (``mmharness build``), ``bias --compare`` drift with paired CIs
and per-graph parity, the "vision path broken" detector and its gate rule, on a copy of the
shipped ``models/vlm-synth-tiny``. A deliberately broken variant (its vision output scaled by
1e-3) must be flagged and fail the gate while the honest INT4 and FP16 builds pass."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest

from harness.cli import main
from harness.errors import ExitCode
from harness.mllm.bias import DEFAULT_MODEL

PROBES = ["--limit", "60", "--corruptions", "", "--permutations", "2", "--bootstrap", "300"]


def _scaled_vision(model_dir: Path, factor: float) -> None:
    """``vision.broken.onnx``: the vision graph with its output multiplied by ``factor``, registered."""
    from onnx import helper, numpy_helper

    from exporters.variants.ort import register_graph

    graph = onnx.load(model_dir / "vision.onnx")
    name = graph.graph.output[0].name
    for node in graph.graph.node:
        node.output[:] = [f"{name}_raw" if out == name else out for out in node.output]
    graph.graph.initializer.append(numpy_helper.from_array(np.asarray(factor, np.float32), "scale_to_zero"))
    graph.graph.node.append(helper.make_node("Mul", [f"{name}_raw", "scale_to_zero"], [name]))
    onnx.save(graph, model_dir / "vision.broken.onnx")
    register_graph(model_dir, "vision.broken", "vision.broken.onnx")


@pytest.fixture(scope="module")
def built(tmp_path_factory):  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("drift")
    model = root / "vlm"
    shutil.copytree(DEFAULT_MODEL, model, ignore=shutil.ignore_patterns("hf"))
    assert main(["build", str(model), "--precision", "int4", "--graph", "decoder"]) == ExitCode.OK
    assert main(["build", str(model), "--precision", "fp16"]) == ExitCode.OK
    _scaled_vision(model, 1e-3)
    out = root / "out"
    code = main(["bias", str(model), *PROBES, "--out", str(out), "--compare", "int4", "--compare", "fp16",
                 "--compare", "broken"])
    assert code == ExitCode.OK
    return model, out


def _load(path: Path) -> dict:
    return json.loads(path.read_text())


def test_variants_are_registered_and_keep_the_contract(built):  # type: ignore[no-untyped-def]
    from harness.manifest import load_manifest, validate_against_graph

    model, _ = built
    manifest = load_manifest(model)
    assert manifest.graphs["decoder.int4"] == "decoder.int4.onnx"
    assert {manifest.graphs[f"{r}.fp16"] for r in ("vision", "embedding", "decoder")} == {
        "vision.fp16.onnx", "embedding.fp16.onnx", "decoder.fp16.onnx"}
    validate_against_graph(manifest)  # checksums and every graph's I/O still agree
    int4 = onnx.load(model / "decoder.int4.onnx", load_external_data=False)
    assert sum(n.op_type == "MatMulNBits" for n in int4.graph.node) >= 2 * 7 + 1  # q,k,v,o,gate,up,down per layer + lm_head
    fp16 = onnx.load(model / "decoder.fp16.onnx")
    io_types = {v.type.tensor_type.elem_type for v in [*fp16.graph.input, *fp16.graph.output] if v.type.tensor_type.elem_type}
    assert io_types <= {onnx.TensorProto.FLOAT, onnx.TensorProto.INT64}  # FP32 I/O kept (the contract's float32)
    assert any(init.data_type == onnx.TensorProto.FLOAT16 for init in fp16.graph.initializer)


def test_int8_on_the_decoder_is_refused_with_the_reason(built, capsys):  # type: ignore[no-untyped-def]
    model, _ = built
    assert main(["build", str(model), "--precision", "int8", "--graph", "decoder"]) == ExitCode.BAD_INPUT
    assert "calibrated on images" in capsys.readouterr().err


def test_broken_variant_is_flagged_by_name_and_honest_ones_are_not(built):  # type: ignore[no-untyped-def]
    _, out = built
    doc = _load(out / "compare.json")
    assert doc["vision_path_broken"] == ["broken"]
    verdicts = {label: e["drift"]["verdict"]["vision_path_broken"] for label, e in doc["candidates"].items()}
    assert verdicts == {"int4": False, "fp16": False, "broken": True}
    evidence = {e["figure"] for e in doc["candidates"]["broken"]["drift"]["verdict"]["evidence"]}
    assert "swap_sensitivity" in evidence
    md = (out / "compare.md").read_text()
    assert "Vision path broken: `broken`" in md and "VISION PATH BROKEN" in md
    # cosine cannot see a scaled output; the norm ratio can
    vision = doc["candidates"]["broken"]["parity"]["summary"]
    assert vision["vision_cosine"]["min"] > 0.9999
    assert vision["vision_norm_ratio"]["mean"] == pytest.approx(1e-3, rel=1e-3)


def test_deltas_equal_the_records_computed_by_hand(built):  # type: ignore[no-untyped-def]
    _, out = built
    doc = _load(out / "compare.json")
    ref = _load(out / "results.json")
    cand = _load(out / doc["candidates"]["broken"]["results"])
    drift = doc["candidates"]["broken"]["drift"]

    def correct(d: dict, cell: str) -> np.ndarray:
        return np.asarray(d["cells"][cell]["state"]["correct"], float)

    row = drift["probes"]["bias/clean"]
    assert row["delta"] == pytest.approx(100 * (correct(cand, "bias/clean").mean() - correct(ref, "bias/clean").mean()))
    lo, hi = row["delta_ci"]
    assert lo <= row["delta"] <= hi
    agree = np.mean(np.asarray(ref["cells"]["bias/clean"]["state"]["choice"]) == np.asarray(cand["cells"]["bias/clean"]["state"]["choice"]))
    assert row["choice_agreement"] == pytest.approx(agree)
    mg = lambda d: 100 * (correct(d, "bias/clean").mean() - correct(d, "bias/image=removed").mean())  # noqa: E731
    assert drift["figures"]["multimodal_gain"]["delta"] == pytest.approx(mg(cand) - mg(ref))
    # the FP16 build answers exactly like the reference here: zero deltas with a degenerate CI
    fp16 = doc["candidates"]["fp16"]["drift"]["probes"]["bias/clean"]
    assert fp16["delta"] == 0.0 and fp16["delta_ci"] == [0.0, 0.0] and fp16["choice_agreement"] == 1.0


def test_int4_parity_locates_the_drift_in_the_decoder(built):  # type: ignore[no-untyped-def]
    _, out = built
    parity = _load(out / "compare.json")["candidates"]["int4"]["parity"]
    s = parity["summary"]
    assert s["items"] == 60 and s["vision_cosine"]["min"] == pytest.approx(1.0, abs=1e-12)
    assert s["embedding_cosine"]["min"] == pytest.approx(1.0, abs=1e-12)  # the same graphs on the same inputs
    assert 0.99 < s["decoder_cosine"]["mean"] < 1.0
    divergent = [r for r in parity["items"] if r["first_divergence"] is not None]
    assert s["greedy_agreement"] == pytest.approx(1 - len(divergent) / 60)


def test_gate_fails_the_broken_variant_and_passes_the_honest_ones(built, tmp_path, capsys):  # type: ignore[no-untyped-def]
    _, out = built
    rules = tmp_path / "t.yaml"
    rules.write_text('floors:\n  "bias.drift.multimodal_gain": -10\n  "bias.drift.cell:bias/clean": -10\n')
    for label, expected in (("int4", ExitCode.OK), ("fp16", ExitCode.OK), ("broken", ExitCode.GATE_FAILED)):
        code = main(["gate", str(out / "compare" / label / "results.json"), "--baseline", str(out / "results.json"),
                     "--thresholds", str(rules)])
        table = capsys.readouterr().out
        assert code == expected, table
        assert "bias.drift.vision_path_broken" in table
    assert "FAIL" in table and "image use dropped" in table


def test_vision_verdict_rule():  # type: ignore[no-untyped-def]
    from harness.variants.drift import vision_verdict

    def fig(delta, ci):  # type: ignore[no-untyped-def]
        return {"delta": delta, "delta_ci": ci}

    acc = {"accuracy": fig(-2.0, [-4.0, 0.0])}
    assert vision_verdict({**acc, "multimodal_gain": fig(-5.0, [-8.0, -2.0])})["vision_path_broken"] is True
    assert vision_verdict({**acc, "multimodal_gain": fig(-1.5, [-3.0, -0.5])})["vision_path_broken"] is False  # moved less than accuracy
    assert vision_verdict({**acc, "multimodal_gain": fig(-5.0, [-8.0, 0.5])})["vision_path_broken"] is False  # not significant
    assert vision_verdict({**acc, "swap_sensitivity": fig(-0.03, [-0.05, -0.01])})["vision_path_broken"] is True  # 3 pp > 2 pp
    assert vision_verdict({**acc, "multimodal_gain": fig(-5.0, None)})["vision_path_broken"] is None


def test_report_shows_the_drift_section_in_every_format(built, tmp_path):  # type: ignore[no-untyped-def]
    _, out = built
    for fmt in ("md", "html", "junit"):
        assert main(["report", str(out), "--format", fmt, "-o", str(tmp_path / f"r.{fmt}")]) == ExitCode.OK
    md = (tmp_path / "r.md").read_text()
    assert "VISION PATH BROKEN" in md and "## `int4` vs reference: accuracy per probe" in md  # the label stays a code span in the title
    html = (tmp_path / "r.html").read_text()
    assert "VISION PATH BROKEN" in html and "parity per graph" in html
    from xml.etree import ElementTree as ET

    cases = {c.get("name"): c for c in ET.parse(tmp_path / "r.junit").iter("testcase")}
    assert cases["broken/vision_path"].find("failure") is not None
    assert cases["int4/vision_path"].find("failure") is None and "int4/bias/clean" in cases and "bias/clean" in cases


def test_compare_json_is_recomputed_exactly_from_the_stored_records(built):  # type: ignore[no-untyped-def]
    from harness.variants.drift import drift_block
    from harness.variants.vlm_parity import summarize

    _, out = built
    doc = _load(out / "compare.json")
    ref = _load(out / "results.json")
    for label, entry in doc["candidates"].items():
        again = json.loads(json.dumps(drift_block(ref, _load(out / entry["results"]))))
        assert again == entry["drift"], label  # same seed, same records -> the same block, bit for bit
        assert json.loads(json.dumps(summarize(entry["parity"]["items"]))) == entry["parity"]["summary"]
