"""Export a transformers vision-language model into the three-graph contract (VLM_CONTRACT.md).

``export_mllm(model, out_dir, options)`` writes ``vision.onnx``, ``embedding.onnx`` (image
features merged in-graph), ``decoder.onnx`` (standard-op KV cache), ``genai_config.json``
(onnxruntime-genai, surrogate type ``gemma3``), the tokenizer files and our ``manifest.json``
with its ``vqa`` block. Parity against transformers' ``generate`` is ``exporters.mllm.parity``.
"""

from __future__ import annotations

from exporters.mllm.export import ExportOptions, export_mllm
from exporters.mllm.families import FAMILIES, family_of

__all__ = ["FAMILIES", "ExportOptions", "export_mllm", "family_of"]
