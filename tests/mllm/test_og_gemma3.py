"""Gemma 3 in onnxruntime-genai 0.18 as its users run it: ``processor = model.create_multimodal_processor()``,
``processor(prompt, images=og.Images.open(png))``, greedy generation. og feeds its decoder only
``inputs_embeds``, ``attention_mask``, ``position_ids`` and the past (never ``attention_groups``,
never the ``token_type_ids`` its Gemma processor computes), so the export names a causal copy of
the decoder in ``genai_config.json``; og's tokens equal the harness runtime's with causal groups,
and transformers' ``generate`` on text-only prompts. With an image, transformers lets the image
tokens attend to each other (``token_type_ids``) and og does not: measured here, not hidden. og
runs in its own venv (``MMHARNESS_OG_PYTHON``); those tests skip with the reason when it is absent."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.mllm.conftest import WORDS

torch = pytest.importorskip("torch")

# og 0.18's Gemma processor: "<start_of_image>" -> "\n\n<start_of_image>" + 256 x "<image_soft_token>" + "<end_of_image>\n\n"
SPECIALS = ("<pad>", "<bos>", "<eos>", "<unk>", "<image_soft_token>", "<start_of_image>", "<end_of_image>", "\n\n")
TEMPLATE = "\n\n<start_of_image>{image}<end_of_image>\n\n{question}"
OG_PROMPT_HEAD = [1, 7, 5]  # <bos> \n\n <start_of_image>
OG_PROMPT_IMAGE_TAIL = [6, 7]  # <end_of_image> \n\n

OG_CLIENT = '''
import json, sys
import numpy as np
import onnxruntime_genai as og

model = og.Model(sys.argv[1])
processor = model.create_multimodal_processor()
cases = json.loads(open(sys.argv[2]).read())
out, arrays = [], {}
for index, case in enumerate(cases):
    images = og.Images.open(*case["images"]) if case["images"] else None
    inputs = processor(case["prompt"], images=images)
    ids = inputs["input_ids"].as_numpy()
    for name in inputs.keys():
        if name != "input_ids":
            arrays[f"{index}.{name}"] = inputs[name].as_numpy()
    params = og.GeneratorParams(model)
    params.set_search_options(max_length=ids.shape[1] + case["steps"], do_sample=False)
    generator = og.Generator(model, params)
    generator.set_inputs(inputs)
    tokens, logits = [], []
    while not generator.is_done():
        logits.append(np.asarray(generator.get_logits(), dtype=np.float64).reshape(-1).tolist())
        generator.generate_next_token()
        tokens.append(int(generator.get_next_tokens()[0]))
    out.append({"ids": ids.ravel().tolist(), "tokens": tokens, "logits": logits, "inputs": sorted(inputs.keys())})
np.savez(sys.argv[3], **arrays)
print(json.dumps(out))
'''


def og_python():  # type: ignore[no-untyped-def]
    from tests.mllm.test_qwen2_vl import _og_python as find

    python = find()
    if python is None:
        pytest.skip("onnxruntime-genai is not installed (set MMHARNESS_OG_PYTHON to a venv's python that has it)")
    return python


def tiny_gemma3_og():  # type: ignore[no-untyped-def]
    """A Gemma 3 og's processor can drive: 256 tokens per image (og hard-codes the count), i.e. a
    SigLIP of 64 px / patch 4 (16 x 16 patches, pooled 1:1); ids 4-6 are og's image tokens."""
    from transformers import Gemma3Config, Gemma3ForConditionalGeneration, Gemma3TextConfig, SiglipVisionConfig

    torch.manual_seed(3)
    text = Gemma3TextConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                            num_key_value_heads=2, head_dim=8, max_position_embeddings=512, sliding_window=8,
                            layer_types=["sliding_attention", "full_attention"], bos_token_id=1, eos_token_id=2,
                            pad_token_id=0)
    vision = SiglipVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                                image_size=64, patch_size=4)
    config = Gemma3Config(text_config=text, vision_config=vision, mm_tokens_per_image=256, image_token_id=4,
                          boi_token_id=5, eoi_token_id=6)
    return Gemma3ForConditionalGeneration(config).eval()


