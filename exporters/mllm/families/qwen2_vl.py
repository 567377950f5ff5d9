"""Qwen2-VL and Qwen2.5-VL: dynamic-resolution patches, a patch merger, 3-D mRoPE positions.

One vision graph serves both, with onnxruntime-genai's ``qwen2_5_vl`` inputs: ``pixel_values
[patches, C*tp*p*p]`` (the processor's rows of any number of images of any sizes) and
``image_grid_thw [images, 3]``. Everything transformers derives from the grid with Python loops
(``cu_seqlens``, the rotary (row, column) of each patch, Qwen2.5-VL's ``window_index``) is
computed here per patch with element-wise integer ops over ``arange(patches)`` (``grid_indices``),
so the graph has no data-dependent control flow. Attention is masked to patches of the same
image frame, which is transformers' per-chunk attention over ``cu_seqlens``; Qwen2.5-VL's window
layers attend within a window in the processor's patch order, which equals transformers'
permute-attend-unpermute (the permutation moves whole merge blocks, and attention inside a
window does not depend on order). The decoder takes ``position_ids [3, batch, seq]``.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from exporters.mllm.families.base import Family, normalisation
from exporters.mllm.graphs import DecoderWithCache, export_decoder, head_dim, pin_output_dims
from harness.errors import ConfigError

VISION_INPUTS = ["pixel_values", "image_grid_thw"]
MASKED = -1e9  # exp underflows to exactly 0 as transformers' per-chunk attention; finite, so INT8 calibration histograms stay finite


def grid_indices(grid: torch.Tensor, patches: torch.Tensor, merge: int, side: int) -> tuple[torch.Tensor, ...]:
    """Per patch of the processor's order: (row, column) in its image ``[P, 2]``, its frame number
    over all images ``[P]`` and its window number within the frame ``[P]`` (``side`` merged tokens
    per window side; 0 everywhere when ``side`` is 0). ``patches`` is ``pixel_values.shape[0]``."""
    index = torch.arange(patches, dtype=torch.int64)
    frames, height, width = grid[:, 0], grid[:, 1], grid[:, 2]
    sizes = frames * height * width
    ends = torch.cumsum(sizes, dim=0)
    image = (index[:, None] >= ends[None, :]).sum(dim=1)  # which image each patch belongs to
    local = index - (ends - sizes)[image]
    plane = (height * width)[image]
    frame = (torch.cumsum(frames, dim=0) - frames)[image] + local // plane
    within = local % plane
    columns = (width // merge)[image]  # merged tokens per row
    block, inner = within // (merge * merge), within % (merge * merge)
    block_row, block_col = block // columns, block % columns
    positions = torch.stack([block_row * merge + inner // merge, block_col * merge + inner % merge], dim=-1)
    if not side:
        return positions, frame, torch.zeros_like(frame)
    across = (columns + side - 1) // side
    return positions, frame, (block_row // side) * across + block_col // side


def _mask(same: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Additive ``[1, 1, N, N]`` mask: 0 where ``same``, the dtype's minimum elsewhere."""
    return torch.where(same, torch.zeros((), dtype=dtype), torch.full((), MASKED, dtype=dtype))[None, None]


