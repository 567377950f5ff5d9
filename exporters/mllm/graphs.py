"""Torch modules that become the embedding (G2) and decoder (G3) graphs of docs/vlm-contract.md.

The vision graph (G1) is family-specific and lives in ``families/<family>.py``; these two are shared:
any decoder-only language model of transformers that accepts ``inputs_embeds``, ``attention_mask``,
``position_ids`` and a ``cache`` fits ``DecoderWithCache``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn


class MergedEmbedding(nn.Module):
    """G2: ``(input_ids [B,S] int64, image_features [N,H]) -> inputs_embeds [B,S,H]``.

    Text positions take ``Embed(id)``; the k-th image-token position in row-major order takes
    ``image_features[k]`` (exactly HF ``masked_scatter``). A zero row is appended to the
    features so that a graph fed 0 rows (text-only prompts) still gathers in bounds.
    """

    def __init__(self, embed_tokens: nn.Embedding, image_token_id: int) -> None:
        super().__init__()
        self.embed_tokens = embed_tokens
        self.image_token_id = int(image_token_id)

    def forward(self, input_ids: torch.Tensor, image_features: torch.Tensor) -> torch.Tensor:
        is_image = input_ids == self.image_token_id
        text_ids = torch.where(is_image, torch.zeros_like(input_ids), input_ids)
        embeds = self.embed_tokens(text_ids)
        flat = is_image.reshape(-1)
        rank = torch.cumsum(flat.to(torch.int64), dim=0) - 1
        padded = torch.cat([image_features.to(embeds.dtype), embeds.new_zeros((1, embeds.shape[-1]))], dim=0)
        index = torch.where(flat, rank, torch.zeros_like(rank))
        gathered = padded[index].reshape(embeds.shape)
        return torch.where(is_image.unsqueeze(-1), gathered, embeds)


class PlainEmbedding(nn.Module):
    """G2' (transformers.js layout): ``input_ids -> inputs_embeds`` with no merge."""

    def __init__(self, embed_tokens: nn.Embedding) -> None:
        super().__init__()
        self.embed_tokens = embed_tokens

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.embed_tokens(input_ids)


def group_masks(attention_mask: torch.Tensor, groups: torch.Tensor, query_length: Any, text_config: Any,
                dtype: torch.dtype, window_cuts_groups: bool = True) -> Any:
    """Additive 4-D masks ``[B, 1, S, T]`` for the ``attention_groups`` rule (docs/vlm-contract.md):
    query i (absolute position ``T - S + i``) sees key j when ``j <= i`` or both share a group
    ``>= 0``, and key j is not padding; sliding layers further need ``j > i - window`` (Gemma 3:
    ``window and (causal or same)``), or with ``window_cuts_groups`` False only outside the
    query's group (PaliGemma 2: ``(causal and window) or same``). This is transformers'
    ``create_causal_mask`` / ``create_sliding_window_causal_mask`` with ``block_sequence_ids``
    written with plain tensor ops, so it traces; a config with sliding layers gets the per-type dict."""
    total = attention_mask.shape[1]
    keys = torch.arange(total, device=groups.device)
    queries = torch.arange(query_length, device=groups.device) + (total - query_length)  # absolute positions
    causal = keys[None, :] <= queries[:, None]
    query_groups = groups.index_select(1, queries)
    same = (query_groups[:, :, None] == groups[:, None, :]) & (query_groups[:, :, None] >= 0)
    allowed = (causal[None] | same) & attention_mask[:, None, :].bool()
    minimum = torch.finfo(dtype).min

    def additive(mask: torch.Tensor) -> torch.Tensor:
        return torch.where(mask, torch.zeros((), dtype=dtype), torch.full((), minimum, dtype=dtype))[:, None]

    layer_types = list(getattr(text_config, "layer_types", None) or [])
    if "sliding_attention" not in layer_types:
        return additive(allowed)
    window = (keys[None, :] > queries[:, None] - int(text_config.sliding_window))[None]
    sliding = allowed & (window if window_cuts_groups else window | same)
    return {"full_attention": additive(allowed), "sliding_attention": additive(sliding)}


