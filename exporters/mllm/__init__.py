"""Export a transformers vision-language model into the three-graph contract (docs/vlm-contract.md).

``export_mllm(model, out_dir, options)`` writes ``vision.onnx``, ``embedding.onnx`` (image
features merged in-graph), ``decoder.onnx`` (standard-op KV cache), ``genai_config.json``
(onnxruntime-genai, surrogate type ``gemma3``), the tokenizer files and our ``manifest.json``
with its ``vqa`` block. Parity against transformers' ``generate`` is ``exporters.mllm.parity``.
Names are resolved lazily so that the CLI can import ``exporters.mllm.cli`` without torch.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_LAZY = {
    "ExportOptions": "exporters.mllm.export",
    "export_mllm": "exporters.mllm.export",
    "FAMILIES": "exporters.mllm.families",
    "family_of": "exporters.mllm.families",
}

__all__ = ["FAMILIES", "ExportOptions", "export_mllm", "family_of"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'exporters.mllm' has no attribute {name!r}")