def _attention(attn: nn.Module, hidden: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """transformers' vision attention (eager: float32 softmax) over one masked sequence."""
    from transformers.models.qwen2_vl.modeling_qwen2_vl import apply_rotary_pos_emb_vision

    length = hidden.shape[0]
    query, key, value = attn.qkv(hidden).reshape(length, 3, attn.num_heads, -1).permute(1, 0, 2, 3).unbind(0)
    query, key = apply_rotary_pos_emb_vision(query, key, cos, sin)
    query, key, value = (t.transpose(0, 1).unsqueeze(0) for t in (query, key, value))
    scores = torch.matmul(query, key.transpose(2, 3)) * attn.scaling + bias
    weights = torch.softmax(scores, dim=-1, dtype=torch.float32).to(query.dtype)
    out = torch.matmul(weights, value).transpose(1, 2).reshape(length, -1)
    return attn.proj(out)


class QwenVision(nn.Module):
    """G1: patch embedding -> blocks (full or window attention per layer) -> patch merger -> rank 2."""

    def __init__(self, model: Any) -> None:
        super().__init__()
        self.visual = model.model.visual
        vision = model.config.vision_config
        self.merge = int(vision.spatial_merge_size)
        self.side = int(vision.window_size) // self.merge // int(vision.patch_size) if _windowed(model) else 0
        self.full_layers = set(getattr(vision, "fullatt_block_indexes", None) or range(len(self.visual.blocks)))

    def forward(self, pixel_values: torch.Tensor, image_grid_thw: torch.Tensor) -> torch.Tensor:
        positions, frame, window = grid_indices(image_grid_thw, pixel_values.shape[0], self.merge, self.side)
        hidden = self.visual.patch_embed(pixel_values)
        cos, sin = self.visual.rotary_pos_emb(hidden, positions)
        same_frame = frame[:, None] == frame[None, :]
        full = _mask(same_frame, hidden.dtype)
        windowed = _mask(same_frame & (window[:, None] == window[None, :]), hidden.dtype) if self.side else full
        for index, block in enumerate(self.visual.blocks):
            bias = full if not self.side or index in self.full_layers else windowed
            hidden = hidden + _attention(block.attn, block.norm1(hidden), cos, sin, bias)
            hidden = hidden + block.mlp(block.norm2(hidden))
        return self.visual.merger(hidden)


def _vision_config(model: Any) -> Any:
    return model.config.vision_config


def _windowed(model: Any) -> bool:
    return type(model).__name__.startswith("Qwen2_5_VL")


def _export_vision(model: Any, path: str, opset: int) -> None:
    """Traced on two images of different grids (4x6 and 4x4 merge blocks), so no axis is a constant."""
    vision = _vision_config(model)
    merge, patch = int(vision.spatial_merge_size), int(vision.patch_size)
    grid = torch.tensor([[1, 4 * merge, 6 * merge], [1, 4 * merge, 4 * merge]], dtype=torch.int64)
    width = int(vision.in_channels) * int(vision.temporal_patch_size) * patch * patch
    pixels = torch.randn(int(grid.prod(dim=1).sum()), width)
    axes = {"pixel_values": {0: "num_patches"}, "image_grid_thw": {0: "num_images"},
            "image_features": {0: "num_image_tokens"}}
    torch.onnx.export(QwenVision(model).eval(), (pixels, grid), path, input_names=VISION_INPUTS,
                      output_names=["image_features"], dynamic_axes=axes, opset_version=opset, dynamo=False)
    pin_output_dims(path, "image_features", {1: int(model.config.text_config.hidden_size)})


def _export_decoder(model: Any, path: str, opset: int) -> None:
    """The shared G3 with ``position_ids [3, batch, seq]`` (the text model reads them as mRoPE)."""
    text = model.config.text_config
    decoder = DecoderWithCache(model.model.language_model, model.lm_head, text, int(text.num_hidden_layers))
    export_decoder(decoder.eval(), path, opset, position_rank=3)


def _check(model: Any) -> None:
    text = model.config.text_config
    rope = dict(getattr(text, "rope_parameters", None) or {})
    if rope.get("rope_type", "default") not in ("default", "mrope"):
        raise ConfigError(f"text_config.rope_parameters.rope_type {rope.get('rope_type')!r}: only the default mRoPE is "
                          "exported; use a model with rope_type default")
    dim = head_dim(text)
    section = rope.get("mrope_section") or [16, 24, 24]
    if 2 * sum(section) != dim:
        raise ConfigError(f"text_config.rope_parameters.mrope_section {section}: sums to {sum(section)}, expected "
                          f"head_dim / 2 = {dim // 2}; fix the config")


def _image_processor(model: Any) -> Any:
    """``Qwen2VLImageProcessor`` with the vision tower's patch, temporal patch and merge sizes
    (transformers' default pixel bounds)."""
    from transformers import Qwen2VLImageProcessor

    vision = _vision_config(model)
    return Qwen2VLImageProcessor(patch_size=int(vision.patch_size), temporal_patch_size=int(vision.temporal_patch_size),
                                 merge_size=int(vision.spatial_merge_size))


def _image_spec(model: Any, processor: Any) -> dict[str, Any]:
    vision = _vision_config(model)
    for name, expected in (("patch_size", vision.patch_size), ("merge_size", vision.spatial_merge_size),
                           ("temporal_patch_size", vision.temporal_patch_size)):
        if int(getattr(processor, name)) != int(expected):
            raise ConfigError(f"preprocessor_config.json: {name}: {getattr(processor, name)} but the vision tower has "
                              f"{expected}; save the model's own processor")
    # the nominal size of images the harness draws itself (synthetic data): the smallest square the
    # processor keeps as it is; every real image is sized by the processor (smart_resize)
    factor = int(processor.patch_size) * int(processor.merge_size)
    side = math.ceil(math.sqrt(int(processor.size["shortest_edge"])) / factor) * factor
    return {"layout": "patches", "size": [side, side], **normalisation(processor, "qwen2-vl image processor"),
            "pixel_attention_mask": None}


def _genai_fields(model: Any) -> dict[str, Any]:
    """onnxruntime-genai's ``qwen2_5_vl`` names (checked against its config parser): the vision
    session's ``image_grid_thw``, the vision constants its position rule reads, and the tokens
    it looks for (``vision_start_token_id`` before each image's tokens)."""
    vision = _vision_config(model)
    return {
        "vision_start_token_id": int(model.config.vision_start_token_id),
        "video_token_id": int(model.config.video_token_id),
        "vision": {
            "inputs": {"image_grid_thw": "image_grid_thw"},
            "spatial_merge_size": int(vision.spatial_merge_size),
            "patch_size": int(vision.patch_size),
            "tokens_per_second": float(getattr(vision, "tokens_per_second", 2) or 2),
            **({"window_size": int(vision.window_size)} if _windowed(model) else {}),
        },
    }


def _hf_processor(model: Any, export_dir: Any, spec: Any) -> tuple[Any, str]:
    """transformers' ``Qwen2VLProcessor`` over the export's files and the text its chat template
    writes per image (parity of ``vqa.image_block: family`` exports, two images per prompt too)."""
    from transformers import Qwen2VLProcessor

    from exporters.mllm.parity import hf_image_processor, hf_tokenizer, images_only

    processor = images_only(Qwen2VLProcessor)(image_processor=hf_image_processor(export_dir),
                                              tokenizer=hf_tokenizer(export_dir), video_processor=None)
    return processor, "<|vision_start|><|image_pad|><|vision_end|>"


FAMILY = Family(
    name="qwen2_vl",
    architectures=("Qwen2VLForConditionalGeneration", "Qwen2_5_VLForConditionalGeneration"),
    language_model=lambda model: model.model.language_model,
    lm_head=lambda model: model.lm_head,
    text_config=lambda model: model.config.text_config,
    export_vision=_export_vision,
    image_spec=_image_spec,
    tokens_per_image=lambda model: 1,  # the least an image gets (one merge block); each image counts its grid
    hf_image_kwargs=lambda model, pixels: {"pixel_values": pixels},
    hf_generate_kwargs=lambda model, ids: {"mm_token_type_ids": (ids == model.config.image_token_id).int()},
    hf_processor_outputs=("image_grid_thw",),
    check=_check,
    image_processor=_image_processor,
    export_decoder=_export_decoder,
    genai_type="qwen2_5_vl",
    genai_fields=_genai_fields,
    hf_processor=_hf_processor,
)