class DecoderWithCache(nn.Module):
    """G3: language model + LM head over flat past tensors (key, value per layer).

    The cache is rebuilt from the flat inputs as a ``DynamicCache`` on every call (measured
    to trace exactly), and the presents are read back from its layers. With an attention rule
    other than ``causal`` the graph takes one more input, ``attention_groups [B, T]``, and builds
    the masks itself (``group_masks``), with a cache of full layers (the sliding window is in the
    mask, so the presents keep the whole sequence as the contract says). ``position_offset`` is
    added to the 0-based ``position_ids`` in the graph (PaliGemma counts from 1); ``logit_cap``
    applies ``cap * tanh(logits / cap)`` where the model class does (PaliGemma 2). A family with
    another mask rule overrides ``masks``.
    """

    def __init__(self, language_model: nn.Module, lm_head: nn.Module, text_config: Any, num_layers: int,
                 attention: str = "causal", position_offset: int = 0, logit_cap: float | None = None) -> None:
        super().__init__()
        self.language_model = language_model
        self.lm_head = lm_head
        self.text_config = text_config
        self.num_layers = int(num_layers)
        self.grouped = attention != "causal"
        self.position_offset = int(position_offset)
        self.logit_cap = None if logit_cap is None else float(logit_cap)

    def masks(self, attention_mask: torch.Tensor, groups: torch.Tensor, query_length: Any, dtype: torch.dtype) -> Any:
        """The 4-D masks of the ``attention_groups`` rule (``group_masks``)."""
        return group_masks(attention_mask, groups, query_length, self.text_config, dtype)

    def forward(
        self, inputs_embeds: torch.Tensor, attention_mask: torch.Tensor, position_ids: torch.Tensor, *rest: torch.Tensor
    ) -> tuple[torch.Tensor, ...]:
        from transformers import DynamicCache

        past = rest[: 2 * self.num_layers]
        cache = DynamicCache() if self.grouped else DynamicCache(config=self.text_config)
        for layer in range(self.num_layers):
            cache.update(past[2 * layer], past[2 * layer + 1], layer)
        mask: Any = attention_mask
        if self.grouped:
            mask = self.masks(attention_mask, rest[2 * self.num_layers], inputs_embeds.shape[1], inputs_embeds.dtype)
        hidden = self.language_model(
            inputs_embeds=inputs_embeds,
            attention_mask=mask,
            position_ids=position_ids + self.position_offset if self.position_offset else position_ids,
            cache=cache,
            use_cache=True,
        ).last_hidden_state
        logits = self.lm_head(hidden).float()
        if self.logit_cap is not None:
            logits = torch.tanh(logits / self.logit_cap) * self.logit_cap
        presents: list[torch.Tensor] = []
        for layer in range(self.num_layers):
            entry: Any = cache.layers[layer]  # a full-attention layer: keys/values are tensors
            presents.extend((entry.keys, entry.values))
        return (logits, *presents)


def past_names(num_layers: int) -> list[str]:
    """Graph input names of the flat past, in contract order (key, value per layer)."""
    return [f"past_key_values.{i}.{kind}" for i in range(num_layers) for kind in ("key", "value")]


def present_names(num_layers: int) -> list[str]:
    """Graph output names of the flat present, in contract order."""
    return [f"present.{i}.{kind}" for i in range(num_layers) for kind in ("key", "value")]


def pin_output_dims(path: str, output: str, dims: dict[int, int | str]) -> None:
    """Write a static size (int) or a contract axis name (str) into a graph output's declared shape.

    The TorchScript exporter names every axis after a Reshape symbolically (e.g.
    ``Reshapeimage_features_dim_1``) even when the Reshape's target is a constant, and the
    dynamo exporter names axes by expression (``4*u1``); docs/vlm-contract.md wants the static
    hidden size and the ``num_image_tokens`` name. The computation is unchanged; the checker
    must accept the result.
    """
    import onnx

    model = onnx.load(path)
    value = next((v for v in model.graph.output if v.name == output), None)
    if value is None:
        raise RuntimeError(f"{path}: no output {output!r} to pin")
    shape = value.type.tensor_type.shape
    for axis, size in dims.items():
        shape.dim[axis].Clear()
        if isinstance(size, str):
            shape.dim[axis].dim_param = size
        else:
            shape.dim[axis].dim_value = int(size)
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, path)


def export_embedding(module: MergedEmbedding, hidden: int, path: str, opset: int) -> None:
    """Export G2 with the TorchScript exporter; batch, sequence and feature rows are dynamic."""
    ids = torch.tensor([[1, module.image_token_id, module.image_token_id, 2]], dtype=torch.int64)
    feats = torch.randn(2, hidden)
    torch.onnx.export(
        module,
        (ids, feats),
        path,
        input_names=["input_ids", "image_features"],
        output_names=["inputs_embeds"],
        dynamic_axes={
            "input_ids": {0: "batch_size", 1: "sequence_length"},
            "image_features": {0: "num_image_tokens"},
            "inputs_embeds": {0: "batch_size", 1: "sequence_length"},
        },
        opset_version=opset,
        dynamo=False,
    )


def kv_heads(text_config: Any) -> int:
    """Key/value heads of a text config (grouped-query attention, else one per attention head)."""
    return int(getattr(text_config, "num_key_value_heads", None) or text_config.num_attention_heads)


