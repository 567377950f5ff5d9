"""harness.data.resize against torch itself: bilinear (both CPU kernels) and nearest on odd
sizes, up and down, uint8 (torchvision's round-half-even back to uint8) and float32, bit for
bit; the fused multiply-add emulation on a hand-made midpoint case; DELIVER's resize sizes."""

from __future__ import annotations

import numpy as np
import pytest

from harness.data.resize import bilinear_argmax, default_kernel, fma32, resize, resize_bilinear, resize_steps
from harness.manifest.model import ResizeSpec, default_resize

torch = pytest.importorskip("torch")
F = torch.nn.functional

# (in H, in W, out H, out W): down, up, both, odd, DELIVER's 1042 -> 1024 and a non-square frame
SIZES = [(1042, 1042, 1024, 1024), (37, 53, 131, 97), (100, 33, 57, 199), (5, 7, 120, 131), (300, 41, 64, 70), (136, 136, 128, 128)]


@pytest.fixture
def threads():
    """Run torch on a set thread count (it picks its bilinear kernel by it), then restore."""
    before = torch.get_num_threads()
    yield torch.set_num_threads
    torch.set_num_threads(before)


def _torch_bilinear(x: np.ndarray, h: int, w: int) -> np.ndarray:
    """torchvision's tensor resize: float copy, interpolate, round half to even, cast back."""
    t = torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None]
    y = F.interpolate(t.float(), size=(h, w), mode="bilinear", align_corners=False, antialias=False)
    if x.dtype == np.uint8:
        y = torch.round(y).to(torch.uint8)
    return y[0].numpy().transpose(1, 2, 0)


def _frame(rng: np.random.Generator, h: int, w: int, c: int, dtype: type) -> np.ndarray:
    if dtype is np.uint8:
        return rng.integers(0, 256, (h, w, c), dtype=np.uint8)
    return (rng.normal(0.0, 20.0, (h, w, c)) + 5.0).astype(np.float32)  # e.g. depth in metres


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
@pytest.mark.parametrize(("h", "w", "out_h", "out_w"), SIZES)
def test_bilinear_equals_single_threaded_torch_bit_for_bit(threads, h: int, w: int, out_h: int, out_w: int, dtype: type) -> None:
    threads(1)  # a DataLoader worker: torch's four-tap kernel for 3 channels, separable for 1
    rng = np.random.default_rng(h * 1000 + w)
    for channels in (1, 3):
        x = _frame(rng, h, w, channels, dtype)
        mine = resize_bilinear(x, out_h, out_w)
        assert mine.dtype == x.dtype and mine.shape == (out_h, out_w, channels)
        assert np.array_equal(mine, _torch_bilinear(x, out_h, out_w)), (channels, default_kernel(channels, out_h, out_w))


def test_the_separable_kernel_is_what_multithreaded_torch_runs_on_three_channels(threads) -> None:
    threads(2)  # more than one thread: torch's generic (separable) kernel for 3 channels too
    rng = np.random.default_rng(7)
    for h, w, out_h, out_w in SIZES[:3]:
        x = _frame(rng, h, w, 3, np.float32)
        reference = _torch_bilinear(x, out_h, out_w)
        assert np.array_equal(resize_bilinear(x, out_h, out_w, kernel="separable"), reference)
        assert not np.array_equal(resize_bilinear(x, out_h, out_w, kernel="four_tap"), reference)  # the kernels do differ


def test_batches_and_many_channels_like_logits(threads) -> None:
    threads(1)
    logits = np.random.default_rng(3).normal(size=(2, 64, 80, 25)).astype(np.float32)  # N, H, W, classes
    reference = F.interpolate(torch.from_numpy(logits.transpose(0, 3, 1, 2).copy()), size=(97, 61), mode="bilinear", align_corners=False)
    assert np.array_equal(resize_bilinear(logits, 97, 61), reference.numpy().transpose(0, 2, 3, 1))


@pytest.mark.parametrize(("h", "w", "out_h", "out_w"), SIZES)
def test_nearest_equals_torch(h: int, w: int, out_h: int, out_w: int) -> None:
    label = np.random.default_rng(w).integers(0, 26, (h, w)).astype(np.int64)
    reference = F.interpolate(torch.from_numpy(label)[None, None].float(), size=(out_h, out_w), mode="nearest")[0, 0].long().numpy()
    assert np.array_equal(resize(label, out_h, out_w, "nearest"), reference)


def test_a_frame_at_the_target_size_is_returned_untouched() -> None:
    x = np.arange(48, dtype=np.uint8).reshape(4, 4, 3)
    assert resize(x, 4, 4) is x and resize(x, 4, 4, "nearest") is x
    assert resize_steps(x, ((4, 4), (4, 4))) is x


def test_fma32_rounds_once_where_float64_would_round_twice() -> None:
    a = np.float32(1 + 2**-12)  # a * a = 1 + 2**-11 + 2**-24: exactly halfway between two float32s
    tiny = np.float32(2**-70)  # lost when a * a + tiny is rounded to float64, decisive for float32
    assert fma32(a, a, tiny) == np.float32(1 + 2**-11 + 2**-23)  # above the midpoint: up
    assert fma32(a, a, -tiny) == np.float32(1 + 2**-11)  # below: down
    assert fma32(a, a, np.float32(0)) == np.float32(1 + 2**-11)  # exactly halfway: to even
    assert np.float32(np.float64(a) * np.float64(a) + np.float64(tiny)) == np.float32(1 + 2**-11)  # the double rounding avoided


def test_shorter_edge_sizes_follow_delivers_arithmetic() -> None:
    deliver = ResizeSpec("shorter_edge", (1024,), 32)
    assert deliver.steps(1042, 1042) == ((1024, 1024), (1024, 1024))
    assert deliver.steps(1080, 1920) == ((1024, 1820), (1024, 1824))  # 1920 * 1024 / 1080 = 1820.4; aligned up
    assert deliver.target(1080, 1920) == (1024, 1824)
    assert ResizeSpec("shorter_edge", (128,), 1).target(136, 200) == (128, 188)  # 188.2 rounds down
    assert ResizeSpec("exact", (120, 160)).target(136, 136) == (120, 160)
    assert ResizeSpec().steps(136, 136) == () and ResizeSpec().target(136, 136) == (136, 136)


def test_default_resize_follows_input_size() -> None:
    assert default_resize((1024, 1024)) == ResizeSpec("shorter_edge", (1024,), 32)
    assert default_resize((128, 256)) == ResizeSpec("shorter_edge", (128,), 32)
    assert default_resize((100, 100)) == ResizeSpec("shorter_edge", (100,), 1)  # not a multiple of 32: no alignment
    assert default_resize(None) == ResizeSpec("none")


@pytest.mark.parametrize(("shape", "size", "integers"), [
    ((2, 4, 300, 257), (311, 262), True),  # integer scores: many exact and near ties after resizing
    ((1, 3, 64, 90), (97, 61), True),  # 3 classes: torch's four-tap kernel
    ((1, 25, 120, 130), (131, 133), False),  # DELIVER's 25 classes
])
def test_bilinear_argmax_equals_torch_interpolate_then_argmax(threads, shape: tuple, size: tuple, integers: bool) -> None:
    threads(1)
    rng = np.random.default_rng(sum(shape))
    logits = (rng.integers(-3, 4, shape) if integers else rng.normal(size=shape)).astype(np.float32)
    reference = F.interpolate(torch.from_numpy(logits), size=size, mode="bilinear", align_corners=False).argmax(1).numpy()
    assert np.array_equal(bilinear_argmax(logits, *size), reference)
