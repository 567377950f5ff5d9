"""Export + parity per architecture: greedy tokens equal transformers' generate, logits close,
KV-cache generation equals no-cache generation, embedding merge equals HF masked_scatter."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from harness.errors import BadInputError, ConfigError, ManifestError
from harness.mllm.manifest import load_vqa_spec
from harness.mllm.preprocess import vision_feeds
from harness.mllm.prompt import PromptTokenizer
from harness.mllm.sessions import open_runtime

STEPS = 8
LOGIT_TOL = 1e-4  # fp32 ONNX Runtime vs eager torch; measured ~1e-7 on these models


def _hf_greedy(model, ids, feeds, family):  # type: ignore[no-untyped-def]
    pixels = torch.from_numpy(feeds["pixel_values"])
    extra = {"pixel_attention_mask": torch.from_numpy(feeds["pixel_attention_mask"])} if family == "idefics3" else {}
    with torch.no_grad():
        out = model.generate(input_ids=torch.from_numpy(ids)[None], attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                             pixel_values=pixels, **extra, max_new_tokens=STEPS, min_new_tokens=STEPS, do_sample=False,
                             output_logits=True, return_dict_in_generate=True, eos_token_id=None, pad_token_id=0,
                             suppress_tokens=[int(model.config.image_token_id)])
    return out.sequences[0, len(ids):].tolist(), torch.stack(out.logits, 1)[0].numpy()


@pytest.mark.parametrize("fixture", ["llava_export", "idefics3_export"])
def test_greedy_tokens_match_transformers_generate(fixture, request):  # type: ignore[no-untyped-def]
    model, export = request.getfixturevalue(fixture)
    rng = np.random.default_rng(3)
    with open_runtime(export) as runtime:
        spec = runtime.spec
        tokenizer = PromptTokenizer.from_spec(spec)
        for question in ("w1 w2 w3", "w7 w30"):
            image = rng.integers(0, 256, (*spec.image.size, 3), dtype=np.uint8)
            ids = tokenizer.prompt_ids(question)
            ours = runtime.generate(ids, runtime.image_features([image]), max_new_tokens=STEPS, stop_token_ids=())
            tokens, logits = _hf_greedy(model, ids, vision_feeds([image], spec.image), spec.family)
            assert list(ours.tokens) == tokens
            diff = float(np.abs(ours.logits - logits).max())
            print(f"{spec.family}: max |logit diff| over {STEPS} steps = {diff:.2e}")
            assert diff < LOGIT_TOL


@pytest.mark.parametrize("fixture", ["llava_export", "idefics3_export"])
def test_kv_cache_generation_equals_no_cache(fixture, request):  # type: ignore[no-untyped-def]
    _, export = request.getfixturevalue(fixture)
    with open_runtime(export) as runtime:
        ids = PromptTokenizer.from_spec(runtime.spec).prompt_ids("w5 w6")
        image = np.random.default_rng(4).integers(0, 256, (*runtime.spec.image.size, 3), dtype=np.uint8)
        features = runtime.image_features([image])
        cached = runtime.generate(ids, features, max_new_tokens=6, stop_token_ids=())
        uncached = runtime.generate(ids, features, max_new_tokens=6, stop_token_ids=(), use_cache=False)
    assert cached.tokens == uncached.tokens
    np.testing.assert_allclose(cached.logits, uncached.logits, atol=1e-4)


def test_embedding_merge_equals_masked_scatter(llava_export):  # type: ignore[no-untyped-def]
    model, export = llava_export
    with open_runtime(export) as runtime:
        ids = np.array([[1, 4, 4, 9, 4], [4, 10, 11, 4, 4]], dtype=np.int64)  # 6 image tokens over 2 rows
        features = np.random.default_rng(5).standard_normal((6, 32)).astype(np.float32)
        ours = runtime.embed(ids, features)
        text_only = runtime.embed(np.array([[1, 9, 10]], dtype=np.int64), runtime.empty_features)  # 0 feature rows
    with torch.no_grad():
        embed = model.get_input_embeddings()
        ref = embed(torch.from_numpy(np.where(ids == 4, 0, ids)))
        mask = torch.from_numpy(ids == 4).unsqueeze(-1).expand_as(ref)
        ref = ref.masked_scatter(mask, torch.from_numpy(features)).numpy()
        ref_text = embed(torch.tensor([[1, 9, 10]])).numpy()
    np.testing.assert_allclose(ours, ref, atol=1e-6)
    np.testing.assert_allclose(text_only, ref_text, atol=1e-6)


def test_image_token_count_mismatch_is_bad_input(llava_export):  # type: ignore[no-untyped-def]
    _, export = llava_export
    with open_runtime(export) as runtime:
        ids = PromptTokenizer.from_spec(runtime.spec).prompt_ids("w1", num_images=1)
        with pytest.raises(BadInputError, match="manifest.json: vqa.tokens_per_image: the prompt holds 4 image tokens .* but 0 image feature rows"):
            runtime.embed(ids[np.newaxis], runtime.empty_features)


def test_manifest_and_genai_config(llava_export, idefics3_export):  # type: ignore[no-untyped-def]
    for model, export in (llava_export, idefics3_export):
        spec = load_vqa_spec(export)
        text = model.config.text_config
        assert spec.kv.num_layers == text.num_hidden_layers and spec.kv.num_kv_heads == text.num_key_value_heads
        genai = json.loads((export / "genai_config.json").read_text())
        assert genai["model"]["type"] == "gemma3" and genai["search"]["past_present_share_buffer"] is False
        assert genai["model"]["image_token_id"] == spec.image_token_id == model.config.image_token_id
        assert (export / "tokenizer_config.json").is_file()
        import onnx

        decoder = onnx.load(str(export / "decoder.onnx"))
        names = [i.name for i in decoder.graph.input]
        assert names[:3] == ["inputs_embeds", "attention_mask", "position_ids"]
        assert names[3:] == spec.kv.past_names()
        assert all(node.domain in ("", "ai.onnx") for node in decoder.graph.node)
    assert load_vqa_spec(llava_export[1]).tokens_per_image == 4  # (16 / 8)^2, CLS dropped
    assert load_vqa_spec(idefics3_export[1]).tokens_per_image == 4  # (32 / 8)^2 / 2^2


def test_unsupported_architecture_names_the_supported_ones():  # type: ignore[no-untyped-def]
    from exporters.mllm.families import family_of

    with pytest.raises(ConfigError, match="'Linear' is not supported .*supported: .*Idefics3ForConditionalGeneration.*LlavaForConditionalGeneration"):
        family_of(torch.nn.Linear(2, 2))


def test_export_option_errors(tmp_path, llava_export):  # type: ignore[no-untyped-def]
    from exporters.mllm import ExportOptions, export_mllm

    model, export = llava_export
    with pytest.raises(ConfigError, match="tokenizer .*not found"):
        export_mllm(model, tmp_path / "a", ExportOptions(tokenizer=tmp_path / "missing.json"))
    with pytest.raises(ConfigError, match="no '\\{image\\}' placeholder"):
        export_mllm(model, tmp_path / "b", ExportOptions(tokenizer=export / "tokenizer.json", prompt_template="{question}"))


def test_manifest_errors_name_the_field(tmp_path, llava_export):  # type: ignore[no-untyped-def]
    import shutil

    _, export = llava_export
    broken = tmp_path / "m"
    shutil.copytree(export, broken)
    manifest = json.loads((broken / "manifest.json").read_text())
    manifest["vqa"]["prompt_template"] = "{question} answer"
    (broken / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ManifestError, match="vqa.prompt_template.*image token placeholder"):
        load_vqa_spec(broken)
    manifest["vqa"]["prompt_template"] = "{image} answer"
    (broken / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ManifestError, match="vqa.prompt_template.*the question placeholder \\{question\\} is absent"):
        load_vqa_spec(broken)
    manifest["vqa"]["prompt_template"] = "{image} {question}"
    manifest["vqa"]["kv_cache"]["num_layers"] = "two"
    (broken / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ManifestError, match="vqa.kv_cache.num_layers"):
        load_vqa_spec(broken)
    manifest["vqa"]["kv_cache"]["num_layers"] = 2
    (broken / "manifest.json").write_text(json.dumps(manifest))
    (broken / "tokenizer.json").unlink()
    with pytest.raises(ManifestError, match="vqa.tokenizer"):
        load_vqa_spec(broken)


def test_export_mllm_cli_writes_parity(tmp_path, llava_export):  # type: ignore[no-untyped-def]
    from harness.cli import main
    from harness.errors import ExitCode

    model, export = llava_export
    model.save_pretrained(tmp_path / "hf")
    out = tmp_path / "out"
    code = main(["export", "mllm", "--model", str(tmp_path / "hf"), "--tokenizer", str(export / "tokenizer.json"),
                 "--out", str(out), "--answer-mode", "choices", "--parity-question", "w1 w2"])
    assert code == ExitCode.OK
    parity = json.loads((out / "manifest.json").read_text())["parity"]
    assert parity["greedy_tokens_equal"] is True and parity["max_abs_logit_diff"] < LOGIT_TOL
    config = json.loads((tmp_path / "hf" / "config.json").read_text())
    config["architectures"] = ["Qwen2VLForConditionalGeneration"]
    (tmp_path / "hf" / "config.json").write_text(json.dumps(config))
    assert main(["export", "mllm", "--model", str(tmp_path / "hf"), "--tokenizer", str(export / "tokenizer.json"),
                 "--out", str(tmp_path / "o2")]) == ExitCode.BAD_INPUT


def test_transformersjs_layout(tmp_path, llava_export):  # type: ignore[no-untyped-def]
    import onnxruntime as ort

    from exporters.mllm import ExportOptions, export_mllm

    model, export = llava_export
    out = tmp_path / "m"
    export_mllm(model, out, ExportOptions(tokenizer=export / "tokenizer.json", transformersjs=True))
    tjs = out / "tjs"
    assert (tjs / "onnx" / "vision_encoder.onnx").read_bytes() == (out / "vision.onnx").read_bytes()
    assert (tjs / "onnx" / "decoder_model_merged.onnx").read_bytes() == (out / "decoder.onnx").read_bytes()
    ids = np.array([[1, 9, 10, 4]], dtype=np.int64)
    embeds = ort.InferenceSession(str(tjs / "onnx" / "embed_tokens.onnx")).run(None, {"input_ids": ids})[0]
    with torch.no_grad():
        np.testing.assert_allclose(embeds, model.get_input_embeddings()(torch.from_numpy(ids)).numpy(), atol=1e-6)
    config = json.loads((tjs / "config.json").read_text())
    assert config.get("image_token_index", config.get("image_token_id")) == 4 and "transformers.js_config" in config
    assert (tjs / "preprocessor_config.json").read_bytes() == (out / "preprocessor_config.json").read_bytes()
    assert json.loads((out / "preprocessor_config.json").read_text())["crop_size"] == {"height": 16, "width": 16}
