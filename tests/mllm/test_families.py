"""Every registered family, exported from a tiny random model built offline: greedy tokens equal
transformers' ``generate`` on several prompts and on images of three sizes and aspect ratios,
transformers fed by its own image processor and the runtime by its own preprocessing (the
export's parity, which fails the export on a mismatch)."""

from __future__ import annotations

import json

import pytest

from harness.cli import main
from harness.errors import ExitCode
from tests.mllm.conftest import WORDS, check_choice_scores, tiny_gemma3, tiny_idefics3, tiny_llava, tiny_llava_siglip, tiny_paligemma

QUESTIONS = ("w1 w2 w3", "w7 w30", "w12")
BUILDERS = {"llava-clip": tiny_llava, "llava-siglip": tiny_llava_siglip, "idefics3": tiny_idefics3,
            "llava-siglip-two-layers": lambda: tiny_llava_siglip("default", [-2, -1]),
            "gemma3": tiny_gemma3, "paligemma": tiny_paligemma}


def export_with_parity(builder, root):  # type: ignore[no-untyped-def]
    from exporters.mllm import ExportOptions, export_mllm
    from exporters.mllm.tokenizer import build_word_tokenizer

    build_word_tokenizer(WORDS, root / "tokenizer.json")
    model = builder()
    options = ExportOptions(tokenizer=root / "tokenizer.json", parity_questions=QUESTIONS)
    return model, export_mllm(model, root / "export", options)


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_family_matches_transformers_on_three_image_sizes(name, tmp_path):  # type: ignore[no-untyped-def]
    _, manifest = export_with_parity(BUILDERS[name], tmp_path)
    parity = manifest["parity"]
    assert parity["greedy_tokens_equal"] is True and parity["prompts"] == len(QUESTIONS) * 3
    assert len({tuple(size) for size in parity["images"]}) == 3 and parity["max_abs_logit_diff"] < 1e-4
    assert manifest["vqa"]["image"]["processor"] == "preprocessor_config.json"
    assert main(["validate", str(tmp_path / "export")]) == ExitCode.OK  # checksums and the graph contract


def test_llava_token_count_follows_the_tower():  # type: ignore[no-untyped-def]
    from exporters.mllm.families import family_of

    siglip_full, siglip_default, clip_default = tiny_llava_siglip("full"), tiny_llava_siglip("default"), tiny_llava()
    assert family_of(siglip_full).tokens_per_image(siglip_full) == 16  # (32/8)^2 patches, no CLS
    assert family_of(siglip_default).tokens_per_image(siglip_default) == 15  # "default" drops the first token
    assert family_of(clip_default).tokens_per_image(clip_default) == 4  # (16/8)^2 + CLS - CLS


def test_a_preprocessing_drift_fails_the_export(tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    """The runtime fed the old bilinear squash instead of CLIP's bicubic shortest-edge + crop:
    both sides used to get the same pixels, so nothing saw it; now the export refuses."""
    import dataclasses

    from exporters.verify import ParityError
    from harness.mllm import runtime
    from harness.mllm.preprocess import vision_feeds

    monkeypatch.setattr(runtime, "vision_feeds",
                        lambda images, spec: vision_feeds(images, dataclasses.replace(spec, processor=None)))
    with pytest.raises(ParityError, match="greedy tokens differ from transformers' generate"):
        export_with_parity(tiny_llava, tmp_path)
    assert not (tmp_path / "export").exists()


@pytest.mark.parametrize("name", ["gemma3", "paligemma"])
def test_the_attention_rule_is_what_makes_parity(name, tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    """Fed plain causal groups (all -1), the same graphs drift from transformers by far more than
    with the family's rule: the bidirectional image blocks (Gemma 3) and prefix (PaliGemma) are
    really exercised (on these tiny random models the drift is small, so logits are compared)."""
    import numpy as np

    from exporters.mllm import ExportOptions, export_mllm
    from exporters.mllm.parity import check_parity
    from exporters.mllm.tokenizer import build_word_tokenizer
    from harness.mllm import runtime

    build_word_tokenizer(WORDS, tmp_path / "tokenizer.json")
    model = BUILDERS[name]()
    export_mllm(model, tmp_path / "export", ExportOptions(tokenizer=tmp_path / "tokenizer.json"))
    right = check_parity(model, tmp_path / "export", list(QUESTIONS[:2]), write=False)
    monkeypatch.setattr(runtime, "attention_groups", lambda ids, *args: np.full(ids.shape, -1, dtype=np.int64))
    causal = check_parity(model, tmp_path / "export", list(QUESTIONS[:2]), write=False)
    assert right["greedy_tokens_equal"] and right["max_abs_logit_diff"] < 1e-5
    assert causal["max_abs_logit_diff"] > 1e-4 > 10 * right["max_abs_logit_diff"]


def test_attention_groups_follow_transformers_token_types():  # type: ignore[no-untyped-def]
    import numpy as np

    from harness.mllm.runtime import attention_groups

    ids = np.array([[1, 4, 4, 9, 4, 4, 4, 7, 8]])
    assert attention_groups(ids, 7, "image_blocks", 4).tolist() == [[-1, 0, 0, -1, 1, 1, 1, -1, -1]]
    assert attention_groups(ids, 7, "prefix", 4).tolist() == [[0, 0, 0, 0, 0, 0, 0, -1, -1]]


def test_gemma3_option_scores_equal_transformers(tmp_path):  # type: ignore[no-untyped-def]
    """Ranking options runs the prompt with its image blocks, then the options causally in one
    batch; each option's summed log-probability equals transformers' forward over prompt + option
    with the processor's token_type_ids."""
    check_choice_scores(tiny_gemma3(), tmp_path, ["w3", "w4 w5 w6", "w9 w10"],
                        lambda sequence, prompt: (sequence == 4).long())


@pytest.mark.parametrize("name", ["gemma3", "paligemma"])
def test_bias_runs_on_a_family_with_an_attention_rule(name, tmp_path):  # type: ignore[no-untyped-def]
    """The probes (prompt with and without the image, options ranked in a batch) run end to end
    on an export whose decoder takes attention_groups."""
    from exporters.mllm import ExportOptions, export_mllm
    from exporters.mllm.tokenizer import build_word_tokenizer

    build_word_tokenizer(WORDS, tmp_path / "tokenizer.json")
    export_mllm(BUILDERS[name](), tmp_path / "export", ExportOptions(tokenizer=tmp_path / "tokenizer.json",
                                                                      answer_mode="choices"))
    out = tmp_path / "bias"
    assert main(["bias", str(tmp_path / "export"), "--limit", "4", "--permutations", "1", "--corruptions", "",
                 "--bootstrap", "0", "--out", str(out)]) == ExitCode.OK
    cells = json.loads((out / "results.json").read_text())["cells"]
    assert cells and all(cell["status"] == "ok" for cell in cells.values())
