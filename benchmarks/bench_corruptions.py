"""Speed of the 15 ImageNet-C corruptions, ours vs the ``imagecorruptions`` package, in one run.

Severity 3 on 512 x 512 RGB uint8 images, one image per call (the peer's unit of work), time
per image as the median over ``--repeats`` calls after one warm-up call. Mean PSNR
against the clean image over the same seeds (both rounded to uint8) is printed for both, so
"faster" is read next to "comparable statistics".

    nice -n 10 python benchmarks/bench_corruptions.py [--repeats 3] [--size 512]

The peer is loaded through ``tests/corruptions/corruption_peer.py``, which repairs its glass_blur,
gaussian_blur and fog for current NumPy/scikit-image in this process only (it needs
``setuptools<81`` to import at all) and seeds its impulse noise from NumPy's global RNG.
The peer is timed through its public ``imagecorruptions.corrupt`` (uint8 in, uint8 out, as
ours). The corruption list is the peer's own ImageNet-C list, checked against our
``imagenet-c`` family.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np


def _load_peer() -> object:
    path = (
        Path(__file__).resolve().parents[1]
        / "tests"
        / "corruptions"
        / "corruption_peer.py"
    )
    spec = importlib.util.spec_from_file_location("corruptions_peer", path)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


def _image(size: int) -> np.ndarray:
    """A natural photograph (scikit-image's astronaut, a dependency of the peer) at ``size`` x ``size``."""
    import cv2
    from skimage import data

    return cv2.resize(data.astronaut(), (size, size), interpolation=cv2.INTER_AREA)


def _psnr(clean: np.ndarray, other: np.ndarray) -> float:
    mse = np.mean(
        (
            clean.astype(np.float64)
            - np.clip(other, 0, 255).astype(np.uint8).astype(np.float64)
        )
        ** 2
    )
    return float(10 * np.log10(255.0**2 / mse)) if mse > 0 else float("inf")


def _median_seconds(fn, repeats: int) -> tuple[float, list[np.ndarray]]:
    """Median seconds of ``fn(seed)`` over seeds 1..repeats (after a warm-up call), and the outputs."""
    fn(0)  # warm-up (imports, caches)
    times, outputs = [], []
    for seed in range(1, repeats + 1):
        start = time.perf_counter()
        outputs.append(fn(seed))
        times.append(time.perf_counter() - start)
    return statistics.median(times), outputs


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)

    from harness.corruptions import corrupt

    peer = _load_peer()
    try:
        module = peer.load()
    except ImportError as error:
        print(
            f"imagecorruptions is not importable ({error}); pip install --no-deps imagecorruptions && "
            "pip install scikit-image 'setuptools<81'",
            file=sys.stderr,
        )
        return 3
    imagenet_c = _imagenet_c_names(module)
    if imagenet_c is None:
        return 3
    image = _image(args.size)
    print(
        f"{len(imagenet_c)} ImageNet-C corruptions, severity {args.severity}, {args.size}x{args.size} RGB uint8, "
        f"median of {args.repeats} (ms per image)"
    )
    print(
        f"{'corruption':18s} {'ours ms':>9s} {'peer ms':>9s} {'speedup':>8s} {'PSNR ours':>10s} {'PSNR peer':>10s}"
    )
    total_ours = total_peer = 0.0
    for name in imagenet_c:
        ours, theirs, psnr_ours, psnr_peer = _compare_one(corrupt, peer, module, image, name, args.severity, args.repeats)
        total_ours += ours
        total_peer += theirs
        print(
            f"{name:18s} {ours * 1e3:9.1f} {theirs * 1e3:9.1f} {theirs / ours:7.1f}x "
            f"{psnr_ours:10.2f} {psnr_peer:10.2f}"
        )
    print(
        f"{'total':18s} {total_ours * 1e3:9.1f} {total_peer * 1e3:9.1f} {total_peer / total_ours:7.1f}x"
    )
    return 0


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--severity", type=int, default=3)
    return parser.parse_args(argv)


def _imagenet_c_names(module: Any) -> list[str] | None:
    """The 15 in ImageNet-C's order, as the peer lists them; ``None`` (reported on stderr) when
    our ``imagenet-c`` family does not hold exactly those."""
    from harness.corruptions import describe

    imagenet_c = list(module.get_corruption_names("common"))
    ours_family = {c.name for c in describe("image") if c.family == "imagenet-c"}
    if set(imagenet_c) != ours_family:
        print(
            f"registry mismatch: ours {sorted(ours_family)} vs peer {imagenet_c}",
            file=sys.stderr,
        )
        return None
    return imagenet_c


def _compare_one(corrupt: Any, peer: Any, module: Any, image: np.ndarray, name: str, severity: int,
                 repeats: int) -> tuple[float, float, float, float]:
    """Median seconds per image of ours and the peer's public call, and mean PSNR of each."""
    ours, outs_ours = _median_seconds(
        lambda seed: corrupt(image, name, severity, np.random.default_rng(seed)),
        repeats,
    )
    theirs, _ = _median_seconds(
        lambda seed: peer.run(module, image, name, severity, seed, public=True),
        repeats,
    )
    # PSNR over the same seeds, the peer's result rounded like ours (its public call truncates)
    psnr_ours = np.mean([_psnr(image, out) for out in outs_ours])
    psnr_peer = np.mean(
        [
            _psnr(image, peer.run(module, image, name, severity, seed))
            for seed in range(1, repeats + 1)
        ]
    )
    return ours, theirs, float(psnr_ours), float(psnr_peer)


if __name__ == "__main__":
    sys.exit(main())
