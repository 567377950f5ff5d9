"""Llava (``LlavaForConditionalGeneration``) with a CLIP or SigLIP vision tower.

The token count follows the tower: CLIP prepends a CLS token, SigLIP does not, and the
``default`` feature strategy drops the first token either way (as transformers does), so
``T = patches + cls - dropped``. Pixtral towers (variable patch grid per image, ``image_sizes``)
are refused: the contract's vision graph has one static image size.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from exporters.mllm.families.base import Family, export_vision_graph, normalisation
from harness.errors import ConfigError

TOWERS_WITH_CLS = {"clip_vision_model": True, "siglip_vision_model": False}


class LlavaVision(nn.Module):
    """G1 for Llava: vision tower -> feature layer(s) -> (drop first token) -> projector -> [N*T, hidden].
    Several layers are concatenated along the features, as transformers does."""

    def __init__(self, model: Any) -> None:
        super().__init__()
        self.tower = model.model.vision_tower
        self.projector = model.model.multi_modal_projector
        layer = model.config.vision_feature_layer
        self.layers = [int(layer)] if isinstance(layer, int) else [int(item) for item in layer]
        self.drop_first = model.config.vision_feature_select_strategy == "default"
        # A Python int, not ``features.shape[-1]``: the trace then bakes the hidden size into the Reshape.
        self.hidden = int(model.config.text_config.hidden_size)

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        states = self.tower(pixel_values, output_hidden_states=True, return_dict=True).hidden_states
        selected = [states[layer][:, 1:] if self.drop_first else states[layer] for layer in self.layers]
        hidden = selected[0] if len(selected) == 1 else torch.cat(selected, dim=-1)
        return self.projector(hidden).reshape(-1, self.hidden)


def _check(model: Any) -> None:
    tower = str(model.config.vision_config.model_type)
    if tower == "pixtral":
        raise ConfigError(
            "Llava with a Pixtral tower: not supported (its vision graph needs image_sizes and a per-image patch grid, "
            "the contract's vision graph has one static size); export a Llava with a CLIP or SigLIP tower"
        )
    if tower not in TOWERS_WITH_CLS:
        raise ConfigError(f"Llava vision_config.model_type {tower!r}: not supported (supported towers: "
                          f"{', '.join(TOWERS_WITH_CLS)})")
    layer = model.config.vision_feature_layer
    if not (isinstance(layer, int) or isinstance(layer, (list, tuple)) and layer and all(isinstance(i, int) for i in layer)):
        raise ConfigError(f"vision_feature_layer={layer!r}: expected an int or a list of ints (as transformers reads it)")


def _export_vision(model: Any, path: str, opset: int) -> None:
    size = model.config.vision_config.image_size
    export_vision_graph(LlavaVision(model), (torch.randn(2, 3, size, size),), path, opset, ["pixel_values"],
                        {"pixel_values": 0}, model.config.text_config.hidden_size)


def _tokens(model: Any) -> int:
    vision = model.config.vision_config
    patches = (vision.image_size // vision.patch_size) ** 2
    cls = 1 if TOWERS_WITH_CLS[str(vision.model_type)] else 0
    return patches + cls - (1 if model.config.vision_feature_select_strategy == "default" else 0)


def _image_processor(model: Any) -> Any:
    """The processor a Llava checkpoint ships for its tower: CLIP shortest-edge resize + centre
    crop, SigLIP a fixed-size resize; mean/std are the processor class's own defaults."""
    from transformers import CLIPImageProcessor, SiglipImageProcessor

    size = int(model.config.vision_config.image_size)
    if TOWERS_WITH_CLS[str(model.config.vision_config.model_type)]:
        return CLIPImageProcessor(size={"shortest_edge": size}, crop_size={"height": size, "width": size})
    return SiglipImageProcessor(size={"height": size, "width": size})


def _image_spec(model: Any, processor: Any) -> dict[str, Any]:
    size = int(model.config.vision_config.image_size)
    return {"layout": "NCHW", "size": [size, size], "resize": "bilinear",
            **normalisation(processor, "llava image processor"), "pixel_attention_mask": None}


FAMILY = Family(
    name="llava",
    architectures=("LlavaForConditionalGeneration",),
    language_model=lambda model: model.model.language_model,
    lm_head=lambda model: model.lm_head,
    text_config=lambda model: model.config.text_config,
    export_vision=_export_vision,
    image_spec=_image_spec,
    tokens_per_image=_tokens,
    hf_image_kwargs=lambda model, pixels: {"pixel_values": pixels},
    check=_check,
    image_processor=_image_processor,
)
