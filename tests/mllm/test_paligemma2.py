"""PaliGemma 2 (Gemma 2 text model): sliding window on alternate layers, attention and final logit
soft caps, ``query_pre_attn_scalar``; greedy tokens equal transformers' ``generate`` with the
bidirectional prefix and positions from 1, and a window shorter than the prompt."""

from __future__ import annotations

import pytest

from harness.cli import main
from harness.errors import ExitCode
from tests.mllm.conftest import WORDS, _siglip, check_choice_scores
from tests.mllm.test_families import QUESTIONS, export_with_parity

WINDOW = 6  # prompt = bos + 16 image tokens + question: the generated tokens' sliding layers see only the last 6


def tiny_paligemma2(window: int = WINDOW, final_cap: float | None = 0.5):  # type: ignore[no-untyped-def]
    """Small caps (0.5, 1.0) and a scalar unlike head_dim, so leaving any of them out changes the logits."""
    import torch
    from transformers import Gemma2Config, PaliGemmaConfig, PaliGemmaForConditionalGeneration

    torch.manual_seed(4)
    text = Gemma2Config(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                        num_key_value_heads=2, head_dim=8, max_position_embeddings=128, sliding_window=window,
                        layer_types=["sliding_attention", "full_attention"], query_pre_attn_scalar=16,
                        attn_logit_softcapping=1.0, final_logit_softcapping=final_cap, bos_token_id=1, eos_token_id=2,
                        pad_token_id=0)
    config = PaliGemmaConfig(text_config=text.to_dict(), vision_config=_siglip(projection_dim=32).to_dict(),
                             image_token_id=4, projection_dim=32)
    return PaliGemmaForConditionalGeneration(config).eval()


def test_paligemma2_matches_transformers_on_three_image_sizes(tmp_path):  # type: ignore[no-untyped-def]
    model, manifest = export_with_parity(tiny_paligemma2, tmp_path)
    parity, vqa = manifest["parity"], manifest["vqa"]
    assert parity["greedy_tokens_equal"] is True and parity["prompts"] == len(QUESTIONS) * 3
    assert len({tuple(size) for size in parity["images"]}) == 3 and parity["max_abs_logit_diff"] < 1e-4
    assert vqa["attention"] == "prefix" and vqa["tokens_per_image"] == 16 > WINDOW
    assert model.model.language_model.config._attn_implementation == "eager"  # the soft cap is really applied
    assert main(["validate", str(tmp_path / "export")]) == ExitCode.OK


@pytest.mark.parametrize(("wrong", "tokens_equal"), [({"window": 64}, False), ({"final_cap": None}, True)])
def test_a_wrong_window_or_cap_fails_parity(wrong, tokens_equal, tmp_path):  # type: ignore[no-untyped-def]
    """Exported from the same weights with no effective window (64 > prompt + answer) or without
    the final soft cap, the graphs drift from transformers' generate on the real model (the cap
    is monotonic: the greedy tokens stay, the logits and so option scores move)."""
    from exporters.mllm import ExportOptions, export_mllm
    from exporters.mllm.parity import check_parity
    from exporters.mllm.tokenizer import build_word_tokenizer

    build_word_tokenizer(WORDS, tmp_path / "tokenizer.json")
    export_mllm(tiny_paligemma2(**wrong), tmp_path / "export", ExportOptions(tokenizer=tmp_path / "tokenizer.json"))
    parity = check_parity(tiny_paligemma2(), tmp_path / "export", list(QUESTIONS[:2]), write=False)
    assert parity["greedy_tokens_equal"] is tokens_equal and parity["max_abs_logit_diff"] > 0.05


def test_sliding_masks_equal_transformers_prefix_rule():  # type: ignore[no-untyped-def]
    """The sliding layers keep the whole bidirectional prefix (transformers' ``(causal and window)
    or same block``), which Gemma 3's ``group_masks`` (window over both) does not; padding excluded."""
    import torch
    from transformers.masking_utils import create_causal_mask, create_sliding_window_causal_mask

    from exporters.mllm.graphs import group_masks

    config = tiny_paligemma2().config.text_config
    groups = torch.tensor([[0] * 10 + [-1] * 4, [-1, -1] + [0] * 9 + [-1] * 3])
    padding = torch.ones_like(groups)
    padding[1, :2] = 0  # left padding of the second row
    embeds = torch.zeros(2, 14, 32)
    kwargs = {"config": config, "inputs_embeds": embeds, "attention_mask": padding, "cache": None,
              "position_ids": torch.arange(14)[None].expand(2, 14), "block_sequence_ids": groups}
    reference = {"full_attention": create_causal_mask(**kwargs),
                 "sliding_attention": create_sliding_window_causal_mask(**kwargs)}
    ours = group_masks(padding, groups, 14, config, torch.float32, window_cuts_groups=False)
    for kind in ("full_attention", "sliding_attention"):
        assert torch.equal(ours[kind] == 0, reference[kind] == 0), kind
    gemma3 = group_masks(padding, groups, 14, config, torch.float32)["sliding_attention"]
    assert not torch.equal(gemma3 == 0, reference["sliding_attention"] == 0)
    assert bool((ours["sliding_attention"][0, 0, 9, :10] == 0).all())  # the prefix's last token sees its first


def test_option_scores_equal_transformers(tmp_path):  # type: ignore[no-untyped-def]
    """Ranking options (the prompt as the bidirectional prefix, then the options causally in one
    batch, inside the window): each option's summed log-probability, soft cap included, equals
    transformers' forward over prompt + option with token_type_ids 0 / 1."""
    import torch

    options = ["w3", "w4 w5 w6", "w9 w10 w11 w12 w13 w14 w15 w16"]  # the last one longer than the window
    check_choice_scores(tiny_paligemma2(), tmp_path, options,
                        lambda sequence, prompt: torch.tensor([[0] * prompt + [1] * (sequence.shape[1] - prompt)]))
