"""The ``imagecorruptions`` package as an independent peer, repaired at run time in this process only.

imagecorruptions 1.1.2 imports ``pkg_resources`` (gone from ``setuptools>=81``) and
``scipy.ndimage.interpolation`` (deprecated in SciPy); when either is missing, ``load()``
lends a stand-in for the import only (``resource_filename`` from the module's folder;
``scipy.ndimage``) and removes it from ``sys.modules`` afterwards. Its glass_blur, gaussian_blur and fog fail on current scikit-image / NumPy (the removed
``multichannel`` argument and ``np.float_``), and its impulse noise calls scikit-image's
``random_noise`` without an ``rng``, which current scikit-image seeds from the OS: the peer's
impulse noise would differ on every call whatever the seed. ``load()`` patches exactly those
names inside its module, never globally (``random_noise`` then takes its seed from NumPy's
global RNG like every other corruption of the package), and ``run()`` seeds that global RNG
and restores it afterwards. Used by the tests and ``benchmarks/bench_corruptions.py``; none of
its code is part of mmharness.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
import types
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np


class _ModuleWith(types.ModuleType):
    """A stand-in for module ``real`` with some attributes replaced, for the peer module only."""

    def __init__(self, real: types.ModuleType, **replaced: Any) -> None:
        super().__init__(real.__name__)
        self._real = real
        self.__dict__.update(replaced)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def _resource_filename(package: str, resource: str) -> str:
    """``pkg_resources.resource_filename`` for a plain installed module: a path beside it."""
    folder = os.path.dirname(importlib.import_module(package).__file__ or "")
    return os.path.join(folder, resource)


@contextlib.contextmanager
def _stand_ins() -> Iterator[None]:
    """Modules the peer imports that a current install may lack, lent for its import only."""
    lent = []
    try:
        import pkg_resources  # noqa: F401
    except ImportError:
        sys.modules["pkg_resources"] = types.ModuleType("pkg_resources")
        sys.modules["pkg_resources"].resource_filename = _resource_filename  # type: ignore[attr-defined]
        lent.append("pkg_resources")
    try:
        import scipy.ndimage.interpolation
    except ImportError:
        import scipy.ndimage

        sys.modules["scipy.ndimage.interpolation"] = scipy.ndimage
        lent.append("scipy.ndimage.interpolation")
    try:
        yield
    finally:
        for name in lent:
            sys.modules.pop(name, None)


def load() -> Any:
    """The patched ``imagecorruptions`` module, or raise ImportError with the reason."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pkg_resources and SciPy deprecation notices
        with _stand_ins():
            import imagecorruptions
            import imagecorruptions.corruptions as impl
        import skimage
        import skimage.util
        from skimage.filters import gaussian as sk_gaussian

    if not getattr(impl, "_mmharness_patched", False):

        def gaussian(
            image: Any, sigma: Any = 1, multichannel: Any = None, **kwargs: Any
        ) -> Any:
            if multichannel:
                kwargs.setdefault("channel_axis", -1)
            return sk_gaussian(image, sigma=sigma, **kwargs)

        def random_noise(image: Any, mode: str = "gaussian", **kwargs: Any) -> Any:
            if kwargs.get("rng") is None:
                kwargs["rng"] = int(np.random.randint(2**31))
            return skimage.util.random_noise(image, mode=mode, **kwargs)

        impl.gaussian = gaussian
        impl.np = _ModuleWith(np, float_=np.float64)
        impl.sk = _ModuleWith(
            skimage, util=_ModuleWith(skimage.util, random_noise=random_noise)
        )
        impl._mmharness_patched = True
    return imagecorruptions


def run(
    module: Any,
    image: np.ndarray,
    name: str,
    severity: int,
    seed: int,
    public: bool = False,
) -> np.ndarray:
    """The peer's corruption ``name`` on a uint8 RGB HWC image, as uint8, with a seeded global RNG.

    ``imagecorruptions.corrupt`` ends in ``np.uint8(result)``, which truncates: a bias of
    half a grey level that alone moves PSNR by ~0.3 dB at severity 1 of brightness. By
    default the corruption function is called directly and a float result rounded, as
    ``corrupt`` of mmharness does, so a comparison measures the corruption and not the cast.
    ``public=True`` calls ``imagecorruptions.corrupt`` itself (its truncating cast included):
    what a user of the package runs, hence what the benchmark times. NumPy's global RNG (the
    one the package draws from) is restored afterwards.
    """
    from PIL import Image

    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(
            f"peer run expects uint8 H x W x 3, got {image.dtype} {image.shape}"
        )
    state = np.random.get_state()
    try:
        np.random.seed(seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if public:
                return np.asarray(
                    module.corrupt(image, corruption_name=name, severity=severity)
                )
            out = np.asarray(
                module.corruption_dict[name](Image.fromarray(image), severity)
            )
    finally:
        np.random.set_state(state)
    if out.dtype == np.uint8:  # PIL results (pixelate, JPEG) are 8-bit already
        return out
    return np.rint(np.clip(out, 0, 255)).astype(np.uint8)
