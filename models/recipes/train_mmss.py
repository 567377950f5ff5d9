"""Train and export the synthetic MMSS zoo: ``mmss-synth-rgbcentric`` and ``mmss-synth-robust``.

Both are the same ``FusionSegmenter`` (``mmss_net.py``), trained on the synthetic train split
with the same seed and schedule. The only difference is the data: ``rgbcentric`` always sees
every modality; ``robust`` sees, for a fraction of the samples, a random non-empty proper
subset of modalities replaced by the manifest's missing fill (zeros after normalization,
Liao's convention) — modality dropout. Run from the repository root::

    nice -n 10 python models/recipes/train_mmss.py --variant robust --out models/mmss-synth-robust

Deterministic: torch and NumPy are seeded, the dataset is a pure function of its seed, and
``torch.use_deterministic_algorithms`` is on (CPU). Writes ``model.onnx`` + ``manifest.json``
through ``exporters.mmss`` and ``MODEL_CARD.md`` with the measured figures.
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import json
import os
import sys
import time

# On a shared, oversubscribed CPU, spinning OpenMP workers waste most of their time slices;
# passive waiting changes no numerics (same thread count, same reductions). Set before torch loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from exporters.mmss import IMAGENET_MEAN as RGB_MEAN
from exporters.mmss import IMAGENET_STD as RGB_STD
from exporters.mmss import default_modality
from harness.data.synthetic import (
    CLASSES,
    IGNORE_INDEX,
    MODALITIES,
    SyntheticDataset,
    generate,
)

HERE = Path(__file__).resolve().parent
SIZE = 64


def _load_net():
    spec = importlib.util.spec_from_file_location("mmss_net", HERE / "mmss_net.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


mmss_net = _load_net()


@dataclass(frozen=True)
class TrainConfig:
    variant: str = "robust"  # "rgbcentric" (clean data) or "robust" (modality dropout)
    seed: int = 0
    train_size: int = 2048
    steps: int = 1200
    batch: int = 32
    lr: float = 4e-3
    width: int = 32
    p_clean: float = 0.3  # robust: fraction of samples that keep every modality


def preprocess(name: str, raw: np.ndarray) -> np.ndarray:
    """Raw ``N x H x W x 3`` uint8 -> normalized ``N x 3 x H x W`` float32, exactly as the manifest says."""
    x = raw.astype(np.float32) / 255.0
    if name == "rgb":
        x = (x - np.array(RGB_MEAN, np.float32)) / np.array(RGB_STD, np.float32)
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


def manifest_modalities() -> list[dict]:
    """Manifest ``modalities`` entries matching ``preprocess``: the exporter's defaults (ImageNet for RGB, /255 else)."""
    return [default_modality(name) for name in MODALITIES]


def missing_sets(n: int = len(MODALITIES)) -> list[tuple[int, ...]]:
    """Every missing set of the EMM protocol: all subsets except the full one, clean first."""
    return [s for k in range(n) for s in itertools.combinations(range(n), k)]


def to_tensors(batch) -> tuple[list[torch.Tensor], torch.Tensor]:
    xs = [torch.from_numpy(preprocess(m, batch.modalities[m])) for m in MODALITIES]
    return xs, torch.from_numpy(batch.labels)


def drop_modalities(xs: list[torch.Tensor], rng: np.random.Generator, p_clean: float) -> list[torch.Tensor]:
    """Modality dropout: per sample, zero (the missing fill) a random non-empty proper subset."""
    n = xs[0].shape[0]
    sets = missing_sets()[1:]
    keep = np.ones((n, len(xs)), np.float32)
    for i in range(n):
        if rng.random() >= p_clean:
            keep[i, list(sets[rng.integers(len(sets))])] = 0.0
    return [x * torch.from_numpy(keep[:, j]).view(n, 1, 1, 1) for j, x in enumerate(xs)]