def export_gemma3_og(root: Path):  # type: ignore[no-untyped-def]
    from exporters.mllm import ExportOptions, export_mllm
    from exporters.mllm.tokenizer import build_word_tokenizer

    build_word_tokenizer(WORDS, root / "src" / "tokenizer.json", specials=SPECIALS, unk_token="<unk>")
    model = tiny_gemma3_og()
    manifest = export_mllm(model, root / "export", ExportOptions(
        tokenizer=root / "src" / "tokenizer.json", image_token="<image_soft_token>", prompt_template=TEMPLATE))
    return model, root / "export", manifest


def write_images(root: Path) -> dict[str, Path]:
    """A PNG and a JPEG of one random 40 x 56 RGB image (not the vision size: both sides resize)."""
    from PIL import Image

    pixels = np.random.default_rng(0).integers(0, 256, (40, 56, 3), dtype=np.uint8)
    paths = {"png": root / "image.png", "jpeg": root / "image.jpg"}
    Image.fromarray(pixels).save(paths["png"])
    Image.fromarray(pixels).save(paths["jpeg"], quality=90)
    return paths


def run_og(export: Path, cases: list[dict], tmp: Path):  # type: ignore[no-untyped-def]
    """og's own processor and greedy search on each case; returns (results, arrays by 'index.name')."""
    python = og_python()
    (tmp / "cases.json").write_text(json.dumps(cases))
    (tmp / "og_client.py").write_text(OG_CLIENT)
    done = subprocess.run([python, str(tmp / "og_client.py"), str(export), str(tmp / "cases.json"), str(tmp / "og.npz")],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1]), dict(np.load(tmp / "og.npz"))


@pytest.fixture(scope="module")
def gemma3_og(tmp_path_factory):  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("gemma3_og")
    model, export, manifest = export_gemma3_og(root)
    return model, export, manifest, write_images(root)


def _causal(monkeypatch):  # type: ignore[no-untyped-def]
    from harness.mllm import runtime

    monkeypatch.setattr(runtime, "attention_groups", lambda ids, *args: np.full(ids.shape, -1, dtype=np.int64))


def test_the_genai_decoder_is_the_decoder_with_causal_groups(gemma3_og):  # type: ignore[no-untyped-def]
    """Without og: ``genai_config.json`` names ``genai_decoder.onnx``, which takes no
    ``attention_groups`` and gives the logits and presents of ``decoder.onnx`` fed all -1 groups
    (batch 2, a past, sliding window 8 < length), reading its weights from decoder.onnx's bytes."""
    import onnx
    import onnxruntime as ort

    from harness.cli import main
    from harness.errors import ExitCode

    _, export, manifest, _ = gemma3_og
    genai = json.loads((export / "genai_config.json").read_text())["model"]
    assert genai["decoder"]["filename"] == "genai_decoder.onnx" and genai["type"] == "gemma3"
    assert {"genai_decoder.onnx", "processor_config.json"} <= set(manifest["checksums"])
    structure = onnx.load(str(export / "genai_decoder.onnx"), load_external_data=False)
    assert "attention_groups" not in [value.name for value in structure.graph.input]
    shared = [t for t in structure.graph.initializer if t.data_location == onnx.TensorProto.EXTERNAL]
    assert shared and {e.value for t in shared for e in t.external_data if e.key == "location"} == {"decoder.onnx"}
    assert (export / "genai_decoder.onnx").stat().st_size < (export / "decoder.onnx").stat().st_size
    ours, theirs = ort.InferenceSession(str(export / "decoder.onnx")), ort.InferenceSession(str(export / "genai_decoder.onnx"))
    rng = np.random.default_rng(1)
    past, new = 6, 5
    feeds = {"inputs_embeds": rng.standard_normal((2, new, 32), dtype=np.float32),
             "attention_mask": np.ones((2, past + new), dtype=np.int64),
             "position_ids": np.tile(np.arange(past, past + new, dtype=np.int64), (2, 1))}
    feeds.update({f"past_key_values.{layer}.{kind}": rng.standard_normal((2, 2, past, 8), dtype=np.float32)
                  for layer in range(2) for kind in ("key", "value")})
    causal = ours.run(None, {**feeds, "attention_groups": np.full((2, past + new), -1, dtype=np.int64)})
    grouped = ours.run(None, {**feeds, "attention_groups": np.array([[0] * 8 + [-1] * 3] * 2, dtype=np.int64)})
    for a, b in zip(theirs.run(None, feeds), causal):
        np.testing.assert_array_equal(a, b)
    assert np.abs(grouped[0] - causal[0]).max() > 1e-3  # the groups do change the logits: the causal copy is not a no-op
    assert main(["validate", str(export)]) == ExitCode.OK