def head_dim(text_config: Any) -> int:
    return int(getattr(text_config, "head_dim", None) or text_config.hidden_size // text_config.num_attention_heads)


def export_decoder(module: DecoderWithCache, path: str, opset: int, position_rank: int = 2) -> None:
    """Export G3, traced with past length > 0 and seq > 1 so neither axis is frozen; sizes from
    the module's text config. ``position_rank`` 3: mRoPE ``position_ids [3, batch, seq]``
    (Qwen2-VL), the three axes distinct."""
    hidden, heads, dim = int(module.text_config.hidden_size), kv_heads(module.text_config), head_dim(module.text_config)
    batch, seq, past_len = 2, 3, 4
    embeds = torch.randn(batch, seq, hidden)
    mask = torch.ones(batch, past_len + seq, dtype=torch.int64)
    positions = torch.arange(past_len, past_len + seq, dtype=torch.int64).unsqueeze(0).expand(batch, seq).contiguous()
    if position_rank == 3:
        positions = torch.stack([positions, positions + 1, positions * 2])
    past = [torch.randn(batch, heads, past_len, dim) for _ in range(2 * module.num_layers)]
    inputs = ["inputs_embeds", "attention_mask", "position_ids", *past_names(module.num_layers)]
    if module.grouped:  # two groups in the past, one reaching into the new tokens, the rest causal
        past.append(torch.tensor([[0, 0, -1, 1, 1, -1, -1], [-1, 0, 0, 0, 0, 0, -1]], dtype=torch.int64))
        inputs.append("attention_groups")
    outputs = ["logits", *present_names(module.num_layers)]
    axes: dict[str, dict[int, str]] = {
        "inputs_embeds": {0: "batch_size", 1: "sequence_length"},
        "attention_mask": {0: "batch_size", 1: "total_sequence_length"},
        "position_ids": {0: "batch_size", 1: "sequence_length"} if position_rank == 2 else
                        {1: "batch_size", 2: "sequence_length"},
        "logits": {0: "batch_size", 1: "sequence_length"},
    }
    if module.grouped:
        axes["attention_groups"] = {0: "batch_size", 1: "total_sequence_length"}
    axes.update({name: {0: "batch_size", 2: "past_sequence_length"} for name in past_names(module.num_layers)})
    axes.update({name: {0: "batch_size", 2: "total_sequence_length"} for name in present_names(module.num_layers)})
    torch.onnx.export(
        module,
        (embeds, mask, positions, *past),
        path,
        input_names=inputs,
        output_names=outputs,
        dynamic_axes=axes,
        opset_version=opset,
        dynamo=False,
    )


GENAI_DECODER = "genai_decoder.onnx"


def causal_decoder_graph(decoder: str, target: str, min_shared_bytes: int = 1024) -> None:
    """Write ``target``: the decoder graph at ``decoder`` with its ``attention_groups`` input
    replaced by an in-graph ``[B, T]`` of -1 (``ConstantOfShape`` of ``attention_mask``'s shape),
    i.e. plain causal attention (docs/vlm-contract.md, onnxruntime-genai section). This is the
    decoder ``genai_config.json`` names: onnxruntime-genai 0.18 feeds only ``inputs_embeds``,
    ``attention_mask``, ``position_ids`` and the past, so a graph that requires the groups does
    not run there.

    The weights are stored once: every initializer of ``decoder`` held as ``raw_data`` of at least
    ``min_shared_bytes`` becomes an external-data reference (location ``decoder``'s file name,
    offset, length) to the very bytes of that raw_data inside ``decoder``; smaller ones stay in
    ``target``, and initializers already external keep their reference. ``target`` therefore
    reads ``decoder`` at load time (both sit in the export folder, both under ``checksums``).
    """
    import mmap

    import onnx
    from onnx import TensorProto, helper

    model = onnx.load(decoder, load_external_data=False)
    graph = model.graph
    if not any(value.name == "attention_groups" for value in graph.input):
        raise RuntimeError(f"{decoder}: no attention_groups input to replace")
    kept = [value for value in graph.input if value.name != "attention_groups"]
    del graph.input[:]
    graph.input.extend(kept)
    nodes = [helper.make_node("Shape", ["attention_mask"], ["attention_groups_shape"], name="attention_groups_shape"),
             helper.make_node("ConstantOfShape", ["attention_groups_shape"], ["attention_groups"],
                              name="attention_groups_causal", value=helper.make_tensor("value", TensorProto.INT64, [1], [-1]))]
    for node in reversed(nodes):
        graph.node.insert(0, node)
    location = Path(decoder).name
    with open(decoder, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
        start = 0
        for tensor in graph.initializer:
            if tensor.data_location == TensorProto.EXTERNAL or len(tensor.raw_data) < min_shared_bytes:
                continue
            raw = tensor.raw_data
            offset = data.find(raw, start)  # serialised in order: found after the previous one (any match is the same bytes)
            if offset < 0:
                offset = data.find(raw)
            if offset < 0:
                continue
            start = offset + len(raw)
            tensor.ClearField("raw_data")
            tensor.data_location = TensorProto.EXTERNAL
            for key, value in (("location", location), ("offset", str(offset)), ("length", str(len(raw)))):
                entry = tensor.external_data.add()
                entry.key, entry.value = key, value
    onnx.save(model, target)
    onnx.checker.check_model(target, full_check=True)
