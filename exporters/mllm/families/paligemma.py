"""PaliGemma (``PaliGemmaForConditionalGeneration``): SigLIP tower + linear projector, one
feature row per patch, Gemma text model (PaliGemma) or Gemma 2 (PaliGemma 2).

The prompt (image + text) is a prefix that attends to itself bidirectionally; generated tokens
attend causally (transformers' ``token_type_ids`` 0 / 1): ``attention = "prefix"``. Positions
count from 1 in transformers; the decoder graph adds the 1 (``position_offset``), so the
runtime's positions stay 0-based.

PaliGemma 2's sliding layers see ``(causal and in the window) or the same prefix`` (transformers'
``create_sliding_window_causal_mask`` with ``block_sequence_ids``): the window never cuts the
bidirectional prefix, unlike Gemma 3's (window over both): ``PrefixDecoder`` asks
``group_masks`` for that rule and applies Gemma 2's ``final_logit_softcapping`` as
``PaliGemmaForConditionalGeneration`` does.
"""

from __future__ import annotations

from typing import Any

import torch

from exporters.mllm.families.base import Family, export_image_features, fixed_size_spec
from exporters.mllm.graphs import DecoderWithCache, export_decoder, group_masks


def _image_processor(model: Any) -> Any:
    from transformers import SiglipImageProcessor

    size = int(model.config.vision_config.image_size)
    return SiglipImageProcessor(size={"height": size, "width": size})


def _tokens(model: Any) -> int:
    vision = model.config.vision_config
    return (int(vision.image_size) // int(vision.patch_size)) ** 2


class PrefixDecoder(DecoderWithCache):
    """G3 of PaliGemma: the shared decoder with positions from 1, PaliGemma 2's sliding rule (the
    window never cuts the prefix) and Gemma 2's ``final_logit_softcapping`` (none for Gemma)."""

    def __init__(self, model: Any) -> None:
        text = model.config.text_config
        super().__init__(model.model.language_model, model.lm_head, text, int(text.num_hidden_layers), "prefix", 1,
                         getattr(text, "final_logit_softcapping", None))

    def masks(self, attention_mask: torch.Tensor, groups: torch.Tensor, query_length: Any, dtype: torch.dtype) -> Any:
        return group_masks(attention_mask, groups, query_length, self.text_config, dtype, window_cuts_groups=False)


def _export_decoder(model: Any, path: str, opset: int) -> None:
    export_decoder(PrefixDecoder(model).eval(), path, opset)


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
    attention="prefix",
    position_offset=1,
    image_processor=_image_processor,
    hf_generate_kwargs=lambda model, ids: {"token_type_ids": ids.new_zeros(ids.shape)},
    export_decoder=_export_decoder,
)
