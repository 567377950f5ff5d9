"""Export robustness: a failed export or a parity mismatch leaves no folder that looks valid,
every graph is in ``checksums`` (validate refuses a swapped decoder), JUnit names a VQA cell's
figure, and a Llava with a Pixtral tower is refused in one line."""

from __future__ import annotations

import json
import shutil

import pytest

from harness.cli import main
from harness.errors import ConfigError, ExitCode


def _leftovers(folder):  # type: ignore[no-untyped-def]
    return sorted(p.name for p in folder.parent.iterdir() if p.name.startswith(f".{folder.name}.partial-"))


def test_a_failing_export_leaves_nothing(tmp_path, llava_export, monkeypatch):  # type: ignore[no-untyped-def]
    from exporters.mllm import ExportOptions, export_mllm
    from exporters.mllm import export as export_module

    model, export = llava_export

    def broken(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("decoder trace failed")

    monkeypatch.setattr(export_module, "export_decoder", broken)
    out = tmp_path / "m"
    with pytest.raises(RuntimeError, match="decoder trace failed"):
        export_mllm(model, out, ExportOptions(tokenizer=export / "tokenizer.json"))
    assert not out.exists() and _leftovers(out) == []


def test_a_parity_mismatch_fails_the_export_and_keeps_an_existing_folder(tmp_path, llava_export, monkeypatch):  # type: ignore[no-untyped-def]
    from exporters.mllm import ExportOptions, export_mllm
    from exporters.mllm import parity
    from exporters.verify import ParityError

    model, export = llava_export
    out = tmp_path / "m"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    monkeypatch.setattr(parity, "check_parity", lambda *a, **k: {"greedy_tokens_equal": False, "max_abs_logit_diff": 3.0})
    with pytest.raises(ParityError, match="greedy tokens differ from transformers' generate .*nothing was written"):
        export_mllm(model, out, ExportOptions(tokenizer=export / "tokenizer.json", parity_questions=("w1",)))
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"] and _leftovers(out) == []
    monkeypatch.undo()
    manifest = export_mllm(model, out, ExportOptions(tokenizer=export / "tokenizer.json", parity_questions=("w1",)))
    assert manifest["name"] == "m" and manifest["parity"]["greedy_tokens_equal"] is True
    assert (out / "notes.txt").read_text() == "mine" and json.loads((out / "manifest.json").read_text())["name"] == "m"


def test_every_graph_is_checksummed_and_a_swapped_decoder_is_refused(tmp_path, llava_export, capsys):  # type: ignore[no-untyped-def]
    import numpy as np
    import onnx
    from onnx import numpy_helper

    _, export = llava_export
    manifest = json.loads((export / "manifest.json").read_text())
    assert set(manifest["graphs"].values()) | {"tokenizer.json", "preprocessor_config.json"} <= set(manifest["checksums"])
    copy = tmp_path / "m"
    shutil.copytree(export, copy)
    assert main(["validate", str(copy)]) == ExitCode.OK
    decoder = onnx.load(str(copy / "decoder.onnx"))
    weight = next(t for t in decoder.graph.initializer if t.data_type == onnx.TensorProto.FLOAT and len(t.dims) == 2)
    weight.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(weight) + np.float32(0.01), weight.name))
    onnx.save(decoder, str(copy / "decoder.onnx"))  # a valid graph of the same contract, other weights
    capsys.readouterr()
    assert main(["validate", str(copy)]) == ExitCode.BAD_INPUT
    assert "checksums.decoder.onnx: sha256" in capsys.readouterr().err


def test_junit_names_the_figure_a_cell_holds():  # type: ignore[no-untyped-def]
    from xml.etree import ElementTree as ET

    from harness.report.junit import results_junit

    cells = {"bias/clean": {"status": "ok", "kind": "records", "figures": {"accuracy": 75.0}, "scenario": "bias"},
             "clean": {"status": "ok", "kind": "confusion", "figures": {"miou": 50.0}, "scenario": "clean"}}
    root = ET.fromstring(results_junit({"cells": cells, "model": {"name": "m"}}))
    out = {case.get("name"): case.find("system-out").text for case in root.iter("testcase")}
    assert out == {"bias/clean": "accuracy 75.00", "clean": "mIoU 50.00"}


def test_llava_with_a_pixtral_tower_is_refused_in_one_line():  # type: ignore[no-untyped-def]
    from transformers import LlavaConfig, LlavaForConditionalGeneration, PixtralVisionConfig

    from exporters.mllm.families import family_of
    from tests.mllm.conftest import _text_config

    vision = PixtralVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=4,
                                 image_size=32, patch_size=8, head_dim=8)
    model = LlavaForConditionalGeneration(LlavaConfig(vision_config=vision, text_config=_text_config(), image_token_id=4,
                                                      vision_feature_layer=-1, vision_feature_select_strategy="full"))
    with pytest.raises(ConfigError, match="^Llava with a Pixtral tower: not supported .*image_sizes") as error:
        family_of(model)
    assert "\n" not in str(error.value)


