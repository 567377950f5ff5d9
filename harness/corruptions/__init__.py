"""Named corruptions per sensor kind and missing-modality fills, seeded and vectorized over the batch.

``corrupt(x, name, severity, rng)`` applies one registered corruption (see ``api``);
``names(kind)`` lists them; ``missing`` holds EMM fills, RMM and Liao's NM preset. Importing
this package registers every corruption module; they import NumPy only at module level
(OpenCV and SciPy are imported inside the functions that need them).
"""

from __future__ import annotations

from harness.corruptions import (  # noqa: F401  (registration)
    blur,
    depth,
    digital,
    event,
    geometry,
    lidar,
    noise,
    sensor,
    thermal,
    weather,
)
from harness.corruptions.api import corrupt, describe, get, names
from harness.corruptions.registry import CORRUPTIONS, KINDS, Corruption

__all__ = ["CORRUPTIONS", "KINDS", "Corruption", "corrupt", "describe", "get", "names"]
