"""Idefics3 / SmolVLM image splitting against transformers, from tiny random models built offline:
each image's token block equals what ``Idefics3Processor`` / ``SmolVLMProcessor`` write (ids from
the export's tokenizer by their strings), and the export's greedy tokens equal ``generate`` fed
those processors' own ``input_ids`` and pixels, on images split into 2x2, 1x2 and 2x1 tiles and
on two images in one prompt."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from harness.errors import ManifestError
from tests.mllm.conftest import WORDS, _text_config, tiny_idefics3

torch = pytest.importorskip("torch")
pytest.importorskip("num2words")  # SmolVLMProcessor refuses to build without it

QUESTIONS = ("w1 w2 w3", "w7 w30", "w12")
MARKERS = ["<fake_token_around_image>", "<global-img>"] + [f"<row_{r}_col_{c}>" for r in (1, 2, 3) for c in (1, 2, 3)]
SPLIT = {"size": {"longest_edge": 64}, "max_image_size": {"longest_edge": 32}}  # tiles of 32: at most 2 x 2


def marker_tokenizer(path: Path) -> Path:
    """The word tokenizer plus Idefics3's marker tokens (special, ids 45..55) and a newline token
    (id 56, so the rows' newlines are real tokens)."""
    from tokenizers import AddedToken, Tokenizer

    from exporters.mllm.tokenizer import build_word_tokenizer

    build_word_tokenizer(WORDS, path)
    tokenizer = Tokenizer.from_file(str(path))
    tokenizer.add_special_tokens([AddedToken(marker, normalized=False) for marker in MARKERS])
    tokenizer.add_tokens([AddedToken("\n", normalized=False)])
    tokenizer.save(str(path))
    return path


def tiny_smolvlm():  # type: ignore[no-untyped-def]
    from transformers import SmolVLMConfig, SmolVLMForConditionalGeneration, SmolVLMVisionConfig

    torch.manual_seed(6)
    vision = SmolVLMVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                                 image_size=32, patch_size=8)
    config = SmolVLMConfig(vision_config=vision.to_dict(), text_config=_text_config().to_dict(), image_token_id=4,
                           scale_factor=2)
    return SmolVLMForConditionalGeneration(config).eval()


BUILDERS = {"idefics3": (tiny_idefics3, "Idefics3ImageProcessor"), "smolvlm": (tiny_smolvlm, "SmolVLMImageProcessor")}


def _image_processor(kind: str, **settings):  # type: ignore[no-untyped-def]
    import transformers

    return getattr(transformers, kind)(**settings)


@pytest.fixture(scope="module", params=sorted(BUILDERS))
def split_export(request, tmp_path_factory):  # type: ignore[no-untyped-def]
    """Each architecture exported with a splitting processor and its parity (a mismatch fails the export)."""
    from exporters.mllm import ExportOptions, export_mllm

    root = tmp_path_factory.mktemp(request.param)
    builder, kind = BUILDERS[request.param]
    _image_processor(kind, **SPLIT).save_pretrained(root / "processor")
    model = builder()
    options = ExportOptions(tokenizer=marker_tokenizer(root / "tokenizer.json"), parity_questions=QUESTIONS,
                            image_processor=root / "processor")
    return model, root / "export", export_mllm(model, root / "export", options)


def test_export_parity_with_transformers_processor(split_export):  # type: ignore[no-untyped-def]
    """The export's parity: 3 sizes (2x2, 1x2, 2x2 tiles) + a two-image prompt, 3 questions each;
    prompt ids equal the processor's, greedy tokens equal generate's."""
    from harness.cli import main
    from harness.errors import ExitCode

    _, export, manifest = split_export
    parity = manifest["parity"]
    assert json.loads((export / "preprocessor_config.json").read_text())["do_image_splitting"] is True
    assert "image_block" not in manifest["vqa"]  # splitting implies per-image blocks
    assert parity["prompts"] == 12 and parity["two_image_prompts"] == 3
    assert parity["prompt_ids_equal"] is True and parity["greedy_tokens_equal"] is True
    assert parity["max_abs_logit_diff"] < 1e-4
    assert main(["validate", str(export)]) == ExitCode.OK


