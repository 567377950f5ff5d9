"""The corrupt()/names() entry point: every corruption keeps shape, dtype and range; bad input is one line."""

from __future__ import annotations

import numpy as np
import pytest

from harness.corruptions import CORRUPTIONS, KINDS, corrupt, describe, get, names
from harness.errors import ConfigError
from harness.seeding import rngs_for

from .corruption_images import scene

IMAGENET_C = {
    "gaussian_noise",
    "shot_noise",
    "impulse_noise",
    "defocus_blur",
    "glass_blur",
    "motion_blur",
    "zoom_blur",
    "snow",
    "frost",
    "fog",
    "brightness",
    "contrast",
    "elastic_transform",
    "pixelate",
    "jpeg_compression",
}
EXTRAS = {"speckle_noise", "gaussian_blur", "spatter", "saturate"}
ALL = [(name, kind) for name in CORRUPTIONS.names() for kind in get(name).kinds]


def _raw(kind: str, shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """A plausible raw array per kind: sparse for LiDAR/events, metres for depth."""
    rng = np.random.default_rng(seed)
    if kind == "depth":
        return (1.0 + 20.0 * rng.random(shape)).astype(np.float32)
    if kind in ("lidar", "event"):
        values = rng.random(shape[:-1] + (1,)) * (rng.random(shape[:-1] + (1,)) < 0.3)
        return np.repeat((values * 255).astype(np.uint8), shape[-1], axis=-1)
    return (rng.random(shape) * 255).astype(np.uint8)


def test_registry_holds_the_issue_list():
    assert IMAGENET_C | EXTRAS <= set(names("image"))
    assert {"overexposure", "underexposure", "dead_pixels", "rolling_stripes"} <= set(
        names("image")
    )
    assert "misalignment" in names() and all("misalignment" in names(k) for k in KINDS)
    for kind, minimum in (("depth", 6), ("lidar", 4), ("event", 3), ("thermal", 3)):
        own = [c for c in describe(kind) if c.family == kind]
        assert len(own) >= minimum, kind
    for spec in describe():
        assert (
            len(spec.severities) == 5
            and spec.space in ("raw", "normalized")
            and spec.summary
        )


@pytest.mark.parametrize(("name", "kind"), ALL)
def test_shape_dtype_range_kept(name, kind):
    rng = np.random.default_rng(0)
    raw = _raw(kind, (2, 40, 48, 3))
    for severity in (1, 5):
        out = corrupt(raw, name, severity, rng, kind=kind)
        assert out.shape == raw.shape and out.dtype == raw.dtype
    # float, channel-first, single channel
    chw = (raw[..., :1].transpose(0, 3, 1, 2) / 255.0).astype(np.float32)
    out = corrupt(chw, name, 3, rng, kind=kind, layout="CHW")
    assert out.shape == chw.shape and out.dtype == np.float32 and np.isfinite(out).all()
    if kind in ("image", "thermal"):
        assert out.min() >= 0.0 and out.max() <= 1.0
    else:
        assert out.min() >= 0.0


@pytest.mark.parametrize(("name", "kind"), ALL)
def test_batch_split_and_order_do_not_change_a_sample(name, kind):
    raw = _raw(kind, (4, 32, 32, 3), seed=1)
    idx = [10, 11, 12, 13]
    whole = corrupt(raw, name, 4, rngs_for(7, f"nm/{name}", idx, kind), kind=kind)
    parts = [
        corrupt(
            raw[i : i + 1],
            name,
            4,
            rngs_for(7, f"nm/{name}", idx[i : i + 1], kind),
            kind=kind,
        )
        for i in range(4)
    ]
    np.testing.assert_array_equal(whole, np.concatenate(parts))
    reverse = corrupt(
        raw[::-1].copy(), name, 4, rngs_for(7, f"nm/{name}", idx[::-1], kind), kind=kind
    )
    np.testing.assert_array_equal(whole, reverse[::-1])
    again = corrupt(raw, name, 4, rngs_for(7, f"nm/{name}", idx, kind), kind=kind)
    np.testing.assert_array_equal(whole, again)


def test_input_is_not_modified():
    x = scene(48)
    before = x.copy()
    for name in names("image"):
        corrupt(x, name, 5, np.random.default_rng(0))
    np.testing.assert_array_equal(x, before)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda x: corrupt(x, "gausian_noise", 1, np.random.default_rng()),
            "did you mean 'gaussian_noise'",
        ),
        (
            lambda x: corrupt(x, "snow", 0, np.random.default_rng()),
            "severity must be an integer 1..5, got 0",
        ),
        (lambda x: corrupt(x, "snow", 6, np.random.default_rng()), "got 6"),
        (lambda x: corrupt(x, "snow", 2.0, np.random.default_rng()), "got 2.0"),
        (lambda x: corrupt(x, "snow", True, np.random.default_rng()), "got True"),
        (
            lambda x: corrupt(x, "snow", 1, np.random.default_rng(), kind="depth"),
            "does not apply to depth",
        ),
        (
            lambda x: corrupt(x, "snow", 1, np.random.default_rng(), kind="sonar"),
            "unknown modality kind 'sonar'",
        ),
        (
            lambda x: corrupt(x.astype(np.int32), "snow", 1, np.random.default_rng()),
            "dtype must be uint8",
        ),
        (
            lambda x: corrupt(x[None, None], "snow", 1, np.random.default_rng()),
            "got shape",
        ),
        (
            lambda x: corrupt(x / 255.0 * 2, "snow", 1, np.random.default_rng()),
            "must lie in [0, 1]",
        ),
        (
            lambda x: corrupt(x[..., :2], "snow", 1, np.random.default_rng()),
            "needs 3 channels, got 2",
        ),
        (lambda x: corrupt(x[:4, :4], "snow", 1, np.random.default_rng()), "too small"),
        (
            lambda x: corrupt(np.stack([x, x]), "snow", 1, [np.random.default_rng()]),
            "one Generator per sample (2)",
        ),
        (
            lambda x: corrupt(x, "snow", 1, np.random.default_rng(), layout="NHWC"),
            "layout must be",
        ),
        (
            lambda x: corrupt(-(x / 255.0), "depth_holes", 1, np.random.default_rng()),
            "must be >= 0",
        ),
        (lambda x: names("sonar"), "unknown modality kind"),
    ],
)
def test_bad_input_is_one_line_config_error(call, message):
    with pytest.raises(ConfigError) as info:
        call(scene(32))
    text = str(info.value)
    assert message in text and "\n" not in text


