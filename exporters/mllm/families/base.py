"""What differs between VLM families: where the parts live, the vision graph (G1), its input layout.

Each ``Family`` knows how to find the language model, LM head and token embedding inside a
transformers model, how to export the vision tower + projector/connector as one rank-2
``image_features`` graph, and what the runtime must feed it (the manifest's ``vqa.image``).
Adding a family means adding one ``Family`` value here; nothing else branches on the family.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from harness.errors import ConfigError


@dataclass(frozen=True)
class Family:
    """How to take one VLM architecture apart (all callables take the HF model)."""

    name: str
    architectures: tuple[str, ...]
    language_model: Callable[[Any], nn.Module]
    lm_head: Callable[[Any], nn.Module]
    text_config: Callable[[Any], Any]
    export_vision: Callable[[Any, str, int], None]
    image_spec: Callable[[Any], dict[str, Any]]
    tokens_per_image: Callable[[Any], int]
    hf_image_kwargs: Callable[[Any, torch.Tensor], dict[str, torch.Tensor]]


# ---- Llava ---------------------------------------------------------------------------------


class LlavaVision(nn.Module):
    """G1 for Llava: vision tower -> feature layer -> (drop CLS) -> projector -> [N*T, hidden]."""

    def __init__(self, model: Any) -> None:
        super().__init__()
        self.tower = model.model.vision_tower
        self.projector = model.model.multi_modal_projector
        config = model.config
        layer = config.vision_feature_layer
        if not isinstance(layer, int):
            raise ConfigError(
                f"vision_feature_layer={layer!r}: only a single int layer is supported for export; set one layer"
            )
        self.layer = layer
        self.drop_cls = config.vision_feature_select_strategy == "default"
        # A Python int, not ``features.shape[-1]``: the trace then bakes the text hidden size into
        # the final Reshape, so the graph output is [num_image_tokens, hidden] with a static hidden
        # (a traced shape would leave a symbolic second dim that consumers cannot preallocate).
        self.hidden = int(config.text_config.hidden_size)

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        hidden = self.tower(pixel_values, output_hidden_states=True, return_dict=True).hidden_states[self.layer]
        if self.drop_cls:
            hidden = hidden[:, 1:]
        features = self.projector(hidden)
        return features.reshape(-1, self.hidden)


def _llava_export_vision(model: Any, path: str, opset: int) -> None:
    size = model.config.vision_config.image_size
    example = torch.randn(2, 3, size, size)
    torch.onnx.export(
        LlavaVision(model).eval(),
        (example,),
        path,
        input_names=["pixel_values"],
        output_names=["image_features"],
        dynamic_axes={"pixel_values": {0: "num_images"}, "image_features": {0: "num_image_tokens"}},
        opset_version=opset,
        dynamo=False,
    )
    from exporters.mllm.graphs import pin_output_dims

    pin_output_dims(path, "image_features", {1: int(model.config.text_config.hidden_size)})


def _llava_tokens(model: Any) -> int:
    vision = model.config.vision_config
    patches = (vision.image_size // vision.patch_size) ** 2
    return patches + (0 if model.config.vision_feature_select_strategy == "default" else 1)


def _clip_image_spec(model: Any) -> dict[str, Any]:
    size = int(model.config.vision_config.image_size)
    return {
        "layout": "NCHW",
        "size": [size, size],
        "resize": "bilinear",
        "scale": 1.0 / 255.0,
        "mean": [0.48145466, 0.4578275, 0.40821073],
        "std": [0.26862954, 0.26130258, 0.27577711],
        "pixel_attention_mask": None,
    }


LLAVA = Family(
    name="llava",
    architectures=("LlavaForConditionalGeneration",),
    language_model=lambda model: model.model.language_model,
    lm_head=lambda model: model.lm_head,
    text_config=lambda model: model.config.text_config,
    export_vision=_llava_export_vision,
    image_spec=_clip_image_spec,
    tokens_per_image=_llava_tokens,
    hf_image_kwargs=lambda model, pixels: {"pixel_values": pixels},
)


# ---- Idefics3 / SmolVLM ------------------------------------------------------------------------


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


def _idefics3_export_vision(model: Any, path: str, opset: int) -> None:
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


def _idefics3_tokens(model: Any) -> int:
    vision = model.config.vision_config
    return (vision.image_size // vision.patch_size) ** 2 // (model.config.scale_factor**2)


def _idefics3_image_spec(model: Any) -> dict[str, Any]:
    size = int(model.config.vision_config.image_size)
    return {
        "layout": "1TCHW",
        "size": [size, size],
        "resize": "bilinear",
        "scale": 1.0 / 255.0,
        "mean": [0.5, 0.5, 0.5],
        "std": [0.5, 0.5, 0.5],
        "pixel_attention_mask": "pixel_attention_mask",
    }


IDEFICS3 = Family(
    name="idefics3",
    architectures=("Idefics3ForConditionalGeneration", "SmolVLMForConditionalGeneration"),
    language_model=lambda model: model.model.text_model,
    lm_head=lambda model: model.lm_head,
    text_config=lambda model: model.config.text_config,
    export_vision=_idefics3_export_vision,
    image_spec=_idefics3_image_spec,
    tokens_per_image=_idefics3_tokens,
    hf_image_kwargs=lambda model, pixels: {
        "pixel_values": pixels,
        "pixel_attention_mask": torch.ones(pixels.shape[:2] + pixels.shape[3:], dtype=torch.bool),
    },
)

FAMILIES: tuple[Family, ...] = (LLAVA, IDEFICS3)


def family_of(model: Any) -> Family:
    """The family of a transformers model, by class name; unsupported ones name the supported list."""
    architecture = type(model).__name__
    for family in FAMILIES:
        if architecture in family.architectures:
            return family
    supported = ", ".join(arch for family in FAMILIES for arch in family.architectures)
    raise ConfigError(f"architecture {architecture!r} is not supported by the MLLM exporter (supported: {supported})")
