"""``mmharness init DIR`` on VLM folders mmharness did not lay out: an onnxruntime-genai folder
(files and tensors renamed, named by its genai_config.json) and a transformers.js folder (a
token-only embed_tokens graph, so the runtime merges the image features). Both are built from
one tiny llava export; ``bias`` must answer on them exactly as on the export itself."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from harness.cli import main
from harness.errors import ConfigError, ExitCode
from tests.mllm.conftest import WORDS, tiny_llava

OG_FILES = {"vision": "phi-vision.onnx", "embedding": "embeds.onnx", "decoder": "model.onnx"}
# contract name -> the og folder's, per role (what genai_config.json declares)
OG_NAMES = {"vision": {"image_features": "image_embeds"}, "embedding": {"inputs_embeds": "embeds"},
            "decoder": {"inputs_embeds": "embeds", "logits": "lm_logits"}}


def _rename_io(path: Path, names: dict[str, str], target: Path) -> None:
    """Rename graph inputs/outputs (and every node edge using them), as another exporter would name them."""
    import onnx

    model = onnx.load(str(path))
    graph = model.graph
    for value in (*graph.input, *graph.output):
        value.name = names.get(value.name, value.name)
    for node in graph.node:
        node.input[:] = [names.get(n, n) for n in node.input]
        node.output[:] = [names.get(n, n) for n in node.output]
    onnx.save(model, str(target))


@pytest.fixture(scope="module")
def export(tmp_path_factory):  # type: ignore[no-untyped-def]
    from exporters.mllm import ExportOptions, export_mllm
    from exporters.mllm.tokenizer import build_word_tokenizer

    root = tmp_path_factory.mktemp("llava_folders")
    build_word_tokenizer(WORDS, root / "src" / "tokenizer.json")
    export_mllm(tiny_llava(), root / "export",
                ExportOptions(tokenizer=root / "src" / "tokenizer.json", transformersjs=True))
    return root / "export"


@pytest.fixture(scope="module")
def og_folder(export, tmp_path_factory):  # type: ignore[no-untyped-def]
    folder = tmp_path_factory.mktemp("og") / "llava-og"
    folder.mkdir()
    genai = json.loads((export / "genai_config.json").read_text())
    for role, file in OG_FILES.items():
        _rename_io(export / f"{role}.onnx", OG_NAMES[role], folder / file)
        section = genai["model"][role]
        section["filename"] = file
        for kind in ("inputs", "outputs"):
            section[kind] = {ours: OG_NAMES[role].get(ours, theirs) for ours, theirs in section[kind].items()}
    genai["model"]["embedding"]["inputs"]["image_features"] = "image_embeds"
    _rename_io(folder / OG_FILES["embedding"], {"image_features": "image_embeds"}, folder / OG_FILES["embedding"])
    (folder / "genai_config.json").write_text(json.dumps(genai))
    for name in ("tokenizer.json", "tokenizer_config.json", "preprocessor_config.json"):
        shutil.copyfile(export / name, folder / name)
    return folder


@pytest.fixture(scope="module")
def tjs_folder(export, tmp_path_factory):  # type: ignore[no-untyped-def]
    folder = tmp_path_factory.mktemp("tjs") / "llava-tjs"
    shutil.copytree(export / "tjs", folder)
    shutil.copyfile(folder / "onnx" / "vision_encoder.onnx", folder / "onnx" / "vision_encoder_fp16.onnx")
    return folder


def _clean_answers(model_dir: Path, out: Path) -> list[object]:
    code = main(["bias", str(model_dir), "--limit", "8", "--permutations", "1", "--corruptions", "gaussian_noise",
                 "--severities", "1", "--bootstrap", "0", "--out", str(out)])
    assert code == ExitCode.OK
    state = json.loads((out / "results.json").read_text())["cells"]["bias/clean"]["state"]
    return state["answer"] if "answer" in state else state["choice"]


@pytest.fixture(scope="module")
def reference(export, tmp_path_factory):  # type: ignore[no-untyped-def]
    return _clean_answers(export, tmp_path_factory.mktemp("ref"))


def test_og_folder_init_validate_bias_match_the_export(og_folder, reference, tmp_path, capsys):  # type: ignore[no-untyped-def]
    assert main(["init", str(og_folder), "--family", "llava"]) == ExitCode.OK
    err = capsys.readouterr().err
    assert "onnxruntime-genai folder" in err and "io.decoder: inputs_embeds -> embeds, logits -> lm_logits" in err
    vqa = json.loads((og_folder / "manifest.json").read_text())["vqa"]
    assert vqa["merge"] == "graph" and vqa["family"] == "llava"
    assert vqa["io"]["vision"] == {"image_features": "image_embeds"}
    assert vqa["io"]["embedding"] == {"image_features": "image_embeds", "inputs_embeds": "embeds"}
    assert main(["validate", str(og_folder)]) == ExitCode.OK
    assert _clean_answers(og_folder, tmp_path / "bias") == reference


def test_tjs_folder_init_validate_bias_match_the_export(tjs_folder, export, reference, tmp_path, capsys):  # type: ignore[no-untyped-def]
    assert main(["init", str(tjs_folder)]) == ExitCode.OK
    err = capsys.readouterr().err
    assert "transformers.js folder" in err and "merged by the runtime" in err and "confirm: prompt template" in err
    written = json.loads((tjs_folder / "manifest.json").read_text())
    ours = json.loads((export / "manifest.json").read_text())["vqa"]
    vqa = written["vqa"]
    assert written["graphs"]["embedding"] == "onnx/embed_tokens.onnx" and vqa["merge"] == "runtime"
    for key in ("family", "image_token_id", "tokens_per_image", "hidden_size", "vocab_size", "kv_cache", "bos_token_id"):
        assert vqa[key] == ours[key], key
    assert {k: vqa["image"][k] for k in ("layout", "size", "mean", "std")} == \
        {k: ours["image"][k] for k in ("layout", "size", "mean", "std")}
    assert main(["validate", str(tjs_folder)]) == ExitCode.OK
    assert _clean_answers(tjs_folder, tmp_path / "bias") == reference
    # the runtime's merge is the embedding graph's: equal logits, and the image does move them
    import numpy as np

    from harness.mllm.sessions import open_runtime

    image = np.random.default_rng(0).integers(0, 256, (40, 48, 3), dtype=np.uint8)
    ids = np.asarray([1, *[ours["image_token_id"]] * ours["tokens_per_image"], 5, 6], dtype=np.int64)
    with open_runtime(export) as ref, open_runtime(tjs_folder) as tjs:
        logits = [rt.prefill(ids, rt.image_features([image]))[0] for rt in (ref, tjs)]
        blank = tjs.prefill(ids, tjs.image_features([np.zeros_like(image)]))[0]
    np.testing.assert_allclose(logits[1], logits[0], atol=1e-5)
    assert np.abs(blank - logits[1]).max() > 1e-3


def test_refusals_name_the_flag(tjs_folder, og_folder, tmp_path):  # type: ignore[no-untyped-def]
    from harness.mllm.folder import FolderOptions, init_vlm_folder

    with pytest.raises(ConfigError, match=r"no fp16 graph for embed_tokens, decoder_model_merged .*--variant"):
        init_vlm_folder(tjs_folder, FolderOptions(variant="fp16", force=True))
    init_vlm_folder(tjs_folder, FolderOptions(force=True))
    with pytest.raises(ConfigError, match=r"manifest.json: exists; pass --force"):
        init_vlm_folder(tjs_folder, FolderOptions())
    assert init_vlm_folder(tjs_folder, FolderOptions(variant="fp32", force=True)).manifest["graphs"]["vision"] == \
        "onnx/vision_encoder.onnx"
    with pytest.raises(ConfigError, match=r"--family 'phi3v': not a known family"):
        init_vlm_folder(og_folder, FolderOptions(family="phi3v", force=True))
    with pytest.raises(ConfigError, match=r"--variant: only for transformers.js folders"):
        init_vlm_folder(og_folder, FolderOptions(variant="q4", force=True))
    phi = tmp_path / "phi"
    shutil.copytree(og_folder, phi)
    (phi / "manifest.json").unlink(missing_ok=True)
    genai = json.loads((phi / "genai_config.json").read_text())
    genai["model"]["type"] = "phi3v"
    (phi / "genai_config.json").write_text(json.dumps(genai))
    with pytest.raises(ConfigError, match=r"model.type 'phi3v' has no runtime family .*pass --family"):
        init_vlm_folder(phi, FolderOptions())
    with pytest.raises(ConfigError, match=r"neither genai_config.json nor onnx/vision_encoder"):
        init_vlm_folder(tmp_path, FolderOptions())
    assert main(["init", str(og_folder), "--out", str(tmp_path / "x")]) == ExitCode.BAD_INPUT
