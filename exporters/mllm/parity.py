"""Parity of an MLLM export against its source model: greedy tokens and logits.

The same prompt ids and pixels go to transformers' ``generate`` (greedy, ``min_new_tokens =
max_new_tokens`` so both run the same number of steps) and to the harness runtime over the
exported graphs (ONNX Runtime CPU). Reported: whether every generated token matches, and the
maximum absolute logit difference over all steps. The figures go into ``manifest.json``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from exporters.mllm.families import family_of
from harness.mllm.preprocess import vision_feeds
from harness.mllm.prompt import PromptTokenizer
from harness.mllm.sessions import open_runtime


def hf_greedy(model: Any, ids: np.ndarray, feeds: dict[str, np.ndarray], steps: int) -> tuple[list[int], np.ndarray]:
    """transformers' greedy ``generate``: new tokens and the step logits ``[steps, vocab]``."""
    family = family_of(model)
    pixels = torch.from_numpy(feeds["pixel_values"])
    with torch.no_grad():
        out = model.generate(
            input_ids=torch.from_numpy(ids)[None],
            attention_mask=torch.ones(1, len(ids), dtype=torch.long),
            **family.hf_image_kwargs(model, pixels),
            max_new_tokens=steps, min_new_tokens=steps, do_sample=False, num_beams=1,
            output_logits=True, return_dict_in_generate=True, eos_token_id=None, pad_token_id=0,
        )
    tokens = out.sequences[0, len(ids):].tolist()
    return tokens, torch.stack(out.logits, dim=1)[0].float().numpy()


def check_parity(model: Any, export_dir: str | Path, questions: list[str], seed: int = 0, steps: int = 8,
                 write: bool = True) -> dict[str, Any]:
    """Compare greedy generation of ``model`` and of its export on random images; record the result."""
    rng = np.random.default_rng(seed)
    results = []
    with open_runtime(export_dir) as runtime:
        spec = runtime.spec
        tokenizer = PromptTokenizer.from_spec(spec)
        for question in questions:
            image = rng.integers(0, 256, (*spec.image.size, 3), dtype=np.uint8)
            ids = tokenizer.prompt_ids(question)
            ours = runtime.generate(ids, runtime.image_features([image]), max_new_tokens=steps, stop_token_ids=())
            hf_tokens, hf_logits = hf_greedy(model, ids, vision_feeds([image], spec.image), steps)
            results.append({
                "tokens_equal": list(ours.tokens) == hf_tokens,
                "max_abs_logit_diff": float(np.abs(ours.logits - hf_logits).max()),
            })
    parity = {
        "reference": "transformers generate (greedy), same prompt ids and pixels",
        "runtime": "harness.mllm (ONNX Runtime CPU, KV cache)",
        "prompts": len(results),
        "new_tokens": steps,
        "greedy_tokens_equal": all(r["tokens_equal"] for r in results),
        "max_abs_logit_diff": max(r["max_abs_logit_diff"] for r in results),
    }
    if write:
        path = Path(export_dir) / "manifest.json"
        manifest = json.loads(path.read_text())
        manifest["parity"] = parity
        path.write_text(json.dumps(manifest, indent=1) + "\n")
    return parity