def train_step(model, optimizer, xs, labels, rng: np.random.Generator, config: TrainConfig) -> float:
    """One optimisation step (horizontal flip augmentation, dropout for the robust variant)."""
    model.train()
    if rng.random() < 0.5:
        xs = [torch.flip(x, dims=[3]) for x in xs]
        labels = torch.flip(labels, dims=[2])
    if config.variant == "robust":
        xs = drop_modalities(xs, rng, config.p_clean)
    loss = F.cross_entropy(model(xs), labels, ignore_index=IGNORE_INDEX)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return float(loss.detach())


def make_model(config: TrainConfig):
    torch.manual_seed(config.seed)
    return mmss_net.build(num_classes=len(CLASSES), width=config.width)


def train(config: TrainConfig, log=lambda line: print(line, flush=True)):
    """Train from scratch; returns the model in eval mode."""
    if config.variant not in ("rgbcentric", "robust"):
        raise ValueError(f"--variant must be rgbcentric or robust, got {config.variant!r}")
    torch.set_num_threads(2)
    torch.use_deterministic_algorithms(True)
    rng = np.random.default_rng(config.seed)
    data = generate(range(config.train_size), "train", config.seed, SIZE)
    xs_all, labels_all = to_tensors(data)
    model = make_model(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr, total_steps=config.steps, pct_start=0.15)
    order = np.array([], dtype=np.int64)
    start = time.time()
    for step in range(config.steps):
        if len(order) < config.batch:
            order = np.concatenate([order, rng.permutation(config.train_size)])
        idx, order = torch.from_numpy(order[: config.batch]), order[config.batch :]
        loss = train_step(model, optimizer, [x[idx] for x in xs_all], labels_all[idx], rng, config)
        schedule.step()
        if step % 50 == 0 or step == config.steps - 1:
            log(f"[{config.variant}] step {step}/{config.steps} loss {loss:.4f} {time.time() - start:.0f}s")
    return model.eval()


def evaluate_torch(model, dataset: SyntheticDataset) -> dict[str, float]:
    """mIoU (DELIVER convention) per EMM missing set, with the torch model (a quick check)."""
    from harness.metrics.confusion import ConfusionMatrix
    from harness.metrics.segmentation import mean_iou

    batch = generate(range(len(dataset)), dataset.split, dataset.seed, dataset.size)
    xs, labels = to_tensors(batch)
    out = {}
    with torch.no_grad():
        for missing in missing_sets():
            feed = [torch.zeros_like(x) if j in missing else x for j, x in enumerate(xs)]
            cm = ConfusionMatrix(len(CLASSES), IGNORE_INDEX)
            cm.update(model(feed).argmax(1).numpy(), labels.numpy())
            out["+".join(MODALITIES[j] for j in missing) or "clean"] = float(mean_iou(cm.matrix, absent="zero"))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", choices=["rgbcentric", "robust"], required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=TrainConfig.steps)
    parser.add_argument("--train-size", type=int, default=TrainConfig.train_size)
    parser.add_argument("--weights-only", action="store_true", help="save weights.safetensors only, no export")
    args = parser.parse_args(argv)
    config = TrainConfig(variant=args.variant, seed=args.seed, steps=args.steps, train_size=args.train_size)
    start = time.time()
    model = train(config)
    seconds = time.time() - start
    val = SyntheticDataset("val", size=SIZE, seed=0)
    emm = evaluate_torch(model, val)
    print(json.dumps({"train_seconds": round(seconds, 1), "emm": emm, "avg": sum(emm.values()) / len(emm)}, indent=1))
    args.out.mkdir(parents=True, exist_ok=True)
    # Weights as data (no pickle): re-export with other options without retraining, e.g.
    # mmharness export mmss --model models/recipes/mmss_net.py:build --weights .../weights.safetensors --argmax
    from safetensors.torch import save_file

    save_file(model.state_dict(), str(args.out / "weights.safetensors"))
    if args.weights_only:
        return 0
    from zoo_card import (
        export_and_card,  # sibling module; imported late: only export needs it
    )

    export_and_card(model, config, args.out, seconds, argv if argv is not None else sys.argv[1:], manifest_modalities(), SIZE)
    return 0


if __name__ == "__main__":
    sys.exit(main())
