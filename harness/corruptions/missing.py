"""How an absent or randomly failing modality is fed to the model (EMM, RMM and Liao's NM preset).

Everything here works in *normalized* model-input space (docs/metrics.md: load raw ->
raw-space corruptions -> preprocess -> normalized-space corruptions and missing fills ->
model) on ``N x C x H x W`` float32 batches, and returns a new array (inputs are never
modified). Randomness comes from one ``numpy.random.Generator`` per sample (see
``harness.seeding.rngs_for``), so a sample gets the same perturbation whatever batch it is
in. The Liao preset is the documented exception: its salt/pepper values and counts are
defined over the whole batch tensor, so its result depends on the batch size (the reference
used 4); callers must record the batch size with the cell.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt

from harness.corruptions._ops import normal, uniform
from harness.errors import ConfigError

__all__ = [
    "FILLS",
    "LIAO_LEVELS",
    "Fill",
    "LiaoLevel",
    "Preprocess",
    "fill_missing",
    "liao_noise",
    "mask_array",
    "normalized_value_of_raw",
    "random_missing",
]

FloatBatch = npt.NDArray[np.float32]
Fill = Literal["zero_normalized", "zero_raw", "mean", "noise", "mask"]
FILLS: tuple[Fill, ...] = ("zero_normalized", "zero_raw", "mean", "noise", "mask")


class Preprocess(Protocol):
    """What a fill needs from a modality's manifest preprocessing: ``(x * scale - mean) / std``."""

    scale: float
    mean: Sequence[float]
    std: Sequence[float]


@dataclass(frozen=True)
class LiaoLevel:
    """One level of Liao et al.'s NM preset: salt-and-pepper density and Gaussian std (normalized units)."""

    density: float
    std: float


# Liao et al. 2025 (arXiv 2503.18445), NM scenario: low / mid / high.
LIAO_LEVELS: dict[str, LiaoLevel] = {
    "low": LiaoLevel(density=0.05, std=0.1),
    "mid": LiaoLevel(density=0.1, std=0.2),
    "high": LiaoLevel(density=0.2, std=0.5),
}


def _check_batch(batch: np.ndarray, what: str) -> None:
    if (
        not isinstance(batch, np.ndarray)
        or batch.ndim != 4
        or batch.dtype != np.float32
    ):
        got = (
            f"{batch.dtype} array of shape {batch.shape}"
            if isinstance(batch, np.ndarray)
            else type(batch).__name__
        )
        raise ConfigError(
            f"{what}: expected a float32 N x C x H x W normalized batch, got {got}"
        )


def _check_rngs(
    rngs: Sequence[np.random.Generator], batch: np.ndarray, what: str
) -> None:
    if len(rngs) != batch.shape[0]:
        raise ConfigError(
            f"{what}: needs one numpy Generator per sample ({batch.shape[0]}), got {len(rngs)}; "
            "derive them with harness.seeding.rngs_for"
        )


def _per_channel(
    values: Sequence[float], channels: int, field: str
) -> npt.NDArray[np.float32]:
    """``values`` as a ``(1, C, 1, 1)`` array; a single value applies to every channel."""
    array = np.asarray(values, dtype=np.float64).reshape(-1)
    if array.size == 1:
        array = np.repeat(array, channels)
    if array.size != channels:
        raise ConfigError(
            f"preprocess.{field}: expected 1 or {channels} values (one per channel), got {array.size}"
        )
    return array.astype(np.float32).reshape(1, channels, 1, 1)


def normalized_value_of_raw(
    raw: float, preprocess: Preprocess, channels: int
) -> npt.NDArray[np.float32]:
    """The ``(1, C, 1, 1)`` normalized value that raw sensor value ``raw`` maps to."""
    mean = _per_channel(preprocess.mean, channels, "mean")
    std = _per_channel(preprocess.std, channels, "std")
    if np.any(std == 0):
        raise ConfigError(
            "preprocess.std: a channel has std 0; normalization would divide by zero"
        )
    return ((np.float32(raw) * np.float32(preprocess.scale) - mean) / std).astype(
        np.float32
    )


