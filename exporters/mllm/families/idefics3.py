"""Idefics3 and SmolVLM (same graph): SigLIP-style encoder + pixel-shuffle connector.

The vision graph takes one batch row whose tiles are the images (``[1, T, 3, S, S]`` + a bool
mask); it comes from torch's dynamo exporter, which the TorchScript exporter cannot replace here.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from exporters.mllm.families.base import Family, normalisation


class Idefics3Vision(nn.Module):
    """G1 for Idefics3: tiles [1,T,3,S,S] + bool mask -> encoder -> pixel-shuffle connector -> rank 2."""

    def __init__(self, model: Any) -> None:
        super().__init__()
        self.inner = model.model

    def forward(self, pixel_values: torch.Tensor, pixel_attention_mask: torch.Tensor) -> torch.Tensor:
        features = self.inner.get_image_features(
            pixel_values=pixel_values, pixel_attention_mask=pixel_attention_mask, return_dict=True
        ).pooler_output
        return features[0]


def _export_vision(model: Any, path: str, opset: int) -> None:
    size = model.config.vision_config.image_size
    pixels = torch.randn(1, 2, 3, size, size)
    mask = torch.ones(1, 2, size, size, dtype=torch.bool)
    tiles = torch.export.Dim("num_images", min=1, max=64)
    program = torch.onnx.export(
        Idefics3Vision(model).eval(),
        (pixels, mask),
        input_names=["pixel_values", "pixel_attention_mask"],
        output_names=["image_features"],
        dynamic_shapes={"pixel_values": {1: tiles}, "pixel_attention_mask": {1: tiles}},
        opset_version=max(opset, 18),
        dynamo=True,
        external_data=False,
    )
    if program is None:
        raise RuntimeError("torch.onnx.export(dynamo=True) returned no program for the Idefics3 vision graph")
    program.save(path, external_data=False)
    from exporters.mllm.graphs import pin_output_dims

    pin_output_dims(path, "image_features", {0: "num_image_tokens"})


def _tokens(model: Any) -> int:
    vision = model.config.vision_config
    return (vision.image_size // vision.patch_size) ** 2 // (model.config.scale_factor**2)


def _image_processor(model: Any) -> Any:
    """Idefics3's processor with one tile per image (no splitting), the tile being the encoder's size."""
    from transformers import Idefics3ImageProcessor

    size = int(model.config.vision_config.image_size)
    return Idefics3ImageProcessor(do_image_splitting=False, size={"longest_edge": size},
                                  max_image_size={"longest_edge": size})


def _image_spec(model: Any, processor: Any) -> dict[str, Any]:
    size = int(model.config.vision_config.image_size)
    return {"layout": "1TCHW", "size": [size, size], "resize": "bilinear",
            **normalisation(processor, "idefics3 image processor"), "pixel_attention_mask": "pixel_attention_mask"}


FAMILY = Family(
    name="idefics3",
    architectures=("Idefics3ForConditionalGeneration", "SmolVLMForConditionalGeneration"),
    language_model=lambda model: model.model.text_model,
    lm_head=lambda model: model.lm_head,
    text_config=lambda model: model.config.text_config,
    export_vision=_export_vision,
    image_spec=_image_spec,
    tokens_per_image=_tokens,
    hf_image_kwargs=lambda model, pixels: {
        "pixel_values": pixels,
        "pixel_attention_mask": torch.ones(pixels.shape[:2] + pixels.shape[3:], dtype=torch.bool),
    },
    image_processor=_image_processor,
)
