"""Qwen2-VL and Qwen2.5-VL against transformers, from tiny random models built offline: the
runtime's processor (pixels, grids, token counts), the vision graph on several images of
different grids (Qwen2.5-VL's window layers included), the 3-D mRoPE positions
(``get_rope_index`` and the decoding ``rope_deltas``), option scores, and greedy tokens of the
export equal to ``generate`` on images of several sizes and aspect ratios."""

from __future__ import annotations

import json

import numpy as np
import pytest

from harness.errors import DataError
from harness.mllm.families.qwen2_vl import mrope_positions
from harness.mllm.processors import preprocess
from harness.mllm.processors.qwen2_vl import smart_resize
from tests.mllm.conftest import WORDS

torch = pytest.importorskip("torch")

QUESTIONS = ("w1 w2 w3", "w7 w30", "w12")
TEMPLATE = "w38 {image} w39 {question}"  # w38 / w39 are vision_start / vision_end (ids 43, 44)
BRIEF_SIZES = ((56, 56), (84, 56), (56, 112))  # (height, width) with patch 14, merge 2: 4, 6 and 8 tokens
ODD_SIZES = [(48, 40), (17, 61), (90, 33), (7, 9), (64, 64), (300, 20)]


def _text():  # type: ignore[no-untyped-def]
    return dict(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                num_key_value_heads=1, max_position_embeddings=256, bos_token_id=1, eos_token_id=2, pad_token_id=0,
                rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [4, 2, 2]})  # head_dim 16


TOKENS = dict(image_token_id=4, video_token_id=45, vision_start_token_id=43, vision_end_token_id=44)


def tiny_qwen2_vl():  # type: ignore[no-untyped-def]
    from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration

    torch.manual_seed(0)
    vision = dict(depth=2, embed_dim=32, hidden_size=32, num_heads=2, mlp_ratio=2, patch_size=14, spatial_merge_size=2,
                  temporal_patch_size=2)
    return Qwen2VLForConditionalGeneration(Qwen2VLConfig(text_config=_text(), vision_config=vision, **TOKENS)).eval()


def tiny_qwen2_5_vl():  # type: ignore[no-untyped-def]
    """Layer 0 windowed (56 px = 2x2 merged tokens per window), layer 1 full attention."""
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    torch.manual_seed(1)
    vision = dict(depth=2, hidden_size=32, out_hidden_size=32, intermediate_size=64, num_heads=2, patch_size=14,
                  spatial_merge_size=2, temporal_patch_size=2, window_size=56, fullatt_block_indexes=[1])
    return Qwen2_5_VLForConditionalGeneration(Qwen2_5_VLConfig(text_config=_text(), vision_config=vision, **TOKENS)).eval()


BUILDERS = {"qwen2_vl": tiny_qwen2_vl, "qwen2_5_vl": tiny_qwen2_5_vl}


@pytest.fixture(scope="module", params=sorted(BUILDERS))
def qwen_export(request, tmp_path_factory):  # type: ignore[no-untyped-def]
    """Each family exported once with its parity (a mismatch fails the export)."""
    from exporters.mllm import ExportOptions, export_mllm
    from exporters.mllm.tokenizer import build_word_tokenizer

    root = tmp_path_factory.mktemp(request.param)
    build_word_tokenizer(WORDS, root / "tokenizer.json")
    model = BUILDERS[request.param]()
    options = ExportOptions(tokenizer=root / "tokenizer.json", prompt_template=TEMPLATE, parity_questions=QUESTIONS,
                            answer_mode="choices")
    return model, root / "export", export_mllm(model, root / "export", options)


def _images(sizes, seed=0):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (*size, 3), dtype=np.uint8) for size in sizes]


# ---- processor ------------------------------------------------------------------------------


def _processors():  # type: ignore[no-untyped-def]
    from transformers import Qwen2VLImageProcessor

    return {
        "default": Qwen2VLImageProcessor(),
        "small-bounds": Qwen2VLImageProcessor(min_pixels=28 * 28, max_pixels=28 * 28 * 6),
        "patch8-merge3": Qwen2VLImageProcessor(patch_size=8, merge_size=3, temporal_patch_size=1, min_pixels=24 * 24,
                                               max_pixels=24 * 24 * 9, image_mean=[0.5, 0.4, 0.3], image_std=[0.2, 0.25, 0.3]),
        "bilinear": Qwen2VLImageProcessor(resample=2, min_pixels=56 * 56, max_pixels=56 * 56 * 4),
    }


