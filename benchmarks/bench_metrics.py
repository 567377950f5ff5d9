"""Confusion-matrix update speed against its peers, measured in one run (issue 3, item 6).

Workload: predictions and labels of 8 x 1024 x 1024 pixels, 25 classes, 5 % of the labels
set to ignore_index 255. Peers:

- scikit-learn ``confusion_matrix`` (ignored pixels masked out first, as a user must);
- a ``torch.bincount`` update written like DELIVER's ``Metrics.update`` (when torch imports);
- ``np.add.at`` over the same combined index;
- ``np.copyto`` of the same bytes (pred + label): the memory-bandwidth ceiling.

Two input layouts: int64 (what argmax and torch produce; the headline) and uint8 (label
PNGs and class maps). Every implementation's matrix is checked equal before timing. Times
are the best of ``--repeat`` runs, interleaved round-robin so every
implementation sees the same machine load. Run by hand, e.g.
``nice -n 10 python benchmarks/bench_metrics.py``.
Targets: >= 3x scikit-learn, >= 1x torch bincount, >= 25 % of copy bandwidth (int64 layout).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np

from harness.metrics.confusion import ConfusionMatrix

C, IGNORE = 25, 255
KERNEL = "torch.bincount kernel only"


def best_of_interleaved(candidates: dict[str, tuple[Callable[[], object], int]]) -> dict[str, float]:
    """Best wall time in seconds per candidate; runs round-robin so all see the same machine load.

    ``candidates`` maps a name to (function, number of timed runs); each runs once untimed first.
    """
    best = {}
    for name, (fn, _) in candidates.items():
        fn()
        best[name] = float("inf")
    for i in range(max(runs for _, runs in candidates.values())):
        for name, (fn, runs) in candidates.items():
            if i < runs:
                start = time.perf_counter()
                fn()
                best[name] = min(best[name], time.perf_counter() - start)
    return best


def ours(pred: np.ndarray, label: np.ndarray) -> np.ndarray:
    cm = ConfusionMatrix(C, IGNORE)
    cm.update(pred, label)
    return np.asarray(cm.matrix)


def sklearn_cm(pred: np.ndarray, label: np.ndarray) -> np.ndarray:
    from sklearn.metrics import confusion_matrix

    keep = label != IGNORE
    return confusion_matrix(label[keep], pred[keep], labels=np.arange(C))


def add_at(pred: np.ndarray, label: np.ndarray) -> np.ndarray:
    keep = label != IGNORE
    hist = np.zeros(C * C, dtype=np.int64)
    np.add.at(hist, label[keep].astype(np.int64) * C + pred[keep], 1)
    return hist.reshape(C, C)


def torch_deliver(torch_mod: object, pred_t: object, label_t: object) -> np.ndarray:
    """DELIVER's ``Metrics.update`` without the argmax: keep mask, one bincount, view as C x C."""
    torch = torch_mod
    keep = label_t != IGNORE
    hist = torch.zeros(C, C, dtype=torch.int64)
    hist += torch.bincount(label_t[keep] * C + pred_t[keep], minlength=C * C).view(C, C)
    return hist.numpy()


def make_inputs(shape: tuple[int, ...], seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    label = rng.integers(0, C, shape, dtype=np.int64)
    pred = np.where(rng.random(shape) < 0.7, label, rng.integers(0, C, shape, dtype=np.int64))
    label[rng.random(shape) < 0.05] = IGNORE
    return pred, label


def run_layout(
    name: str, pred: np.ndarray, label: np.ndarray, repeat: int, slow_repeat: int, with_peers: bool, torch_threads: int = 1
) -> None:
    nbytes = pred.nbytes + label.nbytes
    print(f"\n== {name}: pred {pred.dtype}, label {label.dtype}, {pred.size / 1e6:.1f} Mpixel, {nbytes / 2**20:.0f} MiB ==")
    reference = ours(pred, label)
    dst_p, dst_l = np.empty_like(pred), np.empty_like(label)

    def copy() -> None:
        np.copyto(dst_p, pred)
        np.copyto(dst_l, label)

    candidates: dict[str, tuple[Callable[[], object], int]] = {
        "ours": (lambda: ours(pred, label), repeat),
        "np.copyto": (copy, repeat),
    }
    if with_peers:
        assert np.array_equal(add_at(pred, label), reference)
        candidates["np.add.at"] = (lambda: add_at(pred, label), slow_repeat)
        assert np.array_equal(sklearn_cm(pred, label), reference)
        candidates["sklearn"] = (lambda: sklearn_cm(pred, label), slow_repeat)
        try:
            import torch
        except ImportError:
            print("torch not importable: torch.bincount peer skipped")
        else:
            torch.set_num_threads(torch_threads)  # NumPy's bincount is single-threaded: compare like with like
            pred_t, label_t = torch.from_numpy(pred), torch.from_numpy(label)
            assert np.array_equal(torch_deliver(torch, pred_t, label_t), reference)
            candidates[f"torch.bincount (DELIVER, {torch.get_num_threads()} threads)"] = (
                lambda: torch_deliver(torch, pred_t, label_t),
                slow_repeat,
            )
            # not a target: torch's bincount kernel alone, on an index masked and built beforehand
            index_t = label_t[label_t != IGNORE] * C + pred_t[label_t != IGNORE]
            candidates[KERNEL] = (lambda: torch.bincount(index_t, minlength=C * C), repeat)
    times = best_of_interleaved(candidates)
    kernel = times.pop(KERNEL, None)
    for what, t in times.items():
        print(f"{what:42s} {t * 1e3:9.1f} ms  {pred.size / t / 1e6:8.0f} Mpixel/s  {nbytes / t / 1e9:6.2f} GB/s")
    t_ours = times["ours"]
    target = " (target >= 25 %)" if with_peers else " (not a target: narrow inputs move 8x fewer bytes)"
    print(f"ratio: ours is {times['np.copyto'] / t_ours:.0%} of copy bandwidth{target}")
    for what, t in times.items():
        if what not in ("ours", "np.copyto"):
            print(f"ratio: ours is {t / t_ours:.1f}x faster than {what}")
    if kernel is not None:
        print(
            f"(not a target) torch.bincount kernel alone on a pre-masked index: {kernel * 1e3:.1f} ms = {kernel / t_ours:.2f}x ours"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--slow-repeat", type=int, default=2, help="runs of the slow peers (sklearn, np.add.at)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--torch-threads", type=int, default=1, help="intra-op threads of the torch peer")
    args = parser.parse_args()
    pred, label = make_inputs((args.batch, args.size, args.size), args.seed)
    print(f"numpy {np.__version__}; confusion update, {C} classes, ignore_index {IGNORE}, 5 % ignored")
    run_layout("int64 layout (headline)", pred, label, args.repeat, args.slow_repeat, True, args.torch_threads)
    run_layout("uint8 layout", pred.astype(np.uint8), label.astype(np.uint8), args.repeat, args.slow_repeat, with_peers=False)


if __name__ == "__main__":
    main()