def test_more_aspect_ratios(split_export):  # type: ignore[no-untyped-def]
    """Further aspect ratios (2x1, and 1x2 after an extreme aspect) through the same comparison."""
    from exporters.mllm.parity import check_parity

    model, export, _ = split_export
    parity = check_parity(model, export, ["w5 w6"], seed=3, sizes=((70, 30), (10, 90)), write=False)
    assert parity["prompt_ids_equal"] and parity["greedy_tokens_equal"] and parity["max_abs_logit_diff"] < 1e-4


def test_the_tile_order_is_what_makes_parity(split_export, monkeypatch):  # type: ignore[no-untyped-def]
    """The comparison sees the tiles: fed in reverse order (the whole image first, then the crops
    from the last), the same graphs drift from transformers by far more than in order."""
    from exporters.mllm.parity import check_parity
    from harness.mllm import preprocess

    model, export, manifest = split_export
    right = manifest["parity"]  # the same images' sizes, in order
    feeds_of = preprocess.vision_feeds

    def reversed_tiles(images, spec):  # type: ignore[no-untyped-def]
        feeds = feeds_of(images, spec)
        return {**feeds, "pixel_values": np.ascontiguousarray(feeds["pixel_values"][:, ::-1])}

    monkeypatch.setattr(preprocess, "vision_feeds", reversed_tiles)
    wrong = check_parity(model, export, ["w5 w6"], sizes=((48, 40),), write=False)
    assert right["greedy_tokens_equal"] and wrong["prompt_ids_equal"]
    assert wrong["max_abs_logit_diff"] > 1e-4 > 100 * right["max_abs_logit_diff"]


@pytest.mark.parametrize("processor", ["Idefics3Processor", "SmolVLMProcessor"])
@pytest.mark.parametrize("settings", [SPLIT, {"size": {"longest_edge": 32}, "max_image_size": {"longest_edge": 32}},
                                      {"size": {"longest_edge": 96}, "max_image_size": {"longest_edge": 32}}])
def test_blocks_equal_the_processors_prompt(processor, settings, tmp_path):  # type: ignore[no-untyped-def]
    """Prompt ids of the runtime's blocks against both processors' expansion of ``<image>``: split
    images (up to 3 x 3 tiles), single tiles (``longest_edge`` = the tile: the short form), and two
    images in one prompt."""
    import transformers

    from exporters.mllm.families.idefics3 import _hf_processor
    from harness.mllm.families.idefics3 import image_block
    from harness.mllm.processors.idefics3 import tile_grid
    from harness.mllm.prompt import PromptTokenizer

    path = marker_tokenizer(tmp_path / "tokenizer.json")
    _image_processor(processor.replace("Processor", "ImageProcessor"), **settings).save_pretrained(tmp_path)
    model = type(processor.replace("Processor", "ForConditionalGeneration"), (), {})()  # only its class name is read
    spec = SimpleNamespace(tokens_per_image=3, image_token_id=4)
    hf, placeholder = _hf_processor(model, tmp_path, spec)
    assert isinstance(hf, getattr(transformers, processor))
    tokenizer = PromptTokenizer(path, "w9 {image} {question}", 4, 3, 1)
    config = json.loads((tmp_path / "preprocessor_config.json").read_text())
    rng = np.random.default_rng(2)
    for sizes in [[(48, 40)], [(30, 70)], [(90, 20)], [(64, 64), (17, 61)]]:
        images = [rng.integers(0, 256, (*size, 3), dtype=np.uint8) for size in sizes]
        blocks = [image_block(tile_grid(*size, config), spec, tokenizer) for size in sizes]
        ours = tokenizer.prompt_ids("w1 w2", image_blocks=blocks)
        text = "<s>w9 " + placeholder * len(images) + " w1 w2"
        theirs = hf(text=[text], images=[images], return_tensors="np")
        assert ours.tolist() == theirs["input_ids"][0].tolist(), (settings, sizes)
        assert theirs["pixel_values"].shape[1] == sum(r * c + 1 for r, c in (tile_grid(*s, config) for s in sizes))


