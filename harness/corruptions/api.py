"""The one-call entry point: ``corrupt(x, name, severity, rng)`` and ``names(kind)``.

Accepted inputs, for every kind:

- a single array ``H x W x C`` (or ``H x W``) or a batch ``N x H x W x C`` in raw,
  channel-last layout (``harness.data.interface``), or ``C x H x W`` / ``N x C x H x W``
  with ``layout="CHW"``;
- ``uint8`` / ``uint16`` (scaled to [0, 1] by the dtype maximum for the corruption and
  rounded back), or ``float32`` / ``float64`` in sensor units (image and thermal floats must
  lie in [0, 1]; depth/LiDAR/event floats must be finite and >= 0).

The result has the input's shape, layout and dtype. ``rng`` is one generator (a single
array, or a batch whose samples then get N child generators seeded from it) or a sequence of one
generator per sample, which is what makes results independent of batch splits
(``harness.seeding.rngs_for``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from harness.corruptions.registry import CORRUPTIONS, KINDS, Corruption
from harness.errors import ConfigError

__all__ = ["corrupt", "describe", "get", "names"]

SEVERITIES = (1, 2, 3, 4, 5)
_UNIT_RANGE_KINDS = ("image", "thermal")


def get(name: str) -> Corruption:
    """The registered corruption ``name`` (unknown names get a did-you-mean)."""
    return CORRUPTIONS.get(name)


def names(kind: str | None = None) -> list[str]:
    """Sorted corruption names, optionally only those that apply to modality ``kind``."""
    if kind is None:
        return CORRUPTIONS.names()
    if kind not in KINDS:
        raise ConfigError(
            f"unknown modality kind {kind!r} (allowed: {', '.join(KINDS)})"
        )
    return [n for n in CORRUPTIONS.names() if kind in CORRUPTIONS.get(n).kinds]


FAMILIES = (
    "imagenet-c",
    "imagenet-c-extra",
    "sensor",
    "depth",
    "lidar",
    "event",
    "thermal",
    "geometry",
)


def describe(kind: str | None = None) -> list[Corruption]:
    """The registered corruption records: a kind's own family first, then by family order and name."""

    def key(c: Corruption) -> tuple[int, int, str]:
        family = FAMILIES.index(c.family) if c.family in FAMILIES else len(FAMILIES)
        return (0 if c.family == kind else 1, family, c.name)

    return sorted((CORRUPTIONS.get(n) for n in names(kind)), key=key)


def _check_severity(name: str, severity: object) -> int:
    if (
        isinstance(severity, bool)
        or not isinstance(severity, (int, np.integer))
        or severity not in SEVERITIES
    ):
        raise ConfigError(
            f"corruption {name!r}: severity must be an integer 1..5, got {severity!r}"
        )
    return int(severity)


def _check_kind(spec: Corruption, kind: str | None) -> str:
    if kind is None:
        return spec.kinds[0]
    if kind not in KINDS:
        raise ConfigError(
            f"unknown modality kind {kind!r} (allowed: {', '.join(KINDS)})"
        )
    if kind not in spec.kinds:
        raise ConfigError(
            f"corruption {spec.name!r} does not apply to {kind} modalities (applies to: {', '.join(spec.kinds)}); "
            f"for {kind} use one of: {', '.join(names(kind))}"
        )
    return kind


def _to_nhwc(x: np.ndarray, layout: str, name: str) -> tuple[np.ndarray, bool]:
    """The array as a 4-D channel-last batch, and whether a batch axis was added."""
    if layout not in ("HWC", "CHW"):
        raise ConfigError(
            f"corruption {name!r}: layout must be 'HWC' or 'CHW', got {layout!r}"
        )
    if x.ndim == 2:
        return x[None, :, :, None], True
    if x.ndim == 3:
        x, single = x[None], True
    elif x.ndim == 4:
        single = False
    else:
        raise ConfigError(
            f"corruption {name!r}: expected an H x W [x C] array or an N x H x W x C batch ({layout}), "
            f"got shape {x.shape}"
        )
    if layout == "CHW":
        x = x.transpose(0, 2, 3, 1)
    return x, single


