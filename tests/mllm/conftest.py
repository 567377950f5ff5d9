"""Tiny random VLMs built offline from config objects, exported once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

WORDS = [f"w{i}" for i in range(40)]


@pytest.fixture(autouse=True)
def _one_torch_thread():  # type: ignore[no-untyped-def]
    """Tiny models on a shared 2-core box: 1 thread avoids spin contention (measured ~6x faster
    per training step under load); the previous setting is restored after each test."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def _text_config():  # type: ignore[no-untyped-def]
    from transformers import LlamaConfig

    return LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                       num_key_value_heads=2, max_position_embeddings=128, bos_token_id=1, eos_token_id=2, pad_token_id=0)


def tiny_llava():  # type: ignore[no-untyped-def]
    import torch
    from transformers import (
        CLIPVisionConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
    )

    torch.manual_seed(0)
    vision = CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                              image_size=16, patch_size=8, projection_dim=32)
    config = LlavaConfig(vision_config=vision, text_config=_text_config(), image_token_id=4, vision_feature_layer=-2,
                         vision_feature_select_strategy="default")
    return LlavaForConditionalGeneration(config).eval()


def tiny_llava_siglip(strategy: str = "full", layers: int | list[int] = -1):  # type: ignore[no-untyped-def]
    import torch
    from transformers import LlavaConfig, LlavaForConditionalGeneration, SiglipVisionConfig

    torch.manual_seed(2)
    vision = SiglipVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                                image_size=32, patch_size=8)
    config = LlavaConfig(vision_config=vision, text_config=_text_config(), image_token_id=4, vision_feature_layer=layers,
                         vision_feature_select_strategy=strategy)
    return LlavaForConditionalGeneration(config).eval()


def _siglip(**extra):  # type: ignore[no-untyped-def]
    from transformers import SiglipVisionConfig

    return SiglipVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                              image_size=32, patch_size=8, **extra)


def tiny_gemma3():  # type: ignore[no-untyped-def]
    """Sliding window 8 < prompt + answer, so the sliding layers' window is exercised too."""
    import torch
    from transformers import Gemma3Config, Gemma3ForConditionalGeneration, Gemma3TextConfig

    torch.manual_seed(3)
    text = Gemma3TextConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                            num_key_value_heads=2, head_dim=8, max_position_embeddings=128, sliding_window=8,
                            layer_types=["sliding_attention", "full_attention"], bos_token_id=1, eos_token_id=2,
                            pad_token_id=0)
    config = Gemma3Config(text_config=text, vision_config=_siglip(), mm_tokens_per_image=4, image_token_id=4,
                          boi_token_id=5, eoi_token_id=6)
    return Gemma3ForConditionalGeneration(config).eval()


def tiny_paligemma():  # type: ignore[no-untyped-def]
    import torch
    from transformers import GemmaConfig, PaliGemmaConfig, PaliGemmaForConditionalGeneration

    torch.manual_seed(4)
    text = GemmaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                       num_key_value_heads=2, head_dim=8, max_position_embeddings=128, bos_token_id=1, eos_token_id=2,
                       pad_token_id=0)
    config = PaliGemmaConfig(text_config=text.to_dict(), vision_config=_siglip(projection_dim=32).to_dict(),
                             image_token_id=4, projection_dim=32)
    return PaliGemmaForConditionalGeneration(config).eval()


def tiny_idefics3():  # type: ignore[no-untyped-def]
    import torch
    from transformers import (
        Idefics3Config,
        Idefics3ForConditionalGeneration,
        Idefics3VisionConfig,
    )

    torch.manual_seed(1)
    vision = Idefics3VisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                                  image_size=32, patch_size=8)
    config = Idefics3Config(vision_config=vision.to_dict(), text_config=_text_config().to_dict(), image_token_id=4,
                            scale_factor=2)
    return Idefics3ForConditionalGeneration(config).eval()


def _export(builder, root: Path, mode: str = "generate"):  # type: ignore[no-untyped-def]
    from exporters.mllm import ExportOptions, export_mllm
    from exporters.mllm.tokenizer import build_word_tokenizer

    build_word_tokenizer(WORDS, root / "src" / "tokenizer.json")
    model = builder()
    export_mllm(model, root / "export", ExportOptions(tokenizer=root / "src" / "tokenizer.json", answer_mode=mode))
    return model, root / "export"


@pytest.fixture(scope="session")
def llava_export(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    return _export(tiny_llava, tmp_path_factory.mktemp("llava"), mode="choices")


@pytest.fixture(scope="session")
def idefics3_export(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    return _export(tiny_idefics3, tmp_path_factory.mktemp("idefics3"))


SHIPPED = Path(__file__).resolve().parents[2] / "models" / "vlm-synth-tiny"


def check_choice_scores(model, root: Path, options: list[str], token_types) -> None:  # type: ignore[no-untyped-def]
    """Export ``model`` (answer mode choices) under ``root``; the runtime's summed log-probability
    of each option after the prompt "w1 w2" (one image) must equal transformers' forward over
    prompt + option, ``token_types(sequence, prompt_length)`` giving that call's token_type_ids."""
    import numpy as np
    import torch

    from exporters.mllm import ExportOptions, export_mllm
    from exporters.mllm.parity import hf_pixels
    from exporters.mllm.tokenizer import build_word_tokenizer
    from harness.mllm.prompt import PromptTokenizer
    from harness.mllm.runtime import log_softmax
    from harness.mllm.sessions import open_runtime

    build_word_tokenizer(WORDS, root / "tokenizer.json")
    export_mllm(model, root / "export", ExportOptions(tokenizer=root / "tokenizer.json", answer_mode="choices"))
    image = np.random.default_rng(5).integers(0, 256, (40, 56, 3), dtype=np.uint8)
    with open_runtime(root / "export") as runtime:
        tokenizer = PromptTokenizer.from_spec(runtime.spec)
        ids = tokenizer.prompt_ids("w1 w2")
        encoded = [tokenizer.encode(option) for option in options]
        ours = runtime.score_choices(ids, runtime.image_features([image]), encoded)
    pixels = torch.from_numpy(hf_pixels(root / "export", image)["pixel_values"])
    for score, option in zip(ours, encoded):
        sequence = torch.tensor([list(ids) + option])
        with torch.no_grad():
            logits = model(input_ids=sequence, pixel_values=pixels, token_type_ids=token_types(sequence, len(ids)),
                           attention_mask=torch.ones_like(sequence)).logits[0].numpy()
        logp = log_softmax(logits[len(ids) - 1:-1])
        assert abs(score - sum(logp[k, token] for k, token in enumerate(option))) < 1e-4
