"""Gemma 3's pan-and-scan in NumPy + PIL against transformers' Gemma3ImageProcessor: the same
crop counts and pixel values within 1e-4 on wide, tall, square, tiny and odd-sized images."""

from __future__ import annotations

import json

import numpy as np
import pytest

from harness.errors import ManifestError
from harness.mllm.processors import preprocess
from harness.mllm.processors.gemma3 import crop_grid, preprocess_crops

SIZES = [(48, 40), (17, 61), (90, 33), (7, 9), (64, 64), (37, 113), (113, 20), (3, 11), (4, 19), (25, 200), (300, 700)]
SETTINGS = {  # min crop size, max crops, min ratio to activate
    "small-crops": (2, 4, 1.2), "three-crops-square-too": (16, 3, 1.0), "one-crop": (5, 1, 0.5), "defaults": None}


def _processor(setting):  # type: ignore[no-untyped-def]
    from transformers import Gemma3ImageProcessor

    names = ("pan_and_scan_min_crop_size", "pan_and_scan_max_num_crops", "pan_and_scan_min_ratio_to_activate")
    values = dict(zip(names, setting)) if setting else {}  # defaults: left null, as Google's configs do
    return Gemma3ImageProcessor(size={"height": 32, "width": 32}, do_pan_and_scan=True, **values)


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_crops_and_pixels_equal_transformers(name):  # type: ignore[no-untyped-def]
    processor = _processor(SETTINGS[name])
    config = json.loads(processor.to_json_string())
    rng = np.random.default_rng(11)
    for height, width in SIZES:
        image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        images = [image, np.ascontiguousarray(image.transpose(1, 0, 2))]  # each size wide and tall
        ours, crops = preprocess_crops(images, config)
        defaults = {} if SETTINGS[name] else {"pan_and_scan_min_crop_size": 256, "pan_and_scan_max_num_crops": 4,
                                              "pan_and_scan_min_ratio_to_activate": 1.2}  # Gemma3Processor's
        ref = processor(images=images, return_tensors="np", input_data_format="channels_last", **defaults)
        assert crops == ref["num_crops"].tolist(), (name, height, width)
        assert ours.pixel_values.shape == ref["pixel_values"].shape == (len(images) + sum(crops), 3, 32, 32)
        diff = float(np.abs(ours.pixel_values - ref["pixel_values"]).max())
        assert diff <= 1e-4, f"{name} on {height}x{width}: max |diff| {diff}"
        assert np.array_equal(preprocess(images, config).pixel_values, ours.pixel_values)


def test_crop_counts_by_hand():  # type: ignore[no-untyped-def]
    assert crop_grid(30, 100, 8, 4, 1.2) == (1, 3)  # 100/30 + 0.5 rounds down to 3
    assert crop_grid(100, 30, 8, 4, 1.2) == (3, 1)
    assert crop_grid(40, 47, 8, 4, 1.2) == (0, 0)  # ratio 1.175 < 1.2: no crops
    assert crop_grid(25, 200, 8, 4, 1.2) == (1, 4)  # 8.5 crops capped at 4
    assert crop_grid(25, 200, 60, 4, 1.2) == (0, 0)  # 3 crops of 67 x 25: shorter than 60
    assert crop_grid(64, 64, 16, 3, 1.0) == (1, 2)  # at least 2 once active


def test_without_pan_and_scan_one_view_per_image():  # type: ignore[no-untyped-def]
    from transformers import Gemma3ImageProcessor

    config = json.loads(Gemma3ImageProcessor(size={"height": 32, "width": 32}).to_json_string())
    processed, crops = preprocess_crops([np.zeros((30, 100, 3), np.uint8)] * 2, config)
    assert crops == [0, 0] and processed.pixel_values.shape == (2, 3, 32, 32)


@pytest.mark.parametrize(("field", "value", "message"), [
    ("do_pan_and_scan", "yes", "do_pan_and_scan: 'yes', expected true, false or null"),
    ("pan_and_scan_min_crop_size", 0,
     r"pan_and_scan_min_crop_size: 0, expected an integer >= 1; .*null \(Gemma3Processor's 256\)"),
    ("pan_and_scan_max_num_crops", 2.5, "pan_and_scan_max_num_crops: 2.5, expected an integer >= 1"),
    ("pan_and_scan_min_ratio_to_activate", -1, "pan_and_scan_min_ratio_to_activate: -1, expected a number > 0"),
    ("do_resize", False, "do_pan_and_scan: true needs do_resize: true"),
])
def test_bad_settings_are_refused_in_one_line(field, value, message):  # type: ignore[no-untyped-def]
    config = {"image_processor_type": "Gemma3ImageProcessor", "size": {"height": 8, "width": 8},
              "do_pan_and_scan": True, field: value}
    with pytest.raises(ManifestError, match=f"^preprocessor_config.json: {message}") as error:
        preprocess([np.zeros((8, 20, 3), np.uint8)], config)
    assert "\n" not in str(error.value)


