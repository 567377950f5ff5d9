"""The ``Family`` value: what differs between VLM architectures, as data plus small callables.

A family knows where the language model, LM head and token embedding live inside a
transformers model, how to export the vision tower + projector as one rank-2 ``image_features``
graph, and what the runtime must feed it (the manifest's ``vqa.image``). Everything after
``hf_image_kwargs`` is optional with a default that fits a plain causal decoder (Llava,
Idefics3), so a family that needs more (its own decoder graph, extra attention rules, position
rules, manifest fields) sets a field and no other module branches on the family name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

ATTENTION_RULES = ("causal", "image_blocks", "prefix")


def _no_kwargs(model: Any, ids: torch.Tensor) -> dict[str, torch.Tensor]:
    return {}


def _no_fields(model: Any) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class Family:
    """How to take one VLM architecture apart (all callables take the HF model first).

    Optional fields:
    - ``check(model)``: refuse a variant of the architecture the family cannot export, in one
      line naming what is missing (e.g. Llava with a Pixtral tower); it reads only
      ``model.config``, so the CLI runs it before loading the weights.
    - ``attention``: the decoder's attention rule beyond causal (``docs/vlm-contract.md``):
      ``image_blocks`` (each contiguous run of image tokens attends to itself bidirectionally,
      Gemma 3) or ``prefix`` (the whole prompt attends bidirectionally, PaliGemma); any rule
      other than ``causal`` adds the decoder input ``attention_groups``.
    - ``position_offset``: added to the 0-based ``position_ids`` inside the decoder graph
      (PaliGemma counts from 1), so the runtime and onnxruntime-genai stay 0-based.
    - ``image_processor``: the transformers image processor of the family built from the model
      config, used when the source folder has no ``preprocessor_config.json``.
    - ``hf_generate_kwargs(model, input_ids)``: extra kwargs transformers' ``generate`` needs
      for parity (e.g. ``token_type_ids``).
    - ``vqa_fields(model)``: extra fields for the manifest's ``vqa`` block (must be in its schema).
    - ``export_decoder(model, path, opset)``: a family-specific G3; default is the shared one.
    - ``genai_type``: the onnxruntime-genai ``model.type`` written to ``genai_config.json``.
    - ``genai_fields(model)``: more of that type's ``genai_config.json`` ``model`` section, merged
      into it key by key (Qwen2.5-VL: vision inputs, merge size, 3-D position ids).
    - ``hf_processor_outputs``: outputs of transformers' image processor that ``generate`` takes
      besides ``pixel_values`` (Qwen2-VL: ``image_grid_thw``), passed through in the parity check.
    - ``hf_processor(model, export_dir, spec) -> (processor, placeholder)``: transformers' full
      processor over the export's files and the image placeholder its text takes; export parity
      of a manifest with per-image blocks (``vqa.image_block: family``) runs it.
    """

    name: str
    architectures: tuple[str, ...]
    language_model: Callable[[Any], nn.Module]
    lm_head: Callable[[Any], nn.Module]
    text_config: Callable[[Any], Any]
    export_vision: Callable[[Any, str, int], None]
    image_spec: Callable[[Any, Any], dict[str, Any]]  # (model, image processor) -> vqa.image
    tokens_per_image: Callable[[Any], int]
    hf_image_kwargs: Callable[[Any, torch.Tensor], dict[str, torch.Tensor]]
    check: Callable[[Any], None] = lambda model: None  # one-line ConfigError for a variant it cannot export
    attention: str = "causal"
    position_offset: int = 0
    image_processor: Callable[[Any], Any] | None = None
    hf_generate_kwargs: Callable[[Any, torch.Tensor], dict[str, torch.Tensor]] = _no_kwargs
    vqa_fields: Callable[[Any], dict[str, Any]] = _no_fields
    export_decoder: Callable[[Any, str, int], None] | None = None
    genai_type: str = "gemma3"
    genai_fields: Callable[[Any], dict[str, Any]] = _no_fields
    hf_processor_outputs: tuple[str, ...] = ()
    hf_processor: Callable[[Any, Any, Any], tuple[Any, str]] | None = None

    def __post_init__(self) -> None:
        if self.attention not in ATTENTION_RULES:
            raise ValueError(f"family {self.name}: attention {self.attention!r} not in {ATTENTION_RULES}")


def export_vision_graph(module: nn.Module, example: tuple[torch.Tensor, ...], path: str, opset: int,
                        input_names: list[str], batch_axes: dict[str, int], hidden: int) -> None:
    """Trace a vision module (TorchScript exporter) with dynamic image batch axes; the output is
    pinned to ``[num_image_tokens, hidden]`` (a static hidden size consumers can preallocate)."""
    from exporters.mllm.graphs import pin_output_dims

    axes: dict[str, dict[int, str]] = {name: {axis: "num_images"} for name, axis in batch_axes.items()}
    axes["image_features"] = {0: "num_image_tokens"}
    torch.onnx.export(module.eval(), example, path, input_names=input_names, output_names=["image_features"],
                      dynamic_axes=axes, opset_version=opset, dynamo=False)
    pin_output_dims(path, "image_features", {1: int(hidden)})


def normalisation(processor: Any, where: str) -> dict[str, Any]:
    """``scale``/``mean``/``std`` of ``vqa.image`` from a transformers image processor (never hard-coded)."""
    from harness.errors import ConfigError

    mean, std = getattr(processor, "image_mean", None), getattr(processor, "image_std", None)
    if mean is None or std is None:
        raise ConfigError(f"{where}: image_mean/image_std: missing; write them into preprocessor_config.json")
    scale = float(processor.rescale_factor) if getattr(processor, "do_rescale", True) else 1.0
    if not getattr(processor, "do_normalize", True):
        mean, std = [0.0, 0.0, 0.0], [1.0, 1.0, 1.0]
    return {"scale": scale, "mean": [float(v) for v in mean], "std": [float(v) for v in std]}


class ImageFeatures(nn.Module):
    """G1 for families whose ``model.model.get_image_features`` returns every image's projected
    tokens as ``pooler_output [N, T, hidden]`` (Gemma 3, PaliGemma): flattened to rank 2."""

    def __init__(self, model: Any) -> None:
        super().__init__()
        self.inner = model.model
        self.hidden = int(model.config.text_config.hidden_size)  # a Python int: the Reshape keeps a static hidden

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        features = self.inner.get_image_features(pixel_values=pixel_values, return_dict=True).pooler_output
        return features.reshape(-1, self.hidden)


def export_image_features(model: Any, path: str, opset: int) -> None:
    """``ImageFeatures`` of a fixed-size vision tower, traced with two images (batch stays dynamic)."""
    size = int(model.config.vision_config.image_size)
    export_vision_graph(ImageFeatures(model), (torch.randn(2, 3, size, size),), path, opset, ["pixel_values"],
                        {"pixel_values": 0}, model.config.text_config.hidden_size)


def fixed_size_spec(model: Any, processor: Any, where: str) -> dict[str, Any]:
    """``vqa.image`` for an NCHW graph of the vision tower's square size (normalisation from the processor)."""
    size = int(model.config.vision_config.image_size)
    return {"layout": "NCHW", "size": [size, size], "resize": "bilinear", **normalisation(processor, where),
            "pixel_attention_mask": None}
