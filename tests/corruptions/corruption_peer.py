"""The ``imagecorruptions`` package as an independent peer, repaired at run time in this process only.

imagecorruptions 1.1.2 imports only with ``setuptools<81`` (it uses ``pkg_resources``), and
its glass_blur, gaussian_blur and fog fail on current scikit-image / NumPy (the removed
``multichannel`` argument and ``np.float_``). ``load()`` patches exactly those two names
inside its module, never globally, and ``run()`` seeds NumPy's global RNG (which the package
uses) and restores it afterwards. Used by the tests and ``benchmarks/bench_corruptions.py``;
none of its code is part of mmharness.
"""

from __future__ import annotations

import types
import warnings
from typing import Any

import numpy as np


class _NumpyWithFloat(types.ModuleType):
    """``numpy`` plus the removed ``float_`` alias, for the peer module only."""

    float_ = np.float64

    def __getattr__(self, name: str) -> Any:
        return getattr(np, name)


def load() -> Any:
    """The patched ``imagecorruptions`` module, or raise ImportError with the reason."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import imagecorruptions
        import imagecorruptions.corruptions as impl
        from skimage.filters import gaussian as sk_gaussian

    if not getattr(impl, "_mmharness_patched", False):

        def gaussian(
            image: Any, sigma: Any = 1, multichannel: Any = None, **kwargs: Any
        ) -> Any:
            if multichannel:
                kwargs.setdefault("channel_axis", -1)
            return sk_gaussian(image, sigma=sigma, **kwargs)

        impl.gaussian = gaussian
        impl.np = _NumpyWithFloat("numpy")
        impl._mmharness_patched = True
    return imagecorruptions


def run(
    module: Any, image: np.ndarray, name: str, severity: int, seed: int
) -> np.ndarray:
    """``imagecorruptions.corrupt`` on a uint8 HWC image with a seeded global RNG (restored after)."""
    state = np.random.get_state()
    try:
        np.random.seed(seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return np.asarray(
                module.corrupt(image, corruption_name=name, severity=severity)
            )
    finally:
        np.random.set_state(state)