SPECIALS = ("[PAD]", "<s>", "</s>", "[UNK]", "<image_soft_token>", "<start_of_image>", "<end_of_image>", "\n\n")
PHRASE = "Here is the original image and here are some crops to help you see better".split()
PAN_AND_SCAN = {"do_pan_and_scan": True, "pan_and_scan_min_crop_size": 8, "pan_and_scan_max_num_crops": 4,
                "pan_and_scan_min_ratio_to_activate": 1.2}
CASES = {((48, 40),): [2], ((30, 70),): [2], ((64, 64),): [0], ((20, 90),): [4], ((30, 70), (90, 20)): [2, 4]}


def _hf_processor(export):  # type: ignore[no-untyped-def]
    """transformers' Gemma3Processor over the export's files (4 soft tokens per view)."""
    from transformers import AutoImageProcessor, Gemma3Processor, PreTrainedTokenizerFast

    tokenizer = PreTrainedTokenizerFast(tokenizer_file=str(export / "tokenizer.json"), extra_special_tokens={
        "image_token": "<image_soft_token>", "boi_token": "<start_of_image>", "eoi_token": "<end_of_image>"})
    images = AutoImageProcessor.from_pretrained(str(export), local_files_only=True)
    return Gemma3Processor(image_processor=images, tokenizer=tokenizer, image_seq_length=4)


def test_pan_and_scan_export_gives_transformers_ids_and_tokens(tmp_path):  # type: ignore[no-untyped-def]
    """An export with do_pan_and_scan true: each image's block (original + crops, Gemma3Processor's
    text) gives transformers' input_ids, and greedy tokens equal its generate on its own pixels.
    (Gemma3Processor passes its own do_pan_and_scan false and 256 / 4 / 1.2 to the image processor
    unless the call gives them, so the call gives the config's.)"""
    from transformers import Gemma3ImageProcessor

    from exporters.mllm import ExportOptions, export_mllm
    from exporters.mllm.parity import hf_greedy
    from exporters.mllm.tokenizer import build_word_tokenizer
    from harness.mllm.prompt import PromptTokenizer
    from harness.mllm.sessions import open_runtime
    from tests.mllm.conftest import WORDS, tiny_gemma3

    build_word_tokenizer([*PHRASE, *WORDS], tmp_path / "src" / "tokenizer.json", specials=SPECIALS)
    Gemma3ImageProcessor(size={"height": 32, "width": 32}, **PAN_AND_SCAN).save_pretrained(str(tmp_path / "proc"))
    model = tiny_gemma3()
    export = tmp_path / "export"
    export_mllm(model, export, ExportOptions(tokenizer=tmp_path / "src" / "tokenizer.json",
                                             image_token="<image_soft_token>", image_processor=tmp_path / "proc"))
    processor, rng, worst = _hf_processor(export), np.random.default_rng(3), 0.0
    with open_runtime(export) as runtime:
        tokenizer = PromptTokenizer.from_spec(runtime.spec)
        assert runtime.uses_blocks
        for case, crops in CASES.items():
            images = [rng.integers(0, 256, (*size, 3), dtype=np.uint8) for size in case]
            features = runtime.image_features(images)
            assert runtime.image_tokens(features, len(images)) == [4 * (1 + count) for count in crops]
            ids = runtime.prompt_ids(tokenizer, "w1 w2", features, len(images))
            ref = processor(text=["<s>" + "<start_of_image>" * len(images) + " w1 w2"], images=[images],
                            return_tensors="np", **PAN_AND_SCAN)
            assert ids.tolist() == ref["input_ids"][0].tolist(), case
            ours = runtime.generate(ids, features, max_new_tokens=8, stop_token_ids=())
            tokens, logits = hf_greedy(model, ids, {"pixel_values": ref["pixel_values"]}, 8)
            assert list(ours.tokens) == tokens, case
            worst = max(worst, float(np.abs(ours.logits - logits).max()))
    assert worst < 1e-4, worst
    manifest = json.loads((export / "manifest.json").read_text())
    manifest["vqa"]["image_block"] = "plain"  # a single run of image tokens cannot hold the crops
    (export / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ManifestError, match=r"vqa.image_block: 'plain' cannot hold the crops of pan-and-scan "
                                            r"\(preprocessor_config.json: do_pan_and_scan true\); set it to 'family'"):
        with open_runtime(export):
            pass


