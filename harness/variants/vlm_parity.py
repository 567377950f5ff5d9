"""Per-graph parity of a VLM variant against the reference, on the clean items.

Each graph is fed identical inputs on both sides, so a drift is located where it starts:

- vision: cosine of the image features of the same image, and the ratio of their norms;
- embedding: cosine of ``inputs_embeds`` from the same ids and the *reference* features;
- decoder: cosine of the prefill logits from the same (reference) embeddings;
- end to end: greedy decoding of the prompt on each side with its own graphs: whether the
  tokens agree and the position of the first divergent token.

One record per item is kept in ``compare.json`` (``parity.items``); the summary is derived
from them (:func:`summarize`), so it can be recomputed from the file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

GREEDY_TOKENS = 8  # new tokens compared per item (stop tokens end a sequence earlier)


def cosine(a: np.ndarray, b: np.ndarray) -> float | None:
    """Cosine similarity of two tensors flattened (float64); None when one is all zeros or not finite."""
    x, y = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    norm = float(np.linalg.norm(x) * np.linalg.norm(y))
    if norm == 0.0 or not np.isfinite(norm):
        return None
    return float(np.dot(x, y) / norm)


def norm_ratio(reference: np.ndarray, candidate: np.ndarray) -> float | None:
    """||candidate|| / ||reference||: the scale cosine cannot see (features scaled to ~0 keep cosine 1)."""
    ref = float(np.linalg.norm(np.asarray(reference, np.float64)))
    return None if ref == 0.0 else float(np.linalg.norm(np.asarray(candidate, np.float64)) / ref)


def first_divergence(a: Sequence[int], b: Sequence[int]) -> int | None:
    """Index of the first differing token (the shorter length when one is a prefix); None if equal."""
    for index, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return index
    return None if len(a) == len(b) else min(len(a), len(b))


def _item_record(ref: Any, cand: Any, tokenizer: Any, question: str, image: np.ndarray, tokens: int) -> dict[str, Any]:
    from harness.mllm.runtime import NonFiniteOutput, image_grids

    feats_ref, feats_cand = ref.image_features([image]), cand.image_features([image])
    ids = ref.prompt_ids(tokenizer, question, feats_ref, 1)  # per-image counts and blocks (Qwen2-VL, Idefics3 tiles)
    row = ids[np.newaxis]
    embeds_ref = ref.embed(row, feats_ref)
    record: dict[str, Any] = {"vision_cosine": cosine(feats_ref, feats_cand), "vision_norm_ratio": norm_ratio(feats_ref, feats_cand),
                              "embedding_cosine": cosine(embeds_ref, cand.embed(row, feats_ref))}
    mask = np.ones(row.shape, dtype=np.int64)
    positions, extra = ref.inputs_for(row, row.shape[1], row.shape[1], image_grids(feats_ref))  # the family's rule
    logits_ref, _ = ref.decode(embeds_ref, mask, positions, ref.empty_past(1), extra)
    try:
        logits_cand, _ = cand.decode(embeds_ref, mask, positions, cand.empty_past(1), extra)
        record["decoder_cosine"] = cosine(logits_ref, logits_cand)
        greedy_ref = ref.generate(ids, feats_ref, max_new_tokens=tokens).tokens
        greedy_cand = cand.generate(ids, feats_cand, max_new_tokens=tokens).tokens
    except NonFiniteOutput:
        record.update(decoder_cosine=None, tokens_equal=False, first_divergence=0, non_finite=True)
        return record
    divergence = first_divergence(greedy_ref, greedy_cand)
    record.update(tokens_equal=divergence is None, first_divergence=divergence, tokens=len(greedy_ref))
    return record


def parity_pass(model_dir: Path, backend: str, options: Sequence[str], graphs: Mapping[str, str], data: Any,
                tokens: int = GREEDY_TOKENS) -> dict[str, Any]:
    """Open the reference and the variant side by side and measure every clean item with an image."""
    from harness.mllm.prompt import PromptTokenizer
    from harness.mllm.sessions import open_runtime

    items: list[dict[str, Any]] = []
    with open_runtime(model_dir, backend, options) as ref, open_runtime(model_dir, backend, options, graphs=graphs) as cand:
        tokenizer = PromptTokenizer.from_spec(ref.spec)
        for item in data:
            if item.image is None:
                continue
            items.append({"sample_index": item.index, **_item_record(ref, cand, tokenizer, item.question, item.image, tokens)})
    return {"items": items, "summary": summarize(items), "greedy_tokens": tokens}


def summarize(items: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Mean and minimum cosine per graph, greedy agreement and where sequences first diverge."""
    out: dict[str, Any] = {"items": len(items)}
    for key in ("vision_cosine", "vision_norm_ratio", "embedding_cosine", "decoder_cosine"):
        values = [r[key] for r in items if r.get(key) is not None]
        out[key] = {"mean": float(np.mean(values)) if values else None, "min": float(min(values)) if values else None}
    divergent = [r["first_divergence"] for r in items if r["first_divergence"] is not None]
    out["greedy_agreement"] = float(np.mean([r["tokens_equal"] for r in items])) if items else None
    out["first_divergence"] = {"earliest": min(divergent) if divergent else None,
                               "mean": float(np.mean(divergent)) if divergent else None, "items": len(divergent)}
    return out