def _to_float(x: np.ndarray, kind: str, name: str) -> tuple[np.ndarray, float | None]:
    """float32 values for the corruption and the integer scale to undo (``None`` for floats)."""
    if x.dtype in (np.uint8, np.uint16):
        peak = float(np.iinfo(x.dtype).max)
        values = x.astype(np.float32)
        values /= np.float32(peak)
        return values, peak
    if x.dtype not in (np.float32, np.float64):
        raise ConfigError(
            f"corruption {name!r}: dtype must be uint8, uint16, float32 or float64, got {x.dtype}; "
            "convert the array first"
        )
    values = x.astype(np.float32)
    if not np.isfinite(values).all():
        raise ConfigError(f"corruption {name!r}: input holds NaN or Inf values")
    low, high = float(values.min(initial=0.0)), float(values.max(initial=0.0))
    if kind in _UNIT_RANGE_KINDS and (low < 0.0 or high > 1.0):
        raise ConfigError(
            f"corruption {name!r}: float {kind} input must lie in [0, 1], got [{low:.4g}, {high:.4g}]; "
            "pass uint8 or divide by the sensor's full scale"
        )
    if kind not in _UNIT_RANGE_KINDS and low < 0.0:
        raise ConfigError(
            f"corruption {name!r}: {kind} input must be >= 0 (0 = no reading), got minimum {low:.4g}"
        )
    return values, None


def _generators(
    rng: np.random.Generator | Sequence[np.random.Generator], n: int, name: str
) -> list[np.random.Generator]:
    if isinstance(rng, np.random.Generator):
        if n == 1:
            return [rng]
        # children seeded from the parent's stream (Generator.spawn needs NumPy >= 1.25)
        seeds = rng.integers(0, 2**63, size=(n, 2), dtype=np.uint64)
        return [
            np.random.default_rng(np.random.SeedSequence(list(map(int, pair))))
            for pair in seeds
        ]
    rngs = list(rng)
    if len(rngs) != n or not all(isinstance(g, np.random.Generator) for g in rngs):
        raise ConfigError(
            f"corruption {name!r}: rng must be a numpy Generator or one Generator per sample ({n}), "
            f"got {len(rngs)} items; derive them with harness.seeding.rngs_for"
        )
    return rngs


def corrupt(
    x: np.ndarray,
    name: str,
    severity: int,
    rng: np.random.Generator | Sequence[np.random.Generator],
    *,
    kind: str | None = None,
    layout: Literal["HWC", "CHW"] = "HWC",
) -> np.ndarray:
    """Apply corruption ``name`` at ``severity`` (1..5) to a raw array or batch; see the module doc.

    ``kind`` is the modality kind the array holds (default: the corruption's first kind);
    a corruption that does not apply to it is an error, never a silent no-op.
    """
    spec = get(name)
    level = _check_severity(name, severity)
    kind = _check_kind(spec, kind)
    if not isinstance(x, np.ndarray):
        raise ConfigError(
            f"corruption {name!r}: expected a numpy array, got {type(x).__name__}"
        )
    batch, single = _to_nhwc(x, layout, name)
    gray = kind == "image" and batch.shape[3] == 1
    if spec.channels is not None and not gray and batch.shape[3] not in spec.channels:
        raise ConfigError(
            f"corruption {name!r}: needs {' or '.join(map(str, spec.channels))} channels, got {batch.shape[3]} "
            f"(shape {x.shape}, layout {layout})"
        )
    if min(batch.shape[1:3]) < 8:
        raise ConfigError(
            f"corruption {name!r}: image is too small ({batch.shape[1]} x {batch.shape[2]}); needs >= 8 x 8"
        )
    if batch.shape[0] == 0:  # an empty batch: nothing to corrupt (dtype still checked)
        _to_float(batch, kind, name)
        return x.copy()
    native = spec.uint8_native and batch.dtype == np.uint8
    values, peak = (
        (np.ascontiguousarray(batch), None) if native else _to_float(batch, kind, name)
    )
    if gray:  # colour corruptions see a grey RGB image and hand back its mean
        values = np.repeat(values, 3, axis=3)
    out = spec.fn(values, level, _generators(rng, values.shape[0], name))
    if gray:
        out = out.mean(axis=3, keepdims=True, dtype=np.float32)
    if native:
        out = out if out.dtype == np.uint8 else np.rint(out).astype(np.uint8)
    elif peak is not None:  # back to integers: one temporary, rounded in place
        scaled = np.clip(out, 0.0, 1.0)
        scaled *= np.float32(peak)
        out = np.rint(scaled, out=scaled).astype(x.dtype)
    else:
        out = out.astype(x.dtype, copy=False)
    if layout == "CHW":
        out = out.transpose(0, 3, 1, 2)
    out = out[0] if single else out
    return np.ascontiguousarray(out.reshape(x.shape))