def test_the_cli_refuses_a_pixtral_llava_before_loading_weights(tmp_path, llava_export, capsys):  # type: ignore[no-untyped-def]
    from transformers import LlavaConfig, PixtralVisionConfig

    from tests.mllm.conftest import _text_config

    _, export = llava_export
    folder = tmp_path / "hf"
    folder.mkdir()
    config = LlavaConfig(vision_config=PixtralVisionConfig(hidden_size=32, num_hidden_layers=1), text_config=_text_config(),
                         image_token_id=4)
    config.architectures = ["LlavaForConditionalGeneration"]
    config.save_pretrained(folder)
    (folder / "model.safetensors").write_bytes(b"not weights")  # never read: the refusal comes first
    capsys.readouterr()
    code = main(["export", "mllm", "--model", str(folder), "--tokenizer", str(export / "tokenizer.json"),
                 "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert code == ExitCode.BAD_INPUT and len(err.splitlines()) == 1
    assert "config.json: Llava with a Pixtral tower: not supported" in err and not (tmp_path / "out").exists()


def test_an_image_processor_the_runtime_cannot_reproduce_is_refused_before_tracing(tmp_path, llava_export):  # type: ignore[no-untyped-def]
    from transformers import CLIPImageProcessor

    from exporters.mllm import ExportOptions, export_mllm

    model, export = llava_export
    CLIPImageProcessor(size={"shortest_edge": 24}, crop_size={"height": 24, "width": 24}).save_pretrained(tmp_path / "p")
    with pytest.raises(ConfigError, match=r"^image processor: preprocessor_config.json gives \[24, 24\] pixels, the vision graph takes \[16, 16\]"):
        export_mllm(model, tmp_path / "m", ExportOptions(tokenizer=export / "tokenizer.json", image_processor=tmp_path / "p"))
    (tmp_path / "p" / "preprocessor_config.json").write_text('{"image_processor_type": "PixtralImageProcessor"}')
    with pytest.raises(ConfigError, match="image_processor_type: 'PixtralImageProcessor' is not supported"):
        export_mllm(model, tmp_path / "m", ExportOptions(tokenizer=export / "tokenizer.json", image_processor=tmp_path / "p"))
    assert not (tmp_path / "m").exists()


def test_cli_image_processor_flag(tmp_path, llava_export, capsys):  # type: ignore[no-untyped-def]
    """--image-processor picks the processor file (any name); a broken one is refused before torch loads."""
    from transformers import CLIPImageProcessor

    model, export = llava_export
    model.save_pretrained(tmp_path / "hf")
    mine = tmp_path / "mine.json"
    mine.write_text(CLIPImageProcessor(size={"shortest_edge": 16}, crop_size={"height": 16, "width": 16},
                                       image_mean=[0.1, 0.2, 0.3]).to_json_string())
    argv = ["export", "mllm", "--model", str(tmp_path / "hf"), "--tokenizer", str(export / "tokenizer.json"),
            "--parity-question", "w1", "--image-processor", str(mine)]
    assert main([*argv, "--out", str(tmp_path / "a")]) == ExitCode.OK
    assert json.loads((tmp_path / "a" / "manifest.json").read_text())["vqa"]["image"]["mean"] == [0.1, 0.2, 0.3]
    mine.write_text("[1, 2")
    capsys.readouterr()
    assert main([*argv, "--out", str(tmp_path / "b")]) == ExitCode.BAD_INPUT
    err = capsys.readouterr().err.strip()
    assert "--image-processor" in err and "not a valid preprocessor_config.json" in err and len(err.splitlines()) == 1


def test_block_parity_without_a_transformers_processor_is_one_line(tmp_path, llava_export, monkeypatch):  # type: ignore[no-untyped-def]
    """Parity of per-image blocks needs the family's transformers processor; a family without one
    is refused naming the manifest field, not a KeyError."""
    import dataclasses

    from exporters.mllm import parity
    from exporters.mllm.families import family_of
    from harness.mllm.manifest import load_vqa_spec

    model, export = llava_export
    monkeypatch.setattr(parity, "family_of", lambda m: dataclasses.replace(family_of(m), hf_processor=None))
    with pytest.raises(ConfigError, match=r"manifest.json: vqa.image_block: 'family', but the llava family has no "
                                          r"transformers processor"):
        parity.hf_processor_inputs(model, export, load_vqa_spec(export), [], "w1")
