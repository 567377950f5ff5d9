"""Image resizing that reproduces PyTorch's, so a resized frame is the frame a torch
evaluation pipeline (DELIVER's ``Resize``: torchvision ``TF.resize`` on tensors) feeds.

``resize_bilinear`` is ``torch.nn.functional.interpolate(mode="bilinear",
align_corners=False, antialias=False)`` on the CPU, bit for bit on float32:

- per axis, the source coordinate ``(i + 0.5) * in / out - 0.5`` (clamped at 0) and its two
  weights, in float32 with the fused multiply-add torch's x86-64 kernels are built with;
- torch has two CPU kernels that round differently in the last bit: a separable one
  (width pass, then height pass) and a four-tap one (weights ``h * w``, taps summed in
  order). Which one runs depends on the channel count, the output size and the thread
  count. ``kernel=None`` picks the one a single-threaded torch picks, i.e. what a DataLoader
  worker (one thread) computes: four-tap for 3-channel images or outputs with
  ``H + W <= 128``, separable otherwise.

Integer images (uint8 frames) are interpolated on a float32 copy and rounded half to even
back to their dtype, as torchvision's tensor ``resize`` does (``round``, then cast). Other
floats are computed in float32 and cast back; float64 is computed in float64 without fused
steps (within one ulp of torch, not bit-exact). ``nearest`` is ``mode="nearest"``
(``harness.data.files.resize_nearest``). NumPy only, no torch.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from harness.data.files import resize_nearest

Interpolation = Literal["bilinear", "nearest"]
Kernel = Literal["separable", "four_tap"]
INTERPOLATIONS: tuple[str, ...] = ("bilinear", "nearest")
SMALL_OUTPUT = 128  # torch uses its four-tap kernel when out H + out W <= this

Array = npt.NDArray[Any]
_F32, _F64 = np.float32, np.float64
_LOW_BITS = np.uint64((1 << 29) - 1)  # float64 mantissa bits below float32 precision
_HALF = np.uint64(1 << 28)
_ROWS = 64  # output rows computed at a time (temporaries stay in cache)


def fma32(a: Array, b: Array, c: Array) -> Array:
    """``a * b + c`` rounded once to float32 (an FMA instruction's result); the operands hold
    float32 values (in float32 or float64 arrays).

    The product is exact in float64 and the sum is rounded once to float64; rounding that to
    float32 is only wrong when it lands exactly on a float32 midpoint while the exact sum
    did not, which the float64 sum's error term (TwoSum) settles."""
    p = np.multiply(a, b, dtype=_F64)
    s = np.asarray(np.add(p, c, dtype=_F64))
    out = s.astype(_F32)
    ties = np.asarray((s.view(np.uint64) & _LOW_BITS) == _HALF)
    if ties.any():
        p, c64, s = (np.broadcast_to(x, ties.shape)[ties].astype(_F64) for x in (p, c, s))
        back = s - p
        error = (p - (s - back)) + (c64 - back)
        r = out[ties]
        above = r.astype(_F64) > s
        upper = np.where(above, r, np.nextafter(r, _F32(np.inf)))
        lower = np.where(above, np.nextafter(r, _F32(-np.inf)), r)
        out[ties] = np.where(error > 0, upper, np.where(error < 0, lower, r))
    return out


def linear_taps(size_in: int, size_out: int) -> tuple[Array, Array, Array, Array]:
    """``(i0, i1, w0, w1)`` per output position along one axis, as torch's
    ``compute_source_index_and_lambda`` gives them (float32, fused source coordinate)."""
    if size_in == size_out:
        index = np.arange(size_out, dtype=np.intp)
        return index, index, np.ones(size_out, _F32), np.zeros(size_out, _F32)
    scale = _F32(size_in) / _F32(size_out)
    src = fma32(np.full(size_out, scale, _F32), np.arange(size_out, dtype=_F32) + _F32(0.5), np.full(size_out, -0.5, _F32))
    src = np.maximum(src, _F32(0))
    i0 = np.minimum(np.floor(src).astype(np.intp), size_in - 1)
    w1 = np.clip(src - i0.astype(_F32), _F32(0), _F32(1)).astype(_F32)
    w0 = (_F32(1) - w1).astype(_F32)
    return i0, np.minimum(i0 + 1, size_in - 1), w0, w1


def default_kernel(channels: int, height: int, width: int) -> Kernel:
    """The kernel single-threaded torch runs for an NCHW-contiguous input."""
    return "four_tap" if channels == 3 or height + width <= SMALL_OUTPUT else "separable"


def resize_bilinear(image: Array, height: int, width: int, kernel: Kernel | None = None) -> Array:
    """Bilinear resize of an ``H x W``, ``H x W x C`` or ``N x H x W x C`` array to
    ``height x width`` as torch computes it (module docstring); same dtype out as in,
    untouched when already that size. ``kernel`` None: the one torch picks (``default_kernel``)."""
    array = np.asarray(image)
    x4 = array[None, :, :, None] if array.ndim == 2 else (array[None] if array.ndim == 3 else array)
    n, h, w, c = x4.shape
    if (h, w) == (height, width):
        return array
    kernel = kernel or default_kernel(c, height, width)
    wide = array.dtype == _F64
    x = np.ascontiguousarray(x4, dtype=_F64 if wide else _F32)
    fma = (lambda p, q, r: p * q + r) if wide else fma32
    r0, r1, h0, h1 = linear_taps(h, height)
    c0, c1, w0, w1 = linear_taps(w, width)
    w0, w1 = w0[:, None], w1[:, None]  # broadcast over channels
    h0, h1 = h0[:, None, None], h1[:, None, None]
    out = np.empty((n, height, width, c), array.dtype)
    if kernel == "separable":  # torch: upsample_generic_Nd_kernel_impl, width pass then height pass
        rows = np.unique(np.concatenate([r0, r1]))  # each input row's width pass is the same for every output row using it
        across = np.empty((n, len(rows), width, c), x.dtype)
        for start in range(0, len(rows), _ROWS):
            block = np.take(x, rows[start : start + _ROWS], axis=1)  # np.take: far faster than fancy indexing here
            across[:, start : start + _ROWS] = _lerp(np.take(block, c0, axis=2), np.take(block, c1, axis=2), w0, w1, fma)
        i0, i1 = np.searchsorted(rows, r0), np.searchsorted(rows, r1)
        for start in range(0, height, _ROWS):
            at = slice(start, start + _ROWS)
            result = _lerp(np.take(across, i0[at], axis=1), np.take(across, i1[at], axis=1), h0[at], h1[at], fma)
            out[:, at] = _cast_back(np.asarray(result), array.dtype)
    else:  # torch: cpu_upsample_linear_channels_last, weights h * w, four taps summed in order
        for start in range(0, height, _ROWS):
            at = slice(start, start + _ROWS)
            top, bottom = np.take(x, r0[at], axis=1), np.take(x, r1[at], axis=1)
            taps = (np.take(top, c0, axis=2), np.take(top, c1, axis=2), np.take(bottom, c0, axis=2), np.take(bottom, c1, axis=2))
            result = _four_tap(*taps, w0, w1, h0[at], h1[at], fma)
            out[:, at] = _cast_back(np.asarray(result), array.dtype)
    return out.reshape(array.shape[:-2] + (height, width) if array.ndim == 2 else array.shape[:-3] + (height, width, c))


def _lerp(p: Array, q: Array, w0: Array, w1: Array, fma: Any) -> Array:
    """torch's two-tap step of the separable kernel: ``fma(p, w0, q * w1)``."""
    return fma(p, w0, q * w1)


def _four_tap(a: Array, b: Array, c: Array, d: Array, w0: Array, w1: Array, h0: Array, h1: Array, fma: Any) -> Array:
    """torch's four-tap kernel: weights ``h * w`` in float32, taps summed in order."""
    return fma(d, h1 * w1, fma(c, h1 * w0, fma(a, h0 * w0, b * (h0 * w1))))


def bilinear_argmax(logits: Array, height: int, width: int) -> Array:
    """``argmax`` over classes of ``logits`` ``(N, C, H, W)`` resized bilinearly to
    ``height x width``: the class ids torch's ``interpolate`` + ``argmax`` give (first maximum
    on ties), about five times faster than resizing every score exactly.

    Scores are resized in plain float32 first. Both that and torch's float32 result are within
    a few units of 2**-24 * max|score| of the exact value, so wherever the best class leads the
    second by more than ``32 * 2**-24 * max|score|`` the order is torch's; the remaining
    pixels (near-ties) are recomputed exactly with torch's arithmetic."""
    x = np.ascontiguousarray(logits, dtype=_F32)
    n, c, h, w = x.shape
    kernel = default_kernel(c, height, width)
    r0, r1, h0, h1 = linear_taps(h, height)
    c0, c1, w0, w1 = linear_taps(w, width)
    rows = np.unique(np.concatenate([r0, r1]))
    i0, i1 = np.searchsorted(rows, r0), np.searchsorted(rows, r1)
    plain = lambda p, q, r: p * q + r  # noqa: E731 - the fast pass: float32, no fused steps
    out = np.empty((n, height, width), np.intp)
    for k in range(n):
        planes = np.take(x[k], rows, axis=1)
        across = _lerp(np.take(planes, c0, axis=2), np.take(planes, c1, axis=2), w0, w1, plain)
        approx = _lerp(np.take(across, i0, axis=1), np.take(across, i1, axis=1), h0[:, None], h1[:, None], plain)
        first, second, best = approx[0].copy(), np.full_like(approx[0], -np.inf), np.zeros(approx.shape[1:], np.intp)
        for index in range(1, c):  # running best and runner-up (first maximum wins, as argmax)
            plane = approx[index]
            np.maximum(second, np.minimum(first, plane), out=second)
            np.copyto(best, index, where=plane > first)
            np.maximum(first, plane, out=first)
        out[k] = best
        bound = _F32(32 * 2.0**-24) * np.abs(x[k]).max()
        ys, xs = np.nonzero(first - second <= bound)
        if len(ys):
            taps = (x[k][:, r0[ys], c0[xs]], x[k][:, r0[ys], c1[xs]], x[k][:, r1[ys], c0[xs]], x[k][:, r1[ys], c1[xs]])
            weights = (w0[xs], w1[xs], h0[ys], h1[ys])
            if kernel == "separable":
                exact = _lerp(_lerp(taps[0], taps[1], *weights[:2], fma32), _lerp(taps[2], taps[3], *weights[:2], fma32), *weights[2:], fma32)
            else:
                exact = _four_tap(*taps, *weights, fma32)
            out[k, ys, xs] = np.argmax(exact, axis=0)
    return out


def _cast_back(out: Array, dtype: np.dtype[Any]) -> Array:
    """Float result -> the input dtype: integers round half to even and saturate (torchvision)."""
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return np.clip(np.rint(out), info.min, info.max).astype(dtype)
    if dtype == np.bool_:
        return np.rint(out).astype(np.bool_)
    return out.astype(dtype, copy=False)


def resize(image: Array, height: int, width: int, interpolation: Interpolation = "bilinear") -> Array:
    """``image`` (``H x W (x C)`` or ``N x H x W x C``) at ``height x width``; untouched when
    already that size."""
    array = np.asarray(image)
    if interpolation == "nearest":
        if array.ndim == 4:
            return np.stack([resize_nearest(frame, height, width) for frame in array])
        return resize_nearest(array, height, width)
    return resize_bilinear(array, height, width)


def resize_steps(image: Array, steps: tuple[tuple[int, int], ...], interpolation: Interpolation = "bilinear") -> Array:
    """Apply the successive sizes of a resize plan (``ResizeSpec.steps``), rounding to the
    dtype between steps as a torch pipeline does."""
    for height, width in steps:
        image = resize(image, height, width, interpolation)
    return image