def test_a_tokenizer_without_the_markers_is_refused(tmp_path):  # type: ignore[no-untyped-def]
    from exporters.mllm.tokenizer import build_word_tokenizer
    from harness.mllm.families.idefics3 import image_block
    from harness.mllm.prompt import PromptTokenizer

    build_word_tokenizer(WORDS, tmp_path / "tokenizer.json")
    tokenizer = PromptTokenizer(tmp_path / "tokenizer.json", "{image} {question}", 4, 4, 1)
    spec = SimpleNamespace(tokens_per_image=4, image_token_id=4)
    with pytest.raises(ManifestError, match=r"tokenizer.json: vqa.tokenizer: no token '<fake_token_around_image>'"):
        image_block((1, 2), spec, tokenizer)


def _edited(export, tmp_path, **fields):  # type: ignore[no-untyped-def]
    import shutil

    copy = tmp_path / "model"
    shutil.copytree(export, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["vqa"].update(fields)
    (copy / "manifest.json").write_text(json.dumps(manifest))
    return copy


def test_plain_prompts_with_a_splitting_processor_are_refused(split_export, tmp_path):  # type: ignore[no-untyped-def]
    from harness.mllm.sessions import open_runtime

    with pytest.raises(ManifestError, match=r"vqa.image_block: 'plain' cannot hold the tiles of a split image"):
        with open_runtime(_edited(split_export[1], tmp_path, image_block="plain")):
            pass


def test_tokens_per_image_counted_over_all_tiles_is_named(split_export, tmp_path):  # type: ignore[no-untyped-def]
    """``vqa.tokens_per_image`` is per tile: a count taken over a split image's 5 tiles (20) is refused."""
    from harness.mllm.sessions import open_runtime

    image = np.zeros((40, 50, 3), dtype=np.uint8)  # 2 x 2 crops + the whole image
    with open_runtime(_edited(split_export[1], tmp_path, tokens_per_image=20)) as runtime:
        with pytest.raises(ManifestError, match=r"vqa.tokens_per_image: the vision graph returned \(20, 32\) for grids "
                                                r"\[\(2, 2\)\], expected \(100, 32\)"):
            runtime.image_features([image])


def test_family_blocks_on_a_family_without_them_are_refused(tmp_path):  # type: ignore[no-untyped-def]
    """The shipped Llava: its manifest (no vqa.image_block) opens as before; asking for blocks is refused."""
    import shutil

    from harness.mllm.sessions import open_runtime
    from tests.mllm.conftest import SHIPPED

    if not (SHIPPED / "manifest.json").is_file():
        pytest.skip("models/vlm-synth-tiny not trained yet")
    with open_runtime(SHIPPED) as runtime:
        assert runtime.uses_blocks is False
    shutil.copytree(SHIPPED, tmp_path / "model")
    manifest = json.loads((tmp_path / "model" / "manifest.json").read_text())
    manifest["vqa"]["image_block"] = "family"
    (tmp_path / "model" / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ManifestError, match=r"vqa.image_block: 'family', but family llava has no per-image block"):
        with open_runtime(tmp_path / "model"):
            pass


def test_answerer_generates_on_split_images(split_export):  # type: ignore[no-untyped-def]
    """The bias path (one image per item): its prompt holds the image's whole block."""
    from harness.mllm.answer import Answerer
    from harness.mllm.sessions import open_runtime

    _, export, _ = split_export
    with open_runtime(export) as runtime:
        answerer = Answerer(runtime, mode="choices")
        image = np.random.default_rng(8).integers(0, 256, (40, 90, 3), dtype=np.uint8)
        answer = answerer.answer(image, "w1", ["w2", "w3 w4"])
        assert answer.choice in (0, 1) and len(answer.scores) == 2
        features = runtime.image_features([image])
        assert image_grid(features) == ((1, 2),)
        ids = runtime.prompt_ids(answerer.tokenizer, "w1", features, 1)
        assert int((ids == 4).sum()) == 3 * runtime.spec.tokens_per_image and int((ids == 45).sum()) == 4


def image_grid(features):  # type: ignore[no-untyped-def]
    from harness.mllm.runtime import image_grids

    return image_grids(features)
