"""``mmharness init DIR`` on VLM folders mmharness did not lay out: an onnxruntime-genai folder
(files and tensors renamed, named by its genai_config.json) and a transformers.js folder (a
token-only embed_tokens graph, so the runtime merges the image features). Both are built from
the tiny llava export; ``bias`` must answer on them exactly as on the export itself."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from harness.cli import main
from harness.errors import ConfigError, ExitCode, ManifestError

OG_FILES = {"vision": "phi-vision.onnx", "embedding": "embeds.onnx", "decoder": "model.onnx"}
# contract name -> the og folder's, per role (what genai_config.json declares)
OG_NAMES = {"vision": {"image_features": "image_embeds"},
            "embedding": {"image_features": "image_embeds", "inputs_embeds": "embeds"},
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


def _tjs_layout(export: Path, folder: Path) -> Path:
    """The transformers.js layout of an export: graphs under onnx/ by its names, a token-only
    embed_tokens (the merged embedding's table, one Gather), the Hugging Face config.json."""
    import onnx
    from onnx import TensorProto, helper

    (folder / "onnx").mkdir(parents=True)
    shutil.copyfile(export / "vision.onnx", folder / "onnx" / "vision_encoder.onnx")
    shutil.copyfile(export / "decoder.onnx", folder / "onnx" / "decoder_model_merged.onnx")
    vqa = json.loads((export / "manifest.json").read_text())["vqa"]
    (table,) = onnx.load(str(export / "embedding.onnx")).graph.initializer
    graph = helper.make_graph(
        [helper.make_node("Gather", [table.name, "input_ids"], ["inputs_embeds"])], "embed_tokens",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch_size", "sequence_length"])],
        [helper.make_tensor_value_info("inputs_embeds", TensorProto.FLOAT, ["batch_size", "sequence_length", table.dims[1]])],
        [table])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]),
              str(folder / "onnx" / "embed_tokens.onnx"))
    config = {"model_type": vqa["hf_model_type"], "image_token_index": vqa["image_token_id"],
              "text_config": {key: vqa[key] for key in ("bos_token_id", "eos_token_id", "pad_token_id")}}
    (folder / "config.json").write_text(json.dumps(config))
    for name in ("tokenizer.json", "tokenizer_config.json", "preprocessor_config.json"):
        shutil.copyfile(export / name, folder / name)
    return folder


@pytest.fixture(scope="module")
def export(llava_export):  # type: ignore[no-untyped-def]
    return llava_export[1]


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
    (folder / "genai_config.json").write_text(json.dumps(genai))
    for name in ("tokenizer.json", "tokenizer_config.json", "preprocessor_config.json"):
        shutil.copyfile(export / name, folder / name)
    return folder


@pytest.fixture(scope="module")
def tjs_folder(export, tmp_path_factory):  # type: ignore[no-untyped-def]
    folder = _tjs_layout(export, tmp_path_factory.mktemp("tjs") / "llava-tjs")
    shutil.copyfile(folder / "onnx" / "vision_encoder.onnx", folder / "onnx" / "vision_encoder_fp16.onnx")
    return folder


def _clean_answers(model_dir: Path, out: Path) -> dict[str, list[object]]:
    code = main(["bias", str(model_dir), "--limit", "8", "--permutations", "1", "--corruptions", "gaussian_noise",
                 "--severities", "1", "--bootstrap", "0", "--out", str(out)])
    assert code == ExitCode.OK
    state = json.loads((out / "results.json").read_text())["cells"]["bias/clean"]["state"]
    return {key: state[key] for key in ("prediction", "choice", "correct")}


