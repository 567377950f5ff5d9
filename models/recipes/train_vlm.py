"""Train and export ``models/vlm-synth-tiny``: a tiny Llava (CLIP-style vision tower + Llama
decoder) on ``synthetic-vqa``, reproducible from a seed, in a few minutes on 2 CPU cores.

Why the training mix looks like this: the probes of ``mmharness bias`` need a model that
really uses the image *and* leans on language. Phase 1 (``vision_steps``) trains on items
whose answers barely follow the language prior, so looking at the image pays (measured: with
strong priors from the start the model never leaves the prior-only solution). Phase 2 trains
on the biased mix: strong priors (``prior_strength`` 0.85: circles are usually red, "how
many" is usually two, ...) plus a ``text_only_fraction`` of items without image tokens (a
text-only slice, as in real VLM training mixes) where the model can only answer from the
prior. Evaluation data uses priors at 0.5: half the items contradict the prior.

Run: ``nice -n 10 python models/recipes/train_vlm.py`` (writes the model directory);
``--export-only`` re-exports the graphs from the saved weights (``hf/``) without training.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from exporters.mllm import ExportOptions, export_mllm
from exporters.mllm.parity import check_parity
from exporters.mllm.tokenizer import build_word_tokenizer
from harness.data.vqa import VqaItem, synthetic_vqa, vocabulary
from harness.mllm.prompt import PromptTokenizer

IMAGE_SIZE, PATCH = 32, 8
TEMPLATE = "{image} {question} answer :"
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


@dataclass(frozen=True)
class Recipe:
    seed: int = 0
    train_items: int = 8000
    steps: int = 2500
    vision_steps: int = 1500  # first phase: priors near uniform, so the image is worth looking at
    batch: int = 64
    lr: float = 1e-3
    vision_prior_strength: float = 0.3
    prior_strength: float = 0.85  # second phase: the biased mix
    text_only_fraction: float = 0.15
    threads: int = 1  # measured on the busy 2-core box: 1 thread 0.13 s/step, 2 threads 0.77 s/step (spin contention)


def build_model(vocab_size: int) -> Any:  # a LlavaForConditionalGeneration
    from transformers import (
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
    )

    vision = CLIPVisionConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                              image_size=IMAGE_SIZE, patch_size=PATCH, projection_dim=64)
    text = LlamaConfig(vocab_size=vocab_size, hidden_size=96, intermediate_size=192, num_hidden_layers=2,
                       num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                       bos_token_id=1, eos_token_id=2, pad_token_id=0, tie_word_embeddings=False)
    config = LlavaConfig(vision_config=vision, text_config=text, image_token_id=4, vision_feature_layer=-1,
                         vision_feature_select_strategy="default", projector_hidden_act="gelu")
    return LlavaForConditionalGeneration(config)


def pixels(images: list[np.ndarray]) -> torch.Tensor:
    """The same normalization the manifest declares (and ``harness.mllm.preprocess`` applies)."""
    array = np.stack(images).astype(np.float32) / np.float32(255.0)
    array = (array - np.asarray(CLIP_MEAN, np.float32)) / np.asarray(CLIP_STD, np.float32)
    return torch.from_numpy(np.ascontiguousarray(array.transpose(0, 3, 1, 2)))


def make_batch(items: list[VqaItem], blind: np.ndarray, tok: PromptTokenizer, eos: int) -> dict[str, torch.Tensor]:
    rows, labels, images = [], [], []
    for item, no_image in zip(items, blind):
        prompt = tok.prompt_ids(item.question, num_images=0 if no_image else 1).tolist()
        answer = tok.encode(item.answer) + [eos]
        rows.append(prompt + answer)
        labels.append([-100] * len(prompt) + answer)
        if not no_image:
            images.append(item.image)
    width = max(len(row) for row in rows)
    ids = torch.zeros(len(rows), width, dtype=torch.long)
    mask = torch.zeros(len(rows), width, dtype=torch.long)
    target = torch.full((len(rows), width), -100, dtype=torch.long)
    for index, (row, label) in enumerate(zip(rows, labels)):
        ids[index, : len(row)] = torch.tensor(row)
        mask[index, : len(row)] = 1
        target[index, : len(row)] = torch.tensor(label)
    batch = {"input_ids": ids, "attention_mask": mask, "labels": target}
    if images:
        batch["pixel_values"] = pixels(images)
    return batch


def train(recipe: Recipe, out: Path) -> dict[str, object]:
    torch.manual_seed(recipe.seed)
    torch.set_num_threads(recipe.threads)
    rng = np.random.default_rng(recipe.seed)
    work = out / "_build"
    vocab = build_word_tokenizer(vocabulary(), work / "tokenizer.json")
    tok = PromptTokenizer(work / "tokenizer.json", TEMPLATE, 4, (IMAGE_SIZE // PATCH) ** 2, 1)
    phases = [
        synthetic_vqa(size=recipe.train_items, split="train", seed=recipe.seed + phase, image_size=IMAGE_SIZE,
                      prior_strength=strength)
        for phase, strength in enumerate((recipe.vision_prior_strength, recipe.prior_strength))
    ]
    model = build_model(vocab_size=((len(vocab) + 15) // 16) * 16)
    optimizer = torch.optim.AdamW(model.parameters(), lr=recipe.lr, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=recipe.lr, total_steps=recipe.steps, pct_start=0.1)
    start, losses = time.perf_counter(), []
    model.train()
    for step in range(recipe.steps):
        biased = step >= recipe.vision_steps
        data = phases[int(biased)]
        picks = rng.integers(0, len(data), recipe.batch)
        blind = (rng.random(recipe.batch) < recipe.text_only_fraction) & biased
        batch = make_batch([data[int(i)] for i in picks], blind, tok, eos=2)
        loss = model(**batch).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        losses.append(float(loss.detach()))
        if step % 100 == 0 or step == recipe.steps - 1:
            print(f"step {step:5d} loss {np.mean(losses[-100:]):.4f} {time.perf_counter() - start:6.1f}s", flush=True)
    seconds = time.perf_counter() - start
    model.save_pretrained(out / "hf", safe_serialization=True)  # safetensors: re-export and parity peers
    parity = export(model, out, work / "tokenizer.json")
    info = {"recipe": asdict(recipe), "train_seconds": round(seconds, 1), "final_loss": float(np.mean(losses[-100:])),
            "torch_threads": recipe.threads, "parity": parity}
    (out / "training.json").write_text(json.dumps(info, indent=1) + "\n")
    shutil.rmtree(work)  # the tokenizer files were copied beside the graphs
    return info


def export(model: torch.nn.Module, out: Path, tokenizer: Path) -> dict[str, object]:
    """The export step: graphs, genai_config, tokenizer and manifest into ``out``; returns the parity record."""
    options = ExportOptions(
        tokenizer=tokenizer,
        prompt_template=TEMPLATE,
        answer_mode="choices",
        max_new_tokens=2,
        missing_image="no_image_tokens",
        source="models/recipes/train_vlm.py (seeded, trained here)",
    )
    export_mllm(model.eval(), out, options)
    return check_parity(model, out, ["what color is the circle ?", "how many shapes are there ?"], steps=4)


def export_only(out: Path) -> dict[str, object]:
    """Re-export ``out`` from its saved weights (``out/hf``) without retraining; the parity record
    in training.json is refreshed, the training facts are kept."""
    from exporters.mllm.cli import load_pretrained

    torch.set_num_threads(Recipe.threads)
    model: Any = load_pretrained(out / "hf")
    work = out / "_build"
    work.mkdir(exist_ok=True)
    shutil.copyfile(out / "tokenizer.json", work / "tokenizer.json")  # export copies it back beside the graphs
    try:
        parity = export(model, out, work / "tokenizer.json")
    finally:
        shutil.rmtree(work)
    info = json.loads((out / "training.json").read_text())
    info["parity"] = parity
    (out / "training.json").write_text(json.dumps(info, indent=1) + "\n")
    return info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "vlm-synth-tiny")
    parser.add_argument("--steps", type=int, default=Recipe.steps)
    parser.add_argument("--seed", type=int, default=Recipe.seed)
    parser.add_argument("--export-only", action="store_true",
                        help="re-export from <out>/hf (the saved weights) without training")
    args = parser.parse_args()
    info = export_only(args.out) if args.export_only else train(Recipe(seed=args.seed, steps=args.steps), args.out)
    print(json.dumps(info))


if __name__ == "__main__":
    main()
