"""The one registry of named corruptions and the record each one carries.

A corruption is a pure function ``(batch, severity, rngs) -> batch`` with its severity
table beside it (imagecorruptions' shape, with an explicit RNG). It always receives a
float32 ``N x H x W x C`` batch in raw sensor units (uint8 images arrive scaled to [0, 1],
see ``harness.corruptions.api``) and one ``numpy.random.Generator`` per sample, and returns
a new float32 batch of the same shape. Drawing from the sample's own generator is what makes
a sample's corruption independent of the batch it is in.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from harness.registry import Registry

__all__ = [
    "CORRUPTIONS",
    "KINDS",
    "Corruption",
    "CorruptionFn",
    "FloatBatch",
    "Kind",
    "Space",
    "register",
]

FloatBatch = npt.NDArray[np.float32]
Rngs = Sequence[np.random.Generator]
CorruptionFn = Callable[[FloatBatch, int, Rngs], FloatBatch]
Kind = Literal["image", "depth", "lidar", "event", "thermal"]
Space = Literal["raw", "normalized"]
KINDS: tuple[str, ...] = ("image", "depth", "lidar", "event", "thermal")


@dataclass(frozen=True)
class Corruption:
    """A named corruption: where it applies, in which space, and what severities 1..5 mean.

    ``severities`` holds five human-readable parameter descriptions (severity 1 first);
    ``channels`` lists the channel counts it accepts (``None``: any); ``family`` groups the
    listing (``imagenet-c``, ``imagenet-c-extra``, ``sensor``, ...). ``uint8_native``: the
    function also accepts a uint8 batch and returns uint8 (JPEG, pixelate), which spares
    8-bit inputs two float round trips; it must match the float path up to 8-bit rounding.
    """

    name: str
    kinds: tuple[str, ...]
    space: Space
    family: str
    summary: str
    severities: tuple[str, ...]
    fn: CorruptionFn
    channels: tuple[int, ...] | None = None
    uint8_native: bool = False


CORRUPTIONS: Registry[Corruption] = Registry("corruption")


def register(
    name: str,
    *,
    kinds: Sequence[str],
    family: str,
    summary: str,
    severities: Sequence[object],
    space: Space = "raw",
    channels: Sequence[int] | None = None,
    unit: str = "",
    uint8_native: bool = False,
) -> Callable[[CorruptionFn], CorruptionFn]:
    """Decorator: register ``fn`` as corruption ``name``; ``severities`` are its 5 parameter values."""
    if len(severities) != 5:
        raise ValueError(
            f"corruption {name!r}: needs 5 severity parameters, got {len(severities)}"
        )
    unknown = set(kinds) - set(KINDS)
    if unknown:
        raise ValueError(f"corruption {name!r}: unknown kinds {sorted(unknown)}")
    described = tuple(f"{value}{unit}" for value in severities)

    def add(fn: CorruptionFn) -> CorruptionFn:
        CORRUPTIONS.add(
            name,
            Corruption(
                name=name,
                kinds=tuple(kinds),
                space=space,
                family=family,
                summary=summary,
                severities=described,
                fn=fn,
                channels=None if channels is None else tuple(channels),
                uint8_native=uint8_native,
            ),
        )
        return fn

    return add