def _same_logits(export: Path, folder: Path) -> None:
    """The folder's prompt logits equal the export's on one image, and the image moves them (so
    equal answers are not equal by accident: the tiny model's choices barely vary)."""
    import numpy as np

    from harness.mllm.sessions import open_runtime

    image_token = json.loads((export / "manifest.json").read_text())["vqa"]["image_token_id"]
    image = np.random.default_rng(0).integers(0, 256, (40, 48, 3), dtype=np.uint8)
    with open_runtime(export) as ref, open_runtime(folder) as other:
        features = [rt.image_features([image]) for rt in (ref, other)]
        (count,) = ref.image_tokens(features[0], 1)
        ids = np.asarray([1, *[image_token] * count, 5, 6], dtype=np.int64)
        logits = [rt.prefill(ids, rows)[0] for rt, rows in zip((ref, other), features)]
        blank = other.prefill(ids, other.image_features([np.zeros_like(image)]))[0]
    np.testing.assert_allclose(logits[1], logits[0], atol=1e-5)
    assert np.abs(blank - logits[1]).max() > 1e-3


@pytest.fixture(scope="module")
def reference(export, tmp_path_factory):  # type: ignore[no-untyped-def]
    return _clean_answers(export, tmp_path_factory.mktemp("ref"))


def test_og_folder_init_validate_bias_match_the_export(og_folder, export, reference, tmp_path, capsys):  # type: ignore[no-untyped-def]
    assert main(["init", str(og_folder), "--family", "llava", "--answer-mode", "choices"]) == ExitCode.OK
    err = capsys.readouterr().err
    assert "onnxruntime-genai folder" in err and "io.decoder: inputs_embeds -> embeds, logits -> lm_logits" in err
    vqa = json.loads((og_folder / "manifest.json").read_text())["vqa"]
    assert vqa["merge"] == "graph" and vqa["family"] == "llava"
    assert vqa["io"]["vision"] == {"image_features": "image_embeds"}
    assert vqa["io"]["embedding"] == {"image_features": "image_embeds", "inputs_embeds": "embeds"}
    assert main(["validate", str(og_folder)]) == ExitCode.OK
    assert _clean_answers(og_folder, tmp_path / "bias") == reference
    _same_logits(export, og_folder)


def test_tjs_folder_init_validate_bias_match_the_export(tjs_folder, export, reference, tmp_path, capsys):  # type: ignore[no-untyped-def]
    assert main(["init", str(tjs_folder), "--answer-mode", "choices"]) == ExitCode.OK
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
    _same_logits(export, tjs_folder)  # the runtime's merge is the embedding graph's


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
    genai["model"]["decoder"]["outputs"]["logits"] = "scores"  # a name the graph does not have
    (phi / "genai_config.json").write_text(json.dumps(genai))
    with pytest.raises(ManifestError, match=r"vqa.io: model.onnx has no output 'scores'"):
        init_vlm_folder(phi, FolderOptions(family="llava"))
    assert not (phi / "manifest.json").exists()  # a manifest that fails validation is not left behind
    with pytest.raises(ConfigError, match=r"neither genai_config.json nor onnx/vision_encoder"):
        init_vlm_folder(tmp_path, FolderOptions())
    assert main(["init", str(og_folder), "--out", str(tmp_path / "x")]) == ExitCode.BAD_INPUT
    assert main(["init", str(og_folder), "--classes", "deliver"]) == ExitCode.BAD_INPUT
    assert main(["init", str(og_folder / "model.onnx"), "--family", "llava"]) == ExitCode.BAD_INPUT
    (phi / "preprocessor_config.json").unlink()
    with pytest.raises(ConfigError, match=r"preprocessor_config.json: not found; .*processor_config.json is not read"):
        init_vlm_folder(phi, FolderOptions(family="llava"))


