"""ImageNet-C digital corruptions (brightness, contrast, elastic, pixelate, JPEG) and the saturate extra.

Published ImageNet-C severities. Brightness and saturate are defined in HSV (value + c,
saturation * a + b); here they are computed in closed form in RGB, which is exact: with hue
fixed, every channel is an affine function of V and V*S, so no HSV round trip is needed.
A grey pixel (S = 0) has hue 0 (red), as in scikit-image, which the reference uses.
Elastic transform follows the size-independent form of the ``imagecorruptions`` package
(Michaelis et al. 2019: displacement field smoothed with sigma = 1% of the image size, gain
alpha by severity); the original ImageNet-C version adds an affine warp tuned to 224 px.
"""

from __future__ import annotations

import numpy as np

from harness.corruptions._ops import box_down_nearest_up, clip01, gaussian_ksize
from harness.corruptions.registry import FloatBatch, Rngs, register

BRIGHTNESS = (0.1, 0.2, 0.3, 0.4, 0.5)  # added to HSV value
CONTRAST = (0.4, 0.3, 0.2, 0.1, 0.05)  # factor on deviations from the per-channel mean
SATURATE = ((0.3, 0), (0.1, 0), (2, 0), (5, 0.1), (20, 0.2))  # HSV saturation * a + b
JPEG_QUALITY = (25, 18, 15, 10, 7)
PIXELATE = (0.6, 0.5, 0.4, 0.3, 0.25)  # downscale factor (box filter), nearest upscale
ELASTIC_ALPHA = (
    12.5,
    16.25,
    21.25,
    25.0,
    30.0,
)  # displacement gain; field sigma 1% of size


def _value_and_min(x: FloatBatch) -> tuple[FloatBatch, FloatBatch]:
    """HSV value (max over R, G, B) and the channel minimum, ``N x H x W x 1``."""
    r, g, b = (
        x[..., 0:1],
        x[..., 1:2],
        x[..., 2:3],
    )  # slices beat a reduction over a length-3 axis
    return np.maximum(np.maximum(r, g), b), np.minimum(np.minimum(r, g), b)


@register(
    "brightness",
    kinds=("image",),
    family="imagenet-c",
    severities=BRIGHTNESS,
    channels=(3,),
    summary="HSV value + c",
)
def brightness(x: FloatBatch, severity: int, rngs: Rngs) -> FloatBatch:
    c = np.float32(BRIGHTNESS[severity - 1])
    value, _ = _value_and_min(x)
    new_value = np.minimum(value + c, 1.0)
    # hue and saturation fixed => every channel scales with V; black (V = 0) becomes grey c
    scale = np.divide(new_value, value, out=np.zeros_like(value), where=value > 0)
    return np.where(value > 0, x * scale, new_value).astype(np.float32)


@register(
    "contrast",
    kinds=("image", "thermal"),
    family="imagenet-c",
    severities=CONTRAST,
    summary="deviation from per-channel mean scaled by c",
)
def contrast(x: FloatBatch, severity: int, rngs: Rngs) -> FloatBatch:
    c = np.float32(CONTRAST[severity - 1])
    n, h, w, channels = x.shape
    # The affine step runs on N x H x (W*C) rows, with the channel means tiled along a row:
    # NumPy loops broadcasting over a trailing axis of 3 channels are slow, rows are not.
    mean = np.tile(x.mean(axis=(1, 2)), w)[:, None, :]  # N x 1 x W*C
    rows = x.reshape(n, h, w * channels)
    out = rows - mean
    out *= c
    out += mean
    return clip01(out).reshape(x.shape)


@register(
    "saturate",
    kinds=("image",),
    family="imagenet-c-extra",
    severities=SATURATE,
    channels=(3,),
    summary="HSV saturation * a + b: (a, b)",
)
def saturate(x: FloatBatch, severity: int, rngs: Rngs) -> FloatBatch:
    a, b = SATURATE[severity - 1]
    value, low = _value_and_min(x)
    sat = np.divide(value - low, value, out=np.zeros_like(value), where=value > 0)
    new_sat = np.clip(sat * np.float32(a) + np.float32(b), 0.0, 1.0)
    # channel = V - V*S*g(hue) with g in [0, 1]; recover g per channel, keep V and hue
    spread = value - low
    g = np.divide(value - x, spread, out=np.zeros_like(x), where=spread > 0)
    grey = np.broadcast_to(spread <= 0, x.shape)
    g = np.where(
        grey, np.array([0.0, 1.0, 1.0], np.float32), g
    )  # hue 0 (red) for grey pixels
    return np.clip(value - value * new_sat * g, 0.0, 1.0).astype(np.float32)


@register(
    "jpeg_compression",
    kinds=("image",),
    family="imagenet-c",
    severities=JPEG_QUALITY,
    channels=(3,),
    summary="JPEG re-encoding at quality q (4:2:0)",
    uint8_native=True,
)
def jpeg_compression(x: FloatBatch, severity: int, rngs: Rngs) -> FloatBatch:
    import cv2

    quality = [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY[severity - 1]]
    as_bytes = x if x.dtype == np.uint8 else np.rint(x * 255.0).astype(np.uint8)
    out = np.empty_like(as_bytes)
    for i, rgb in enumerate(as_bytes):
        ok, data = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), quality)
        if not ok:
            raise RuntimeError("OpenCV failed to JPEG-encode an image")
        out[i] = cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    return out if x.dtype == np.uint8 else out.astype(np.float32) / np.float32(255.0)


@register(
    "pixelate",
    kinds=("image", "depth", "thermal"),
    family="imagenet-c",
    severities=PIXELATE,
    summary="box downscale by factor, nearest upscale",
    uint8_native=True,
)
def pixelate(x: FloatBatch, severity: int, rngs: Rngs) -> FloatBatch:
    factor = PIXELATE[severity - 1]
    _, h, w, _ = x.shape
    return box_down_nearest_up(x, (max(1, int(w * factor)), max(1, int(h * factor))))


@register(
    "elastic_transform",
    kinds=("image",),
    family="imagenet-c",
    severities=ELASTIC_ALPHA,
    summary="smoothed random displacement field, gain alpha (field sigma 1% of size)",
)
def elastic_transform(x: FloatBatch, severity: int, rngs: Rngs) -> FloatBatch:
    import cv2

    alpha = ELASTIC_ALPHA[severity - 1]
    _n, h, w, _ = x.shape
    max_shift = h * 0.005
    sy, sx = h * 0.01, w * 0.01
    ky, kx = gaussian_ksize(sy, 3.0), gaussian_ksize(sx, 3.0)
    yy, xx = np.meshgrid(
        np.arange(h, dtype=np.float32), np.arange(w, dtype=np.float32), indexing="ij"
    )
    out = np.empty_like(x)
    for i, rng in enumerate(rngs):
        raw = rng.uniform(-max_shift, max_shift, size=(2, h, w)).astype(np.float32)
        dx, dy = (
            cv2.GaussianBlur(
                r, (kx, ky), sigmaX=sx, sigmaY=sy, borderType=cv2.BORDER_REFLECT
            )
            * np.float32(alpha)
            for r in raw
        )
        warped = cv2.remap(
            x[i], xx + dx, yy + dy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
        )
        out[i] = warped.reshape(x[i].shape)
    return np.clip(out, 0.0, 1.0)
