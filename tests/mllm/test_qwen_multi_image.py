"""Qwen2-VL / Qwen2.5-VL prompts holding two images, against transformers: with
``vqa.image_block: family`` each image is written as ``<|vision_start|><|image_pad|>*n<|vision_end|>``
(the chat template's wrapping, the processor's expansion), so the prompt ids equal
``Qwen2VLProcessor``'s, the 3-D positions equal ``get_rope_index`` and greedy tokens equal
``generate``; a plain manifest's single run of two images' tokens is refused (transformers would
read it as one image)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from harness.errors import DataError
from tests.mllm.conftest import WORDS
from tests.mllm.test_qwen2_vl import QUESTIONS, tiny_qwen2_5_vl, tiny_qwen2_vl

torch = pytest.importorskip("torch")

RENAMED = {"<image>": "<|image_pad|>", "w38": "<|vision_start|>", "w39": "<|vision_end|>"}  # ids 4, 43, 44


def qwen_tokenizer(path: Path) -> Path:
    """The word tokenizer with Qwen's image pad, vision start and end strings at the tiny model's
    ids (4, 43, 44), all special tokens."""
    from exporters.mllm.tokenizer import build_word_tokenizer

    build_word_tokenizer(WORDS, path)
    doc = json.loads(path.read_text())
    vocab = doc["model"]["vocab"]
    for old, new in RENAMED.items():
        vocab[new] = vocab.pop(old)
    doc["added_tokens"] = [token for token in doc["added_tokens"] if token["content"] != "<image>"]
    template = {"single_word": False, "lstrip": False, "rstrip": False, "normalized": False, "special": True}
    doc["added_tokens"] += [{"id": vocab[new], "content": new, **template} for new in RENAMED.values()]
    path.write_text(json.dumps(doc))
    return path


@pytest.fixture(scope="module", params=["qwen2_vl", "qwen2_5_vl"])
def block_export(request, tmp_path_factory):  # type: ignore[no-untyped-def]
    """Exported with ``vqa.image_block: family`` and a bare ``{image}``; the export's parity runs
    transformers' Qwen2VLProcessor on one and two images per prompt (a mismatch fails it)."""
    from exporters.mllm import ExportOptions, export_mllm

    root = tmp_path_factory.mktemp(request.param)
    model = {"qwen2_vl": tiny_qwen2_vl, "qwen2_5_vl": tiny_qwen2_5_vl}[request.param]()
    options = ExportOptions(tokenizer=qwen_tokenizer(root / "tokenizer.json"), prompt_template="{image} {question}",
                            parity_questions=QUESTIONS, image_block="family")
    return model, root / "export", export_mllm(model, root / "export", options)


def _images(sizes, seed):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (*size, 3), dtype=np.uint8) for size in sizes]


def test_parity_with_two_images_per_prompt(block_export):  # type: ignore[no-untyped-def]
    model, _, manifest = block_export
    parity = manifest["parity"]
    assert manifest["vqa"]["image_block"] == "family"
    assert parity["prompts"] == 12 and parity["two_image_prompts"] == 3
    assert parity["prompt_ids_equal"] is True and parity["greedy_tokens_equal"] is True
    assert parity["max_abs_logit_diff"] < 1e-4


def test_two_images_ids_and_positions_equal_transformers(block_export):  # type: ignore[no-untyped-def]
    """Two images of different grids (6 and 8 tokens): the processor's ids, then get_rope_index's
    positions and the decoding steps' rope deltas."""
    from exporters.mllm.parity import hf_processor_inputs
    from harness.mllm.families.qwen2_vl import mrope_positions
    from harness.mllm.prompt import PromptTokenizer
    from harness.mllm.sessions import open_runtime

    model, export, _ = block_export
    images = _images([(84, 56), (56, 112)], seed=7)
    with open_runtime(export) as runtime:
        tokenizer = PromptTokenizer.from_spec(runtime.spec)
        features = runtime.image_features(images)
        ids = runtime.prompt_ids(tokenizer, "w1 w2", features, 2)
        spec = runtime.spec
    assert ids.tolist() == [1, 43, *[4] * 6, 44, 43, *[4] * 8, 44, 6, 7]
    theirs = hf_processor_inputs(model, export, spec, images, "w1 w2")
    assert theirs["input_ids"][0].tolist() == ids.tolist()
    grids = theirs["image_grid_thw"]
    with torch.no_grad():
        ref, deltas = model.model.get_rope_index(torch.from_numpy(ids[None]),
                                                 mm_token_type_ids=torch.from_numpy(theirs["mm_token_type_ids"]),
                                                 image_grid_thw=torch.from_numpy(grids))
    ours = mrope_positions(ids[None], len(ids), spec, [tuple(g) for g in grids.tolist()])
    np.testing.assert_array_equal(ours, ref.numpy())
    steps = mrope_positions(np.concatenate([ids, [20, 21]])[None], 2, spec, [tuple(g) for g in grids.tolist()])
    np.testing.assert_array_equal(steps[0, 0], np.arange(len(ids), len(ids) + 2) + int(deltas[0, 0]))


def test_one_run_of_two_images_is_refused(block_export):  # type: ignore[no-untyped-def]
    """A plain manifest (markers in the template) puts both images' tokens in one run: transformers
    groups tokens by type and would take it as one image, so the positions are refused."""
    from harness.mllm.families.qwen2_vl import mrope_positions
    from harness.mllm.manifest import load_vqa_spec

    _, export, _ = block_export
    spec = load_vqa_spec(export)
    ids = np.array([[1, 43, *[4] * 14, 44, 6]])
    with pytest.raises(DataError, match=r"image tokens at column 2 run past the 6 of grid \(1, 6, 4\)"):
        mrope_positions(ids, ids.shape[1], spec, [(1, 6, 4), (1, 4, 8)])


def test_answerer_on_a_block_export(block_export):  # type: ignore[no-untyped-def]
    from harness.mllm.answer import Answerer
    from harness.mllm.sessions import open_runtime

    _, export, _ = block_export
    with open_runtime(export) as runtime:
        answer = Answerer(runtime, mode="choices").answer(_images([(70, 45)], seed=2)[0], "w1", ["w2", "w3 w4"])
        assert answer.choice in (0, 1)


def test_cli_export_with_image_block_family(tmp_path):  # type: ignore[no-untyped-def]
    """``export mllm --image-block family`` writes it into the manifest, and the export's parity
    then runs two-image prompts through transformers' processor; a bad value is refused by click."""
    from harness.cli import main
    from harness.errors import ExitCode

    folder = tmp_path / "hf"
    tiny_qwen2_5_vl().save_pretrained(folder)
    tokenizer = qwen_tokenizer(tmp_path / "tokenizer.json")
    args = ["export", "mllm", "--model", str(folder), "--tokenizer", str(tokenizer), "--out", str(tmp_path / "out"),
            "--prompt-template", "{image} {question}", "--parity-question", "w1 w2"]
    assert main([*args, "--image-block", "tiles"]) == ExitCode.BAD_INPUT
    assert main([*args, "--image-block", "family"]) == ExitCode.OK
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["vqa"]["image_block"] == "family"
    assert manifest["parity"]["two_image_prompts"] == 1 and manifest["parity"]["greedy_tokens_equal"] is True