@pytest.mark.parametrize("name", ["default", "small-bounds", "patch8-merge3", "bilinear"])
def test_processor_matches_transformers(name):  # type: ignore[no-untyped-def]
    processor = _processors()[name]
    config = json.loads(processor.to_json_string())
    merge = processor.merge_size
    for image, size in zip(_images(ODD_SIZES, seed=3), ODD_SIZES):
        ref = processor(images=[image], return_tensors="np")
        processed = preprocess([image], config)  # chosen by image_processor_type, as the runtime does
        pixels, grids = processed.pixel_values, processed.image_grid_thw.tolist()
        assert grids == ref["image_grid_thw"].tolist(), (name, size)
        assert pixels.shape == ref["pixel_values"].shape, (name, size)
        diff = float(np.abs(pixels - ref["pixel_values"]).max())
        assert diff <= 1e-4, f"{name} on {size}: max |diff| {diff}"
        tokens = int(np.prod(ref["image_grid_thw"][0])) // merge**2
        assert tokens == grids[0][0] * grids[0][1] * grids[0][2] // merge**2


def test_smart_resize_equals_transformers_and_refuses_extreme_aspect():  # type: ignore[no-untyped-def]
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize as reference

    for height, width in [(7, 9), (1000, 30), (28, 28), (999, 1001), (56, 5000)]:
        for bounds in [(3136, 12544), (784, 1003520)]:
            assert smart_resize(height, width, 28, *bounds) == reference(height, width, 28, *bounds)
    with pytest.raises(DataError, match="aspect ratio above 200"):
        smart_resize(2, 500, 28, 3136, 12544)


# ---- graphs and positions against transformers ------------------------------------------------


