"""PaliGemma (``PaliGemmaForConditionalGeneration``): SigLIP tower + linear projector, one
feature row per patch, Gemma text model.

The prompt (image + text) is a prefix that attends to itself bidirectionally; generated tokens
attend causally (transformers' ``token_type_ids`` 0 / 1): ``attention = "prefix"``. Positions
count from 1 in transformers; the decoder graph adds the 1 (``position_offset``), so the
runtime's positions stay 0-based.
"""

from __future__ import annotations

from typing import Any

from exporters.mllm.families.base import Family, export_image_features, fixed_size_spec
from harness.errors import ConfigError


def _check(model: Any) -> None:
    if getattr(model.config.text_config, "sliding_window", None) is not None:
        raise ConfigError("PaliGemma 2 (text_config.sliding_window set, a Gemma 2 text model): not supported yet; "
                          "export a PaliGemma with a Gemma text model")


def _image_processor(model: Any) -> Any:
    from transformers import SiglipImageProcessor

    size = int(model.config.vision_config.image_size)
    return SiglipImageProcessor(size={"height": size, "width": size})


def _tokens(model: Any) -> int:
    vision = model.config.vision_config
    return (int(vision.image_size) // int(vision.patch_size)) ** 2


FAMILY = Family(
    name="paligemma",
    architectures=("PaliGemmaForConditionalGeneration",),
    language_model=lambda model: model.model.language_model,
    lm_head=lambda model: model.lm_head,
    text_config=lambda model: model.config.text_config,
    export_vision=export_image_features,
    image_spec=lambda model, processor: fixed_size_spec(model, processor, "paligemma image processor"),
    tokens_per_image=_tokens,
    hf_image_kwargs=lambda model, pixels: {"pixel_values": pixels},
    check=_check,
    attention="prefix",
    position_offset=1,
    image_processor=_image_processor,
    hf_generate_kwargs=lambda model, ids: {"token_type_ids": ids.new_zeros(ids.shape)},
)
