"""Modality-bias scores of a vision-language model from per-sample probe results (docs/metrics.md).

Every probe cell (``clean``, ``image=removed``, ``image=permuted`` seed k, ``text=removed``,
a text-only base LLM) yields one *correctness array* over the same samples in the same order:
1-D, bool, 0/1, or soft scores in [0, 1] (e.g. VQAv2's min(#humans/3, 1)). Scores here are
pure functions of those arrays, so bootstrap CIs (:mod:`harness.metrics.stats`) resample the
samples jointly across probes.

Units: accuracies and differences of accuracies (Acc, MG, ML, absolute perceptual score,
blind gap, Shapley values) are in **percent points (0–100)**; ratios (relative perceptual
score, swap sensitivity, Shapley shares, vision reliance) are **fractions**. Chance levels are
accuracies, hence percent: :func:`chance_accuracy` computes one from choice counts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from harness.errors import DataError

__all__ = [
    "BiasSummary",
    "PerceptualScore",
    "ShapleyShares",
    "accuracy",
    "blind_gap",
    "chance_accuracy",
    "multimodal_gain",
    "multimodal_leakage",
    "perceptual_score",
    "shapley_shares",
    "summarize",
    "swap_sensitivity",
    "vision_reliance",
]


def _correct(x: ArrayLike, name: str, n: int | None = None) -> NDArray[np.float64]:
    """A validated 1-D float64 correctness array (values in [0, 1]) of length ``n`` if given."""
    a = np.asarray(x)
    if a.ndim != 1 or a.size == 0:
        raise DataError(f"probe '{name}': expected a non-empty 1-D per-sample correctness array, got shape {a.shape}")
    if a.dtype.kind not in "biuf":
        raise DataError(f"probe '{name}': correctness must be bool or numbers in [0, 1], got dtype {a.dtype}")
    f = a.astype(np.float64)
    if not np.all((f >= 0.0) & (f <= 1.0)):  # also rejects NaN
        bad = f[~((f >= 0.0) & (f <= 1.0))]
        raise DataError(f"probe '{name}': correctness values must lie in [0, 1], got {bad[:5].tolist()}")
    if n is not None and f.size != n:
        raise DataError(f"probe '{name}' has {f.size} samples, the clean probe has {n}; probes must cover the same samples")
    return f


def _chance(chance: float) -> float:
    if isinstance(chance, bool) or not isinstance(chance, (int, float, np.floating)) or not 0.0 <= chance <= 100.0:
        raise DataError(f"chance accuracy must be a percentage in [0, 100], got {chance!r} (see chance_accuracy())")
    return float(chance)


def accuracy(correct: ArrayLike, *, name: str = "correct") -> float:
    """Mean correctness in percent."""
    return float(100.0 * _correct(correct, name).mean())


def chance_accuracy(num_choices: ArrayLike) -> float:
    """Expected accuracy of uniform guessing in percent: 100 · mean(1 / choices per sample)."""
    k = np.asarray(num_choices)
    if k.ndim > 1 or k.size == 0 or k.dtype.kind not in "iu" or np.any(k < 1):
        raise DataError(f"num_choices must be positive integers (one per sample or one scalar), got {k!r}")
    return float(100.0 * np.mean(1.0 / k))


def multimodal_gain(clean: ArrayLike, image_removed: ArrayLike) -> float:
    """MG = Acc(clean) − Acc(image removed), percent points."""
    c = _correct(clean, "clean")
    return float(100.0 * (c.mean() - _correct(image_removed, "image=removed", c.size).mean()))


def multimodal_leakage(image_removed: ArrayLike, base_llm: ArrayLike) -> float:
    """ML = max(0, Acc(image removed) − Acc(text-only base LLM)), percent points (MMStar)."""
    r = _correct(image_removed, "image=removed")
    return float(max(0.0, 100.0 * (r.mean() - _correct(base_llm, "base_llm", r.size).mean())))


@dataclass(frozen=True)
class PerceptualScore:
    """Gat et al. 2021: drop of accuracy when the modality is permuted across samples."""

    absolute: float  # percent points: Acc(clean) − mean_k Acc(permuted_k)
    relative: float  # fraction: absolute / Acc(clean); NaN when Acc(clean) = 0
    per_seed: tuple[float, ...]  # Acc(permuted_k), percent


def perceptual_score(clean: ArrayLike, permuted: Sequence[ArrayLike]) -> PerceptualScore:
    """Perceptual score of the image from the clean probe and K permuted-image probes (K >= 1)."""
    c = _correct(clean, "clean")
    if len(permuted) == 0:
        raise DataError("probe 'image=permuted': no seed given; run at least one permutation seed")
    accs = tuple(float(100.0 * _correct(p, f"image=permuted/k={k}", c.size).mean()) for k, p in enumerate(permuted))
    acc = 100.0 * c.mean()
    absolute = acc - math.fsum(accs) / len(accs)
    return PerceptualScore(absolute=float(absolute), relative=float(absolute / acc) if acc > 0 else math.nan, per_seed=accs)


def swap_sensitivity(clean_answers: ArrayLike, permuted_answers: Sequence[ArrayLike]) -> float:
    """Fraction of samples whose answer changes when images are permuted, averaged over seeds.

    Answers are compared as given (strings, choice indices...), one per sample.
    """
    a = np.asarray(clean_answers)
    if a.ndim != 1 or a.size == 0:
        raise DataError(f"probe 'clean': expected a non-empty 1-D answer array, got shape {a.shape}")
    if len(permuted_answers) == 0:
        raise DataError("probe 'image=permuted': no seed given; run at least one permutation seed")
    rates = []
    for k, p in enumerate(permuted_answers):
        b = np.asarray(p)
        if b.shape != a.shape:
            raise DataError(f"probe 'image=permuted/k={k}' has answers of shape {b.shape}, the clean probe {a.shape}")
        rates.append(float(np.mean(a != b)))
    return math.fsum(rates) / len(rates)


def blind_gap(image_removed: ArrayLike, chance: float) -> float:
    """Acc(image removed) − chance, percent points: what the model answers right without looking."""
    return float(100.0 * _correct(image_removed, "image=removed").mean() - _chance(chance))


@dataclass(frozen=True)
class ShapleyShares:
    """Two-player Shapley attribution of accuracy above v(∅) = chance to image and text."""

    image: float  # percent points
    text: float  # percent points; image + text = Acc(clean) − chance
    image_share: float  # fraction image / (image + text); NaN when the total is 0
    text_share: float
    empty_value: float  # v(∅), the chance accuracy used, percent


def shapley_shares(clean: ArrayLike, image_removed: ArrayLike, text_removed: ArrayLike, chance: float) -> ShapleyShares:
    """v({image, text}) = Acc(clean), v({text}) = Acc(image removed), v({image}) = Acc(text removed),
    v(∅) = ``chance`` (stated in the result); φ_image = ½[(v(I) − v(∅)) + (v(IT) − v(T))].
    """
    c = _correct(clean, "clean")
    v_it = 100.0 * c.mean()
    v_t = 100.0 * _correct(image_removed, "image=removed", c.size).mean()
    v_i = 100.0 * _correct(text_removed, "text=removed", c.size).mean()
    v0 = _chance(chance)
    image = 0.5 * ((v_i - v0) + (v_it - v_t))
    text = 0.5 * ((v_t - v0) + (v_it - v_i))
    total = image + text
    share = (lambda x: x / total) if total != 0 else (lambda x: math.nan)
    return ShapleyShares(float(image), float(text), float(share(image)), float(share(text)), v0)


def vision_reliance(clean: ArrayLike, image_removed: ArrayLike, chance: float) -> float:
    """The one number per model: MG / (Acc(clean) − chance), a fraction.

    It is the share of the model's above-chance accuracy that disappears without the image:
    1 = every correct-beyond-guessing answer needs the image, 0 = the image is ignored (the
    language reliance Zheng et al. warn about), < 0 = the image hurts. NaN when the clean
    accuracy is not above chance (nothing to attribute). Unlike the Shapley share it needs
    no ``text=removed`` probe.
    """
    c = _correct(clean, "clean")
    acc = 100.0 * c.mean()
    above = acc - _chance(chance)
    if above <= 0:
        return math.nan
    return float((acc - 100.0 * _correct(image_removed, "image=removed", c.size).mean()) / above)


@dataclass(frozen=True)
class BiasSummary:
    """Every bias figure available from the probes given; None where a probe was not run."""

    accuracy: float
    chance: float
    multimodal_gain: float
    blind_gap: float
    vision_reliance: float
    multimodal_leakage: float | None = None
    perceptual_score: PerceptualScore | None = None
    swap_sensitivity: float | None = None
    shapley: ShapleyShares | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe (NaN becomes None)."""

        def clean(v: Any) -> Any:
            if isinstance(v, float) and math.isnan(v):
                return None
            if isinstance(v, dict):
                return {k: clean(x) for k, x in v.items()}
            if isinstance(v, (list, tuple)):
                return [clean(x) for x in v]
            return v

        return clean(asdict(self))


def summarize(
    clean: ArrayLike,
    image_removed: ArrayLike,
    *,
    chance: float,
    permuted: Sequence[ArrayLike] = (),
    clean_answers: ArrayLike | None = None,
    permuted_answers: Sequence[ArrayLike] = (),
    text_removed: ArrayLike | None = None,
    base_llm: ArrayLike | None = None,
) -> BiasSummary:
    """All figures the given probes allow (see the module docstring for units)."""
    return BiasSummary(
        accuracy=accuracy(clean, name="clean"),
        chance=_chance(chance),
        multimodal_gain=multimodal_gain(clean, image_removed),
        blind_gap=blind_gap(image_removed, chance),
        vision_reliance=vision_reliance(clean, image_removed, chance),
        multimodal_leakage=None if base_llm is None else multimodal_leakage(image_removed, base_llm),
        perceptual_score=perceptual_score(clean, permuted) if len(permuted) else None,
        swap_sensitivity=(
            swap_sensitivity(clean_answers, permuted_answers) if clean_answers is not None and len(permuted_answers) else None
        ),
        shapley=None if text_removed is None else shapley_shares(clean, image_removed, text_removed, chance),
    )