def test_export_parity_runs_on_a_pan_and_scan_export(tmp_path):  # type: ignore[no-untyped-def]
    """``export mllm`` with parity on a pan-and-scan Gemma 3: the family's Gemma3Processor (with the
    export's own pan-and-scan settings) gives transformers' ids, pixels and tokens for images with
    0 and 2 crops and a two-image prompt, and they equal the runtime's."""
    from transformers import Gemma3ImageProcessor

    from exporters.mllm import ExportOptions, export_mllm
    from exporters.mllm.tokenizer import build_word_tokenizer
    from tests.mllm.conftest import WORDS, tiny_gemma3

    build_word_tokenizer([*PHRASE, *WORDS], tmp_path / "src" / "tokenizer.json", specials=SPECIALS)
    Gemma3ImageProcessor(size={"height": 32, "width": 32}, **PAN_AND_SCAN).save_pretrained(str(tmp_path / "proc"))
    export = tmp_path / "export"
    export_mllm(tiny_gemma3(), export, ExportOptions(tokenizer=tmp_path / "src" / "tokenizer.json",
                                                     image_token="<image_soft_token>", image_processor=tmp_path / "proc",
                                                     parity_questions=("w1 w2", "w3")))
    parity = json.loads((export / "manifest.json").read_text())["parity"]
    assert parity["greedy_tokens_equal"] is True and parity["prompts"] == 8  # 2 questions x (3 sizes + one pair)
    assert parity["max_abs_logit_diff"] < 1e-4


def _byte_level_bpe(path):  # type: ignore[no-untyped-def]
    """A byte-level BPE (as Gemma's and Qwen's tokenizers are, not word-level) trained here on
    chat-like text, so runs of newlines merge into one token with the text around them."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    corpus = ["user\n\n\nHere is the original image\n\n and here are some crops to help you see better \n\n",
              "user\n\nwhat is it ?\n\n\n", "model\n\n\n\n a cat \n\n\n"] * 50
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=["<pad>", "<bos>", "<eos>", "<image_soft_token>",
                                                                  "<start_of_image>", "<end_of_image>",
                                                                  "<start_of_turn>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(corpus, trainer)
    tokenizer.save(str(path))
    return path


def test_blocks_are_tokenized_with_the_text_around_them(tmp_path):  # type: ignore[no-untyped-def]
    """A Gemma 3 chat prompt (``user\\n`` then the image) with a byte-level BPE: the block's leading
    ``\\n\\n`` merges with the template's ``\\n`` as in transformers, which tokenizes the expanded
    text once; tokenizing each block apart would give other ids (checked, so this case is real)."""
    from types import SimpleNamespace

    from transformers import Gemma3ImageProcessor, Gemma3Processor, PreTrainedTokenizerFast

    from harness.mllm.families.gemma3 import image_block
    from harness.mllm.processors.gemma3 import num_crops
    from harness.mllm.prompt import PromptTokenizer

    path = _byte_level_bpe(tmp_path / "tokenizer.json")
    images = Gemma3ImageProcessor(size={"height": 32, "width": 32}, **PAN_AND_SCAN)
    config = json.loads(images.to_json_string())
    hf = Gemma3Processor(image_processor=images, image_seq_length=3, tokenizer=PreTrainedTokenizerFast(
        tokenizer_file=str(path), extra_special_tokens={"image_token": "<image_soft_token>",
                                                        "boi_token": "<start_of_image>", "eoi_token": "<end_of_image>"}))
    hf.images_kwargs = {**Gemma3Processor.images_kwargs, **PAN_AND_SCAN}
    tokenizer = PromptTokenizer(path, "<start_of_turn>user\n{image}{question}", 3, 3, 1)
    spec = SimpleNamespace(tokens_per_image=3, image_token_id=3)
    rng = np.random.default_rng(5)
    for sizes in ([(64, 64)], [(48, 40)], [(30, 70), (64, 64)]):
        pictures = [rng.integers(0, 256, (*size, 3), dtype=np.uint8) for size in sizes]
        blocks = [image_block(num_crops(*size, config), spec, tokenizer) for size in sizes]
        ours = tokenizer.prompt_ids("what is it ?", image_blocks=blocks)
        text = "<bos><start_of_turn>user\n" + "<start_of_image>" * len(sizes) + "what is it ?"
        theirs = hf(text=[text], images=[pictures], return_tensors="np")["input_ids"][0]
        assert ours.tolist() == theirs.tolist(), sizes
        apart = [1, *tokenizer.encode("<start_of_turn>user\n"), *(t for b in blocks for t in tokenizer.encode(b)),
                 *tokenizer.encode("what is it ?")]
        assert apart != ours.tolist()