def test_vision_features_equal_transformers_on_mixed_grids(qwen_export):  # type: ignore[no-untyped-def]
    """Three images of different grids in one vision run (window layers see partial windows)."""
    from exporters.mllm.parity import hf_pixels
    from harness.mllm.sessions import open_runtime

    model, export, _ = qwen_export
    images = _images([(84, 56), (56, 112), (150, 61)], seed=5)
    with open_runtime(export) as runtime:
        ours = runtime.image_features(images)
        counts = runtime.image_tokens(ours, len(images))
    feeds = [hf_pixels(export, image) for image in images]
    pixels = torch.from_numpy(np.concatenate([f["pixel_values"] for f in feeds]))
    grids = torch.from_numpy(np.concatenate([f["image_grid_thw"] for f in feeds]))
    with torch.no_grad():
        ref = torch.cat(model.model.get_image_features(pixels, grids, return_dict=True).pooler_output).numpy()
    assert counts == [int(g.prod()) // 4 for g in grids] and sum(counts) == ref.shape[0]
    np.testing.assert_allclose(np.asarray(ours), ref, atol=1e-5)


@pytest.mark.parametrize("window", [56, 112])  # 2x2 and 4x4 merged tokens per window (112: Qwen2.5-VL's own)
@pytest.mark.parametrize("grids", [[(1, 6, 4)], [(1, 4, 8), (1, 6, 4), (2, 8, 6)], [(1, 10, 14), (1, 4, 4)], [(1, 18, 26)]])
def test_grid_indices_equal_transformers(grids, window):  # type: ignore[no-untyped-def]
    """The vision graph's per-patch indices (traced as element-wise ops) against transformers'
    Python helpers: rotary (row, column), the cu_seqlens segments and Qwen2.5-VL's windows
    (window_index + cu_window_seqlens)."""
    from transformers.vision_utils import get_vision_cu_seqlens, get_vision_position_ids, get_vision_window_index

    from exporters.mllm.families.qwen2_vl import grid_indices

    grid = torch.tensor(grids)
    count = int(grid.prod(dim=1).sum())
    positions, frame, windows = grid_indices(grid, count, 2, window // 2 // 14)
    assert torch.equal(positions, get_vision_position_ids(grid, 2))

    def members(cuts):  # type: ignore[no-untyped-def]
        ids = torch.zeros(count, dtype=torch.int64)
        for number, (start, end) in enumerate(zip(cuts[:-1].tolist(), cuts[1:].tolist())):
            ids[start:end] = number
        return ids

    assert torch.equal(members(get_vision_cu_seqlens(grid)), frame)
    order, cuts = get_vision_window_index(grid, 2, window, 14)
    hf_window = torch.empty(count, dtype=torch.int64)  # window number of each patch, in the processor's order
    merged = members(cuts)  # window number in transformers' permuted order
    patch_order = (order[:, None] * 4 + torch.arange(4)).reshape(-1)
    hf_window[patch_order] = merged
    ours = frame * 10_000 + windows
    if any(max(h, w) // 2 > window // 28 for _, h, w in grids):  # an image wider than a window: it is split
        assert len(set(hf_window.tolist())) > len(grids)
    assert torch.equal(hf_window[:, None] == hf_window[None, :], ours[:, None] == ours[None, :])


def test_mrope_positions_equal_get_rope_index(qwen_export):  # type: ignore[no-untyped-def]
    model, export, _ = qwen_export
    from harness.mllm.manifest import load_vqa_spec

    spec = load_vqa_spec(export)
    grids = [(1, 6, 4), (1, 4, 8)]  # 6 and 8 image tokens
    ids = np.array([[1, 43] + [4] * 6 + [44, 9, 10, 43] + [4] * 8 + [44, 11]], dtype=np.int64)
    with torch.no_grad():
        ref, deltas = model.model.get_rope_index(torch.from_numpy(ids), mm_token_type_ids=torch.from_numpy((ids == 4).astype(np.int32)),
                                                 image_grid_thw=torch.tensor(grids))
    ours = mrope_positions(ids, ids.shape[1], spec, grids)
    np.testing.assert_array_equal(ours, ref.numpy())
    longer = np.concatenate([ids, [[20, 21]]], axis=1)  # decoding steps: position = step + rope_deltas on every axis
    steps = mrope_positions(longer, 2, spec, grids)
    expected = np.arange(ids.shape[1], ids.shape[1] + 2) + int(deltas[0, 0])
    np.testing.assert_array_equal(steps, np.broadcast_to(expected, (3, 1, 2)))
    np.testing.assert_array_equal(mrope_positions(np.array([[1, 9, 10]]), 3, spec, ()), [[[0, 1, 2]]] * 3)  # text only
    with pytest.raises(DataError, match="needs 8 consecutive image tokens"):
        mrope_positions(ids[:, :-5], ids.shape[1] - 5, spec, grids)


def test_option_scores_equal_transformers(qwen_export):  # type: ignore[no-untyped-def]
    """Choices mode: one prefill, all options in one batched decoder call with mRoPE positions."""
    from exporters.mllm.parity import hf_pixels
    from harness.mllm.prompt import PromptTokenizer
    from harness.mllm.sessions import open_runtime

    model, export, _ = qwen_export
    image = _images([(70, 45)], seed=9)[0]
    options = ["w3", "w4 w5 w6", "w7 w8"]
    with open_runtime(export) as runtime:
        tokenizer = PromptTokenizer.from_spec(runtime.spec)
        features = runtime.image_features([image])
        ids = tokenizer.prompt_ids("w1 w2", image_tokens=runtime.image_tokens(features, 1))
        encoded = [tokenizer.encode(option) for option in options]
        ours = runtime.score_choices(ids, features, encoded)
    feeds = hf_pixels(export, image)
    for score, option in zip(ours, encoded):
        full = torch.from_numpy(np.concatenate([ids, option]))[None]
        with torch.no_grad():
            logits = model(input_ids=full, pixel_values=torch.from_numpy(feeds["pixel_values"]),
                           image_grid_thw=torch.from_numpy(feeds["image_grid_thw"]),
                           mm_token_type_ids=(full == 4).int()).logits[0].double()
        logp = torch.log_softmax(logits, dim=-1)
        expected = sum(float(logp[len(ids) - 1 + k, token]) for k, token in enumerate(option))
        assert abs(score - expected) < 1e-4


# ---- export parity ------------------------------------------------------------------------------


def test_export_matches_generate_on_several_sizes(qwen_export):  # type: ignore[no-untyped-def]
    from exporters.mllm.parity import check_parity

    model, export, manifest = qwen_export
    parity = manifest["parity"]
    assert parity["greedy_tokens_equal"] is True and parity["prompts"] == len(QUESTIONS) * 3
    assert parity["max_abs_logit_diff"] < 1e-4
    brief = check_parity(model, export, list(QUESTIONS), sizes=BRIEF_SIZES, write=False)
    assert brief["greedy_tokens_equal"] is True and brief["max_abs_logit_diff"] < 1e-4, brief


def test_manifest_genai_config_and_validate(qwen_export):  # type: ignore[no-untyped-def]
    import onnx

    from harness.cli import main
    from harness.errors import ExitCode

    model, export, manifest = qwen_export
    image = manifest["vqa"]["image"]
    assert image["layout"] == "patches" and image["size"] == [56, 56] and manifest["vqa"]["family"] == "qwen2_vl"
    vision = onnx.load(str(export / "vision.onnx"))
    assert [i.name for i in vision.graph.input] == ["pixel_values", "image_grid_thw"]  # what onnxruntime-genai feeds
    genai = json.loads((export / "genai_config.json").read_text())["model"]
    assert genai["type"] == "qwen2_5_vl" and genai["vision_start_token_id"] == 43 and genai["video_token_id"] == 45
    assert genai["vision"]["inputs"] == {"pixel_values": "pixel_values", "image_grid_thw": "image_grid_thw"}
    assert genai["vision"]["spatial_merge_size"] == 2 and genai["vision"]["patch_size"] == 14
    decoder = onnx.load(str(export / "decoder.onnx"))
    positions = next(i for i in decoder.graph.input if i.name == "position_ids").type.tensor_type.shape.dim
    assert [d.dim_value or d.dim_param for d in positions] == [3, "batch_size", "sequence_length"]
    assert main(["validate", str(export)]) == ExitCode.OK


def test_bias_answerer_expands_each_image(qwen_export):  # type: ignore[no-untyped-def]
    """The bias path: the prompt holds each image's own token count (4 and 8 here)."""
    from harness.mllm.answer import Answerer
    from harness.mllm.sessions import open_runtime

    _, export, _ = qwen_export
    with open_runtime(export) as runtime:
        answerer = Answerer(runtime, mode="generate")
        for image in _images([(56, 56), (56, 112)], seed=4):
            assert answerer.answer(image, "w1", ["w2"]).text is not None
        no_image = answerer.answer(None, "w1", ["w2", "w3"])
        assert isinstance(no_image.text, str)


def test_bias_runs_on_the_export(qwen_export, tmp_path):  # type: ignore[no-untyped-def]
    """``mmharness bias`` end to end (choices mode, synthetic items drawn at the nominal size,
    the noise corruption): every probe cell is scored."""
    from harness.cli import main
    from harness.errors import ExitCode

    _, export, _ = qwen_export
    out = tmp_path / "bias"
    code = main(["bias", str(export), "--limit", "4", "--permutations", "1", "--corruptions", "gaussian_noise",
                 "--severities", "5", "--bootstrap", "0", "--save-samples", "0", "--out", str(out)])
    assert code == ExitCode.OK
    cells = json.loads((out / "results.json").read_text())["cells"]
    assert {"bias/clean", "bias/image=removed"} <= set(cells)
    assert all(cell["status"] == "ok" and cell["n_samples"] == 4 for cell in cells.values())


def test_bias_compare_fp16_and_int8_variants(qwen_export, tmp_path):  # type: ignore[no-untyped-def]
    """``bias --compare``'s per-graph parity feeds each image's token count and the 3-D positions:
    the FP16 variant's vision cosine is ~1; the INT8 vision graph calibrates (entropy, on patch
    rows and grids; the attention masks are finite) and stays close."""
    import shutil

    from harness.cli import main
    from harness.errors import ExitCode

    _, export, _ = qwen_export
    model = tmp_path / "model"
    shutil.copytree(export, model)
    assert main(["build", str(model), "--precision", "fp16"]) == ExitCode.OK
    assert main(["build", str(model), "--precision", "int8", "--calib-data", "synthetic-vqa", "--calib-samples", "8"]) == ExitCode.OK
    out = tmp_path / "bias"
    assert main(["bias", str(model), "--limit", "3", "--permutations", "1", "--corruptions", "", "--bootstrap", "0",
                 "--save-samples", "0", "--compare", "fp16", "--compare", "int8", "--out", str(out)]) == ExitCode.OK
    candidates = json.loads((out / "compare.json").read_text())["candidates"]
    fp16, int8 = (candidates[label]["parity"]["summary"] for label in ("fp16", "int8"))
    assert fp16["items"] == 3 and fp16["vision_cosine"]["min"] > 0.999
    assert 0.98 < int8["vision_cosine"]["min"] < 1.0  # quantized, and still the same features


OG_CLIENT = '''
import json, sys
import numpy as np
import onnxruntime_genai as og

model = og.Model(sys.argv[1])
cases = np.load(sys.argv[2])
tokens, logits = [], []
for index in range(int(cases["count"])):
    ids = cases[f"ids{index}"]
    params = og.GeneratorParams(model)
    params.set_search_options(max_length=len(ids) + int(cases["steps"]), do_sample=False)
    generator = og.Generator(model, params)
    inputs = og.NamedTensors()
    inputs["input_ids"] = ids.astype(np.int32)[None]
    inputs["pixel_values"] = cases[f"pixel_values{index}"]
    inputs["image_grid_thw"] = cases[f"image_grid_thw{index}"]
    inputs["num_image_tokens"] = cases[f"tokens{index}"]
    generator.set_inputs(inputs)
    out, steps = [], []
    while not generator.is_done():
        steps.append(np.asarray(generator.get_logits(), dtype=np.float64).reshape(-1).tolist())
        generator.generate_next_token()
        out.append(int(generator.get_next_tokens()[0]))
    tokens.append(out)
    logits.append(steps)
print(json.dumps({"tokens": tokens, "logits": logits}))
'''


def _og_python():  # type: ignore[no-untyped-def]
    """An interpreter with onnxruntime-genai: ``MMHARNESS_OG_PYTHON`` (a separate venv; og is never a
    dependency), else this one when it has og; None when neither."""
    import importlib.util
    import os
    import sys

    if os.environ.get("MMHARNESS_OG_PYTHON"):
        return os.environ["MMHARNESS_OG_PYTHON"]
    return sys.executable if importlib.util.find_spec("onnxruntime_genai") else None


def test_onnxruntime_genai_generates_the_same_tokens(qwen_export, tmp_path):  # type: ignore[no-untyped-def]
    """onnxruntime-genai 0.18's ``qwen2_5_vl`` type on the export as written (its 3-D positions from
    vision_start + image_grid_thw, our vision graph fed pixel_values + image_grid_thw): the same
    greedy tokens as the harness runtime, on three image sizes. og emits the image token when it
    is the argmax (the harness never does): there, the image token must be our logits' argmax."""
    import subprocess

    from harness.mllm.families.qwen2_vl import vision_feeds
    from harness.mllm.prompt import PromptTokenizer
    from harness.mllm.sessions import open_runtime

    python = _og_python()
    if python is None:
        pytest.skip("onnxruntime-genai is not installed (set MMHARNESS_OG_PYTHON to a venv's python that has it)")
    _, export, _ = qwen_export
    steps, cases, ours = 8, {}, []
    with open_runtime(export) as runtime:
        tokenizer = PromptTokenizer.from_spec(runtime.spec)
        for index, (image, question) in enumerate(zip(_images(BRIEF_SIZES, seed=11), ("w1 w2", "w9", "w3 w4 w5"))):
            features = runtime.image_features([image])
            counts = runtime.image_tokens(features, 1)
            ids = tokenizer.prompt_ids(question, image_tokens=counts)
            stop = [runtime.spec.eos_token_id]  # og stops at EOS too
            ours.append(runtime.generate(ids, features, max_new_tokens=steps, stop_token_ids=stop))
            feeds, _ = vision_feeds([image], runtime.spec)
            cases.update({f"ids{index}": ids, f"pixel_values{index}": feeds["pixel_values"],
                          f"image_grid_thw{index}": feeds["image_grid_thw"], f"tokens{index}": np.array(counts, np.int64)})
    np.savez(tmp_path / "cases.npz", count=len(ours), steps=steps, **cases)
    (tmp_path / "client.py").write_text(OG_CLIENT)
    done = subprocess.run([python, str(tmp_path / "client.py"), str(export), str(tmp_path / "cases.npz")],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    compared = 0
    for theirs, their_logits, generation in zip(result["tokens"], result["logits"], ours):
        # og has no suppressed tokens: where it emits the image token, that token must be the argmax of
        # our logits at that step (the harness takes the runner-up there); up to it, the tokens are equal
        cut = theirs.index(4) if 4 in theirs else len(theirs)
        assert theirs[:cut] == list(generation.tokens[:cut])
        if cut < len(theirs):
            assert int(np.argmax(generation.logits[cut])) == 4
        # the same logits while the sequences agree (og's positions from vision_start + image_grid_thw)
        np.testing.assert_allclose(np.asarray(their_logits[:cut + 1]), generation.logits[:cut + 1], atol=1e-4)
        compared += cut
    assert compared >= 12


def test_cli_export_uses_the_model_folders_processor(tmp_path):  # type: ignore[no-untyped-def]
    """``export mllm --model`` on a save_pretrained folder with its own processor (smaller pixel
    bounds): that processor is exported and parity holds on it."""
    from transformers import Qwen2VLImageProcessor

    from exporters.mllm.tokenizer import build_word_tokenizer
    from harness.cli import main
    from harness.errors import ExitCode

    folder = tmp_path / "hf"
    tiny_qwen2_5_vl().save_pretrained(folder)
    Qwen2VLImageProcessor(min_pixels=28 * 28, max_pixels=28 * 28 * 8).save_pretrained(folder)
    build_word_tokenizer(WORDS, folder / "tokenizer.json")
    code = main(["export", "mllm", "--model", str(folder), "--tokenizer", str(folder / "tokenizer.json"),
                 "--out", str(tmp_path / "out"), "--prompt-template", TEMPLATE, "--parity-question", "w1 w2"])
    assert code == ExitCode.OK
    assert json.loads((tmp_path / "out" / "preprocessor_config.json").read_text())["size"] == \
        {"longest_edge": 28 * 28 * 8, "shortest_edge": 28 * 28}
    assert json.loads((tmp_path / "out" / "manifest.json").read_text())["parity"]["greedy_tokens_equal"] is True


def test_mrope_section_not_matching_head_dim_is_refused():  # type: ignore[no-untyped-def]
    from exporters.mllm.families import family_of
    from harness.errors import ConfigError

    model = tiny_qwen2_vl()
    model.config.text_config.rope_parameters["mrope_section"] = [4, 2, 1]
    with pytest.raises(ConfigError, match=r"mrope_section \[4, 2, 1\]: sums to 7, expected head_dim / 2 = 8"):
        family_of(model)


def test_a_prompt_with_the_wrong_image_token_count_is_refused(qwen_export):  # type: ignore[no-untyped-def]
    from harness.errors import BadInputError
    from harness.mllm.prompt import PromptTokenizer
    from harness.mllm.sessions import open_runtime

    _, export, _ = qwen_export
    with open_runtime(export) as runtime:
        features = runtime.image_features(_images([(84, 56)]))
        ids = PromptTokenizer.from_spec(runtime.spec).prompt_ids("w1")  # vqa.tokens_per_image (1), not the grid's 6
        with pytest.raises(BadInputError, match=r"holds 1 image tokens .* grids give \[6\] feature rows"):
            runtime.generate(ids, features)


def test_transformersjs_folder_of_the_export_runs_as_it(qwen_export, tmp_path):  # type: ignore[no-untyped-def]
    """`mmharness init DIR` on the transformers.js layout of the export (its vision input named
    `grid_thw`, as transformers.js feeds it): patches layout, mRoPE family, equal prompt logits."""
    from harness.mllm.folder import FolderOptions, init_vlm_folder
    from tests.mllm.test_init_folder import _rename_io, _same_logits, _tjs_layout

    _, export, _ = qwen_export
    folder = _tjs_layout(export, tmp_path / "tjs")
    vision = folder / "onnx" / "vision_encoder.onnx"
    _rename_io(vision, {"image_grid_thw": "grid_thw"}, vision)
    vqa = init_vlm_folder(folder, FolderOptions(prompt_template=TEMPLATE)).manifest["vqa"]
    assert (vqa["family"], vqa["image"]["layout"], vqa["merge"]) == ("qwen2_vl", "patches", "runtime")
    assert vqa["io"]["vision"] == {"image_grid_thw": "grid_thw"}
    assert vqa["image"]["size"] == json.loads((export / "manifest.json").read_text())["vqa"]["image"]["size"]
    _same_logits(export, folder)