def test_og_runs_the_export_with_its_own_processor(gemma3_og, tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    """og 0.18 end to end on a PNG: its prompt expansion gives the harness template's ids (256
    image tokens between "\\n\\n<start_of_image>" and "<end_of_image>\\n\\n"), its pixels ours,
    its greedy tokens and logits the harness runtime's with causal groups; on a text-only prompt
    also transformers' ``generate``. With the image, transformers' bidirectional image block gives
    other logits (and here other tokens): og does not apply it."""
    from harness.mllm.processors import preprocess
    from harness.mllm.prompt import PromptTokenizer
    from harness.mllm.sessions import open_runtime

    model, export, _, images = gemma3_og
    steps = 8
    cases = [{"prompt": "<bos><start_of_image>w1 w2", "images": [str(images["png"])], "steps": steps},
             {"prompt": "<bos><start_of_image>w7 w30 w3", "images": [str(images["png"])], "steps": steps},
             {"prompt": "<bos>w1 w2 w3", "images": [], "steps": steps}]
    results, arrays = run_og(export, cases, tmp_path)
    assert results[0]["inputs"] == ["input_ids", "num_image_tokens", "pixel_values", "token_type_ids"]
    assert results[2]["inputs"] == ["input_ids"]
    from PIL import Image

    decoded = np.asarray(Image.open(images["png"]).convert("RGB"))
    _causal(monkeypatch)
    with open_runtime(export) as runtime:
        spec = runtime.spec
        tokenizer = PromptTokenizer.from_spec(spec)
        processor = json.loads((export / "preprocessor_config.json").read_text())
        for index, (case, result) in enumerate(zip(cases, results)):
            question = case["prompt"].rsplit(">", 1)[1]
            if case["images"]:
                ids = tokenizer.prompt_ids(question)
                assert ids.tolist()[:3] == OG_PROMPT_HEAD and ids.tolist()[259:261] == OG_PROMPT_IMAGE_TAIL
                assert int(arrays[f"{index}.num_image_tokens"][0]) == 256 == int(np.count_nonzero(ids == 4))
                assert arrays[f"{index}.token_type_ids"].ravel().tolist() == (ids == 4).astype(int).tolist()
                pixels = arrays[f"{index}.pixel_values"]
                assert np.abs(pixels - preprocess([decoded], processor).pixel_values).max() < 1e-6  # measured 1.2e-7
                features = runtime.vision.run({"pixel_values": pixels})["image_features"]
            else:
                ids, features = np.asarray([1, *tokenizer.encode(question)], dtype=np.int64), runtime.empty_features
            assert result["ids"] == ids.tolist()
            ours = runtime.generate(ids, features, max_new_tokens=steps, stop_token_ids=[spec.eos_token_id])
            assert 4 not in result["tokens"] and tuple(result["tokens"]) == ours.tokens
            np.testing.assert_allclose(np.asarray(result["logits"]), ours.logits, atol=1e-4)
            hf_ids = torch.from_numpy(ids)[None]
            kwargs = {} if not case["images"] else {
                "pixel_values": torch.from_numpy(pixels), "token_type_ids": (hf_ids == 4).long()}
            with torch.no_grad():
                hf = model.generate(input_ids=hf_ids, max_new_tokens=steps, do_sample=False, eos_token_id=2, pad_token_id=0,
                                    output_logits=True, return_dict_in_generate=True, **kwargs)
            hf_tokens = tuple(hf.sequences[0, len(ids):].tolist())
            first = float(np.abs(hf.logits[0][0].numpy() - np.asarray(result["logits"][0])).max())
            if not case["images"]:
                assert hf_tokens == ours.tokens and first < 1e-4
            else:
                assert first > 1e-3, first  # the image block attends bidirectionally in transformers only
    # measured on the two image prompts: first-step max |logit diff| og vs transformers 0.029 and 0.042;
    # greedy tokens: the first prompt's part after 5 equal tokens, the second's are all 8 equal


OG_FAILURE = '''
import sys
import onnxruntime_genai as og

model = og.Model(sys.argv[1])
processor = model.create_multimodal_processor()
inputs = processor("<bos><start_of_image>w1", images=og.Images.open(sys.argv[2]))
print(sorted(inputs.keys()))
params = og.GeneratorParams(model)
params.set_search_options(max_length=270, do_sample=False)
generator = og.Generator(model, params)
try:
    generator.set_inputs(inputs)
    generator.generate_next_token()
    print("ran")
except Exception as error:
    print(str(error).splitlines()[0])
'''


def test_og_feeds_its_decoder_neither_groups_nor_token_type_ids(gemma3_og, tmp_path):  # type: ignore[no-untyped-def]
    """Why the causal copy: og given ``decoder.onnx`` stops at the missing ``attention_groups``;
    renamed ``token_type_ids`` (which og's Gemma processor returns), it is still missing: og 0.18
    computes the image tokens' types and never passes them to the decoder."""
    import onnx

    python = og_python()
    _, export, _, images = gemma3_og
    for name in ("attention_groups", "token_type_ids"):
        folder = Path(shutil.copytree(export, tmp_path / name))
        config = json.loads((folder / "genai_config.json").read_text())
        config["model"]["decoder"]["filename"] = "decoder.onnx"
        (folder / "genai_config.json").write_text(json.dumps(config))
        if name != "attention_groups":
            graph = onnx.load(str(folder / "decoder.onnx"))
            for value in graph.graph.input:
                value.name = name if value.name == "attention_groups" else value.name
            for node in graph.graph.node:
                node.input[:] = [name if entry == "attention_groups" else entry for entry in node.input]
            onnx.save(graph, str(folder / "decoder.onnx"))
        done = subprocess.run([python, "-c", OG_FAILURE, str(folder), str(images["png"])], capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        keys, outcome = done.stdout.strip().splitlines()[-2:]
        assert keys == "['input_ids', 'num_image_tokens', 'pixel_values', 'token_type_ids']"
        assert outcome.endswith(f"Missing Input: {name}"), outcome


def test_og_processor_config_only_where_og_reproduces_the_prompt(tmp_path):  # type: ignore[no-untyped-def]
    """og's gemma3 processor inserts 256 "<image_soft_token>": a Gemma 3 of another count, a
    tokenizer without og's tokens, a Llava or PaliGemma run by surrogate, a filter or a crop
    onnxruntime-extensions lacks get no processor_config.json (og's processor would not give our
    inputs; the export itself goes on)."""
    from exporters.mllm.export import og_processor_config
    from exporters.mllm.families import family_of
    from exporters.mllm.tokenizer import build_word_tokenizer
    from tests.mllm.conftest import tiny_gemma3, tiny_llava, tiny_paligemma

    og_tokens = tmp_path / "og" / "tokenizer.json"
    build_word_tokenizer(WORDS, og_tokens, specials=SPECIALS, unk_token="<unk>")
    plain = tmp_path / "plain" / "tokenizer.json"
    build_word_tokenizer(WORDS, plain)
    config = {"size": {"height": 64, "width": 64}, "resample": 2, "rescale_factor": 1 / 255, "image_mean": [0.5] * 3,
              "image_std": [0.5] * 3}
    model = tiny_gemma3_og()
    written = og_processor_config(family_of(model), model, config, og_tokens)
    assert [t["operation"]["type"] for t in written["processor"]["transforms"]] == \
        ["DecodeImage", "Resize", "Rescale", "Normalize", "Permute3D"]
    assert written["processor"]["transforms"][1]["operation"]["attrs"] == \
        {"height": 64, "width": 64, "interpolation": "LINEAR", "keep_aspect_ratio": 0}
    assert og_processor_config(family_of(model), model, config, plain) is None
    for other in (tiny_gemma3(), tiny_llava(), tiny_paligemma()):
        assert og_processor_config(family_of(other), other, config, og_tokens) is None
    for unsupported in ({"resample": 1}, {"resample": 4}, {"do_pan_and_scan": True}, {"do_resize": False}):
        assert og_processor_config(family_of(model), model, {**config, **unsupported}, og_tokens) is None


def test_og_runs_a_paligemma_export_causally(tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    """PaliGemma (prefix attention, positions from 1 inside the graph) under og's gemma3 type,
    fed ``NamedTensors`` (no processor_config.json: og's processor would insert Gemma 3's tokens):
    og's ids and greedy tokens equal the harness runtime's with causal groups."""
    from exporters.mllm import ExportOptions, export_mllm
    from exporters.mllm.tokenizer import build_word_tokenizer
    from tests.mllm.conftest import tiny_paligemma
    from tests.mllm.test_og_tokenizer import _compare

    og_python()
    build_word_tokenizer(WORDS, tmp_path / "src" / "tokenizer.json")
    export_mllm(tiny_paligemma(), tmp_path / "export", ExportOptions(tokenizer=tmp_path / "src" / "tokenizer.json"))
    assert json.loads((tmp_path / "export" / "genai_config.json").read_text())["model"]["decoder"]["filename"] == \
        "genai_decoder.onnx"
    assert not (tmp_path / "export" / "processor_config.json").exists()
    _causal(monkeypatch)
    _compare(tmp_path / "export", ("w1 w2", "w3 w9 w11", "w20"), tmp_path)


def test_a_re_export_removes_the_og_files_it_no_longer_writes(tmp_path):  # type: ignore[no-untyped-def]
    """Exporting a Llava into the folder of a Gemma 3 export: genai_decoder.onnx and
    processor_config.json (which og would still read) go; files no manifest listed stay."""
    from exporters.mllm import ExportOptions, export_mllm
    from exporters.mllm.tokenizer import build_word_tokenizer
    from tests.mllm.conftest import tiny_llava

    _, export, _ = export_gemma3_og(tmp_path)
    assert (export / "genai_decoder.onnx").is_file() and (export / "processor_config.json").is_file()
    (export / "notes.txt").write_text("kept")
    build_word_tokenizer(WORDS, tmp_path / "llava" / "tokenizer.json")
    manifest = export_mllm(tiny_llava(), export, ExportOptions(tokenizer=tmp_path / "llava" / "tokenizer.json"))
    assert not (export / "genai_decoder.onnx").exists() and not (export / "processor_config.json").exists()
    assert (export / "notes.txt").read_text() == "kept" and manifest["vqa"]["family"] == "llava"
    assert json.loads((export / "genai_config.json").read_text())["model"]["decoder"]["filename"] == "decoder.onnx"
