"""PaliGemma (``PaliGemmaForConditionalGeneration``): SigLIP tower + linear projector, one
feature row per patch, Gemma text model (PaliGemma) or Gemma 2 (PaliGemma 2).

The prompt (image + text) is a prefix that attends to itself bidirectionally; generated tokens
attend causally (transformers' ``token_type_ids`` 0 / 1): ``attention = "prefix"``. Positions
count from 1 in transformers; the decoder graph adds the 1 (``position_offset``), so the
runtime's positions stay 0-based.

PaliGemma 2's sliding layers see ``(causal and in the window) or the same prefix`` (transformers'
``create_sliding_window_causal_mask`` with ``block_sequence_ids``): the window never cuts the
bidirectional prefix, unlike Gemma 3's ``group_masks`` (window over both). So the family exports
its own decoder (``PrefixDecoder``), which also applies Gemma 2's ``final_logit_softcapping``
as ``PaliGemmaForConditionalGeneration`` does.
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


def prefix_masks(attention_mask: torch.Tensor, groups: torch.Tensor, query_length: Any, text_config: Any,
                 dtype: torch.dtype) -> Any:
    """``group_masks`` with PaliGemma's sliding rule: a sliding layer's key j is kept when the full
    mask keeps it and it is in the window or in the query's group (``full and (window or same)``
    equals transformers' ``(causal and window) or same``, padding excluded)."""
    masks = group_masks(attention_mask, groups, query_length, text_config, dtype)
    if not isinstance(masks, dict):
        return masks
    total = attention_mask.shape[1]
    keys = torch.arange(total, device=groups.device)
    queries = torch.arange(query_length, device=groups.device) + (total - query_length)
    query_groups = groups.index_select(1, queries)
    same = (query_groups[:, :, None] == groups[:, None, :]) & (query_groups[:, :, None] >= 0)
    window = keys[None, :] > queries[:, None] - int(text_config.sliding_window)
    full = masks["full_attention"]
    keep = (window[None] | same)[:, None]
    return {"full_attention": full, "sliding_attention": torch.where(keep, full, torch.full((), torch.finfo(dtype).min,
                                                                                             dtype=dtype))}


class PrefixDecoder(DecoderWithCache):
    """G3 of PaliGemma: ``DecoderWithCache`` with ``prefix_masks`` and the final logit soft cap
    (``cap * tanh(logits / cap)``, Gemma 2's ``final_logit_softcapping``; none for Gemma)."""

    def __init__(self, model: Any) -> None:
        text = model.config.text_config
        super().__init__(model.model.language_model, model.lm_head, text, int(text.num_hidden_layers), "prefix", 1)
        cap = getattr(text, "final_logit_softcapping", None)
        self.cap = float(cap) if cap is not None else None

    def forward(self, inputs_embeds: torch.Tensor, attention_mask: torch.Tensor, position_ids: torch.Tensor,
                *rest: torch.Tensor) -> tuple[torch.Tensor, ...]:
        from transformers import DynamicCache

        cache = DynamicCache()  # full layers: the window is in the mask, presents keep the whole sequence
        for layer in range(self.num_layers):
            cache.update(rest[2 * layer], rest[2 * layer + 1], layer)
        masks = prefix_masks(attention_mask, rest[2 * self.num_layers], inputs_embeds.shape[1], self.text_config,
                             inputs_embeds.dtype)
        hidden = self.language_model(inputs_embeds=inputs_embeds, attention_mask=masks,
                                     position_ids=position_ids + self.position_offset, cache=cache,
                                     use_cache=True).last_hidden_state
        logits = self.lm_head(hidden).float()
        if self.cap is not None:
            logits = torch.tanh(logits / self.cap) * self.cap
        presents: list[torch.Tensor] = []
        for layer in range(self.num_layers):
            entry: Any = cache.layers[layer]
            presents.extend((entry.keys, entry.values))
        return (logits, *presents)


def _export_decoder(model: Any, path: str, opset: int) -> None:
    text = model.config.text_config
    kv_heads = int(getattr(text, "num_key_value_heads", None) or text.num_attention_heads)
    head_dim = int(getattr(text, "head_dim", None) or text.hidden_size // text.num_attention_heads)
    export_decoder(PrefixDecoder(model).eval(), int(text.hidden_size), kv_heads, head_dim, path, opset)


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