def test_idefics3_tjs_folder_runs_as_its_export(idefics3_export, tmp_path):  # type: ignore[no-untyped-def]
    """A second family through the runtime merge: tiles (1TCHW) and the pixel mask input."""
    import numpy as np

    from harness.mllm.folder import FolderOptions, init_vlm_folder
    from harness.mllm.sessions import open_runtime

    export = idefics3_export[1]
    folder = _tjs_layout(export, tmp_path / "idefics3-tjs")
    vqa = init_vlm_folder(folder, FolderOptions()).manifest["vqa"]
    ours = json.loads((export / "manifest.json").read_text())["vqa"]
    assert (vqa["family"], vqa["merge"], vqa["image"]["layout"], vqa["image"]["pixel_attention_mask"]) == \
        ("idefics3", "runtime", "1TCHW", "pixel_attention_mask")
    assert (vqa["tokens_per_image"], vqa["image"]["size"]) == (ours["tokens_per_image"], ours["image"]["size"])
    image = np.random.default_rng(1).integers(0, 256, (30, 44, 3), dtype=np.uint8)
    ids = np.asarray([1, *[ours["image_token_id"]] * ours["tokens_per_image"], 7, 8], dtype=np.int64)
    with open_runtime(export) as ref, open_runtime(folder) as tjs:
        expected = ref.generate(ids, ref.image_features([image]), max_new_tokens=6)
        got = tjs.generate(ids, tjs.image_features([image]), max_new_tokens=6)
    assert got.tokens == expected.tokens
    np.testing.assert_allclose(got.logits, expected.logits, atol=1e-5)


def _q4_like(source: Path, target: Path, rank3: bool) -> None:
    """A graph as a quantized transformers.js one looks to the checks: it imports com.microsoft;
    ``rank3``: its output gains a leading axis ([images, tokens, hidden] for one image)."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(source))
    model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    if rank3:
        graph, output = model.graph, model.graph.output[0]
        for node in graph.node:
            node.output[:] = ["flat" if n == output.name else n for n in node.output]
        graph.initializer.append(numpy_helper.from_array(np.asarray([0], dtype=np.int64), "axis0"))
        graph.node.append(helper.make_node("Unsqueeze", ["flat", "axis0"], [output.name]))
        hidden = output.type.tensor_type.shape.dim[1].dim_value
        graph.output[0].CopyFrom(helper.make_tensor_value_info(output.name, TensorProto.FLOAT, [1, "tokens", hidden]))
    onnx.save(model, str(target))


def test_tjs_variant_with_rank3_features_and_ms_domain(tjs_folder, export):  # type: ignore[no-untyped-def]
    from harness.mllm.folder import FolderOptions, init_vlm_folder

    onnx_dir = tjs_folder / "onnx"
    for stem in ("vision_encoder", "embed_tokens", "decoder_model_merged"):
        _q4_like(onnx_dir / f"{stem}.onnx", onnx_dir / f"{stem}_q4.onnx", rank3=stem == "vision_encoder")
    try:
        written = init_vlm_folder(tjs_folder, FolderOptions(variant="q4", answer_mode="choices", force=True)).manifest
        assert written["graphs"]["decoder"] == "onnx/decoder_model_merged_q4.onnx"
        assert (written["vqa"]["features_rank"], written["vqa"]["origin"]) == (3, "init")
        assert main(["validate", str(tjs_folder)]) == ExitCode.OK
        _same_logits(export, tjs_folder)
    finally:
        (tjs_folder / "manifest.json").unlink(missing_ok=True)


def test_init_counts_the_tokens_of_one_tile_when_the_processor_splits(idefics3_export, tmp_path):  # type: ignore[no-untyped-def]
    """A folder whose Idefics3 processor splits images: the probe image becomes 2 x 2 tiles + the
    whole image (5 views), and ``tokens_per_image`` is one view's rows, not the 5 views'."""
    from harness.mllm.folder import FolderOptions, init_vlm_folder

    export = idefics3_export[1]
    folder = _tjs_layout(export, tmp_path / "idefics3-split")
    config = json.loads((folder / "preprocessor_config.json").read_text())
    config.update({"do_image_splitting": True, "size": {"longest_edge": 64}, "max_image_size": {"longest_edge": 32}})
    (folder / "preprocessor_config.json").write_text(json.dumps(config))
    vqa = init_vlm_folder(folder, FolderOptions()).manifest["vqa"]
    assert vqa["tokens_per_image"] == json.loads((export / "manifest.json").read_text())["vqa"]["tokens_per_image"] == 4