def test_nan_is_rejected():
    x = np.full((16, 16, 1), 2.0, np.float32)
    x[3, 3] = np.nan
    with pytest.raises(ConfigError, match="NaN"):
        corrupt(x, "depth_holes", 1, np.random.default_rng(), kind="depth")


def test_grey_image_gets_colour_corruptions_via_grey_rgb():
    grey = scene(48)[..., :1]
    out = corrupt(grey, "brightness", 3, np.random.default_rng(0))
    assert out.shape == grey.shape
    # brightness of a grey pixel: V + c on every channel, so the mean goes up by c
    assert abs((out.astype(float) - grey).mean() / 255 - 0.3) < 0.05


def test_single_generator_on_a_batch_is_deterministic():
    x = np.stack([scene(32, 0), scene(32, 1)])
    a = corrupt(x, "gaussian_noise", 2, np.random.default_rng(5))
    b = corrupt(x, "gaussian_noise", 2, np.random.default_rng(5))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(
        a[0], corrupt(x[:1], "gaussian_noise", 2, np.random.default_rng(6))[0]
    )


@pytest.mark.parametrize(
    "name", [n for n in CORRUPTIONS.names() if get(n).uint8_native]
)
def test_uint8_fast_path_matches_float_path(name):
    x = scene(48)
    fast = corrupt(x, name, 3, np.random.default_rng(0))
    slow = corrupt(x.astype(np.float32) / 255, name, 3, np.random.default_rng(0))
    assert fast.dtype == np.uint8
    assert np.abs(fast.astype(int) - np.rint(slow * 255).astype(int)).max() <= 1


@pytest.mark.parametrize("name", names("image"))
def test_uint8_hwc_and_float_chw_give_the_same_image(name):
    """The two image forms users hold (8-bit H x W x 3, float C x H x W in [0, 1]) agree to a grey level."""
    hwc = np.stack([scene(40, 0), scene(40, 1)])
    chw = (hwc.transpose(0, 3, 1, 2) / 255.0).astype(np.float32)
    as_uint8 = corrupt(hwc, name, 3, rngs_for(3, name, [0, 1], "rgb"))
    as_float = corrupt(chw, name, 3, rngs_for(3, name, [0, 1], "rgb"), layout="CHW")
    assert as_uint8.dtype == np.uint8 and as_uint8.shape == hwc.shape
    assert as_float.dtype == np.float32 and as_float.shape == chw.shape
    assert 0.0 <= as_float.min() and as_float.max() <= 1.0
    back = np.rint(as_float.transpose(0, 2, 3, 1) * 255.0).astype(int)
    assert np.abs(back - as_uint8.astype(int)).max() <= 1
    # a single float C x H x W image is the first sample of the batch
    single = corrupt(chw[0], name, 3, rngs_for(3, name, [0], "rgb"), layout="CHW")
    np.testing.assert_array_equal(single, as_float[0])


@pytest.mark.parametrize("name", CORRUPTIONS.names())
def test_empty_batch_is_returned_empty(name):
    kind = get(name).kinds[0]
    empty = np.zeros((0, 16, 16, 3), np.uint8)
    out = corrupt(empty, name, 2, np.random.default_rng(0), kind=kind)
    assert out.shape == empty.shape and out.dtype == np.uint8
    with pytest.raises(ConfigError, match="dtype must be"):
        corrupt(empty.astype(np.int16), name, 2, np.random.default_rng(0), kind=kind)
