"""Idefics3 and SmolVLM (same graph): SigLIP-style encoder + pixel-shuffle connector.

The vision graph takes one batch row whose tiles are the images' tiles (``[1, T, 3, S, S]`` + a
bool mask, any number of tiles); it comes from torch's dynamo exporter, which the TorchScript
exporter cannot replace here. A source checkpoint's processor (``--image-processor``, or the
model folder's) is exported as it is, image splitting included (real checkpoints split); the
default, for a model without one, keeps one tile per image. Parity of a splitting export runs
transformers' own ``Idefics3Processor`` / ``SmolVLMProcessor`` (``Family.hf_processor``).
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


def _hf_processor(model: Any, export_dir: Any, spec: Any) -> tuple[Any, str]:
    """transformers' processor of the architecture over the export's tokenizer.json and
    preprocessor_config.json (``image_seq_len`` = tokens per tile), and its image placeholder."""
    from transformers import Idefics3Processor, SmolVLMProcessor

    from exporters.mllm.parity import hf_image_processor, hf_tokenizer, images_only

    settings = {"image_processor": hf_image_processor(export_dir), "tokenizer": hf_tokenizer(export_dir),
                "image_seq_len": int(spec.tokens_per_image)}
    if type(model).__name__.startswith("SmolVLM"):
        return images_only(SmolVLMProcessor)(video_processor=None, **settings), "<image>"
    return Idefics3Processor(**settings), "<image>"


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
    hf_image_kwargs=lambda model, pixels: {"pixel_values": pixels},
    hf_processor_outputs=("pixel_attention_mask",),  # the processor's own mask (all True: tiles are full size)
    image_processor=_image_processor,
    hf_processor=_hf_processor,
)