def fill_missing(
    batch: FloatBatch,
    fill: Fill,
    preprocess: Preprocess | None = None,
    rngs: Sequence[np.random.Generator] = (),
    noise_std: float = 1.0,
) -> FloatBatch:
    """Replace a whole modality (every sample of ``batch``) by its missing representation.

    ``batch`` is the normalized ``N x C x H x W`` float32 input; the result has the same
    shape and dtype. Fills:

    - ``zero_normalized`` (default, Liao's convention): zeros after normalization. For RGB
      with ImageNet mean/std this is the mean colour, not black.
    - ``zero_raw``: the normalized value of a raw 0 reading, ``(0 * scale - mean) / std``
      per channel (a black image, a depth sensor returning nothing); needs ``preprocess``.
    - ``mean``: each channel of each sample replaced by its own spatial mean: the sensor's
      average level survives, all structure is gone. Per sample, so batch-independent.
    - ``noise``: Gaussian noise ``N(0, noise_std)`` in normalized units (default 1: the
      dataset's own spread; the manifest's ``missing.noise_std``); needs one generator per
      sample in ``rngs``.
    - ``mask``: the data are zero-normalized and the model learns absence from its mask
      input; feed ``mask_array(..., present=False)`` to the manifest's ``missing.mask_input``.
    """
    _check_batch(batch, f"missing fill {fill!r}")
    if fill in ("zero_normalized", "mask"):
        return np.zeros_like(batch)
    if fill == "zero_raw":
        if preprocess is None:
            raise ConfigError(
                "missing fill 'zero_raw' needs the modality's preprocess (scale, mean, std)"
            )
        value = normalized_value_of_raw(0.0, preprocess, batch.shape[1])
        return np.broadcast_to(value, batch.shape).astype(np.float32)
    if fill == "mean":
        means = batch.mean(axis=(2, 3), keepdims=True, dtype=np.float64).astype(
            np.float32
        )
        return np.broadcast_to(means, batch.shape).astype(np.float32)
    if fill == "noise":
        _check_rngs(rngs, batch, "missing fill 'noise'")
        if not noise_std > 0:
            raise ConfigError(
                f"missing fill 'noise': noise_std must be > 0, got {noise_std}"
            )
        return normal(rngs, batch.shape[1:], noise_std)
    raise ConfigError(f"unknown missing fill {fill!r} (allowed: {', '.join(FILLS)})")


def mask_array(
    shape: Sequence[int], present: bool, dtype: npt.DTypeLike = np.float32
) -> np.ndarray:
    """The value of a manifest ``missing.mask_input``: all ones when present, all zeros when missing."""
    return np.full(tuple(shape), 1 if present else 0, dtype=dtype)


def random_missing(
    batch: FloatBatch, rate: float, rngs: Sequence[np.random.Generator]
) -> FloatBatch:
    """RMM: zero every element (sample, channel, y, x) independently with probability ``rate``.

    Each sample draws its Bernoulli mask from its own generator, so the result for a sample
    does not depend on which batch it is in. The expected kept fraction is ``1 - rate``.
    """
    _check_batch(batch, "random missing")
    if not 0.0 <= rate <= 1.0:
        raise ConfigError(f"random missing rate must be within [0, 1], got {rate}")
    _check_rngs(rngs, batch, "random missing")
    drop = uniform(rngs, batch.shape[1:]) < np.float32(rate)
    return np.where(drop, np.float32(0.0), batch)


def liao_noise(
    batch: FloatBatch, level: str, is_event: bool, rng: np.random.Generator
) -> FloatBatch:
    """Liao's NM preset on one modality's normalized batch (docs/metrics.md), defined per batch.

    1. Salt and pepper on every modality: ``n = ceil(density * numel * 0.5)`` flat positions
       for salt, then ``n`` for pepper, each drawn uniformly *with replacement* over the
       whole ``N x C x H x W`` tensor; salt writes the batch tensor's maximum and pepper its
       minimum, both taken from the clean batch (pepper is written after salt, so it wins
       where they coincide).
    2. Additive Gaussian noise ``N(0, std)`` on every element, except for event modalities.

    ``rng`` is one generator for the whole batch: the draws, the max/min and the counts all
    depend on the batch composition and size, which must be recorded with the cell.
    """
    _check_batch(batch, "liao noise")
    if level not in LIAO_LEVELS:
        raise ConfigError(
            f"unknown liao noise level {level!r} (allowed: {', '.join(LIAO_LEVELS)})"
        )
    params = LIAO_LEVELS[level]
    out = batch.copy()
    flat = out.reshape(-1)
    count = math.ceil(params.density * flat.size * 0.5)
    salt, pepper = flat.max(), flat.min()
    flat[rng.integers(0, flat.size, size=count)] = salt
    flat[rng.integers(0, flat.size, size=count)] = pepper
    if not is_event:
        out += rng.normal(0.0, params.std, size=out.shape).astype(np.float32)
    return out
