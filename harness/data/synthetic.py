"""Procedural street scenes with four complementary modalities (rgb, depth, event, lidar).

Why it exists: a new user without DELIVER or a GPU must still see a missing modality cost a
model something real. Every class is recoverable only from a specific subset of sensors:

==========  =========================================================================
class       what reveals it
==========  =========================================================================
sky         rgb (colour) and depth/lidar (no return, zero disparity)
road        everything (the ground plane: disparity grows linearly towards the bottom)
marking     rgb only: painted patches, flat (identical geometry to the road)
bump        depth/lidar only: raised blobs painted exactly like the road
building    rgb (window texture) and depth/lidar (vertical surface near the horizon)
static      rgb + depth show a striped box; *no* events (it does not move)
dynamic     the same striped boxes, but moving: only events tell them from ``static``
==========  =========================================================================

Conditions (DELIVER names) weaken sensors: ``night`` darkens and noises rgb and punches holes
into the stereo depth; ``fog`` washes out distant rgb and thins lidar; ``cloud`` lowers
contrast; ``sun`` is clean. LiDAR is sparse (every third row) but works in every condition.

Raw arrays follow ``harness.data.interface``: ``H x W x 3`` ``uint8`` for all four
modalities, laid out like DELIVER's PNGs (depth and lidar are inverse-depth images with the
value repeated over three channels, 0 = no measurement; event channels are positive
polarity, negative polarity, any event). Labels are ``int64`` class ids, ``ignore_index``
255 (unused: every synthetic pixel is labelled).

Sample ``i`` of a split depends only on ``(seed, split, i, size)``: its random draws come from
``SeedSequence([seed, split_id, i])``, and rendering is vectorized NumPy over a batch of
samples whose result does not depend on the batch composition.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from harness.data.interface import Sample
from harness.errors import ConfigError

CLASSES: tuple[str, ...] = ("sky", "road", "marking", "bump", "building", "static", "dynamic")
MODALITIES: tuple[str, ...] = ("rgb", "depth", "event", "lidar")
CONDITIONS: tuple[str, ...] = ("sun", "cloud", "fog", "night")
CONDITION_PROBS: tuple[float, ...] = (0.4, 0.2, 0.2, 0.2)
SPLITS: dict[str, int] = {"train": 0, "val": 1, "test": 2}
DEFAULT_SIZES: dict[str, int] = {"train": 1024, "val": 48, "test": 48}
IGNORE_INDEX = 255
GENERATOR_VERSION = "synthetic-v1"  # bump when rendering changes: it is part of the fingerprint

SKY, ROAD, MARKING, BUMP, BUILDING, STATIC, DYNAMIC = range(7)
# Object slots per sample (presence is random per slot); fixed counts keep rendering vectorized.
N_MARKINGS, N_BUMPS, N_BUILDINGS, N_BOXES = 3, 2, 2, 4
DISPARITY_GAIN = 0.9  # disparity 1.0 (nearest ground row) -> 0.9 * 255 in the uint8 encoding
EVENT_THRESHOLD = 0.12  # log-intensity change that fires an event

U8 = npt.NDArray[np.uint8]
F32 = npt.NDArray[np.float32]


@dataclass(frozen=True)
class SceneBatch:
    """Raw arrays of a batch: ``modalities[m]`` is ``N x H x W x 3`` uint8, ``labels`` ``N x H x W`` int64."""

    modalities: dict[str, U8]
    labels: npt.NDArray[np.int64]
    conditions: tuple[str, ...]


def _draw(rng: np.random.Generator, size: int) -> dict[str, Any]:
    """All random choices of one sample: scalars per object slot and per-pixel noise fields."""
    s = size
    p: dict[str, Any] = {}
    p["condition"] = int(rng.choice(len(CONDITIONS), p=CONDITION_PROBS))
    p["horizon"] = rng.uniform(0.28, 0.40)
    p["road_grey"] = rng.uniform(0.30, 0.42)
    p["road_tex"] = rng.normal(0.0, 0.035, (s, s))
    p["sky_tint"] = rng.uniform(-0.05, 0.05, 3)
    # markings: flat rectangles on the ground, yellow or white
    p["mk_on"] = rng.random(N_MARKINGS) < np.array([1.0, 0.7, 0.4])
    p["mk_y"] = rng.uniform(0.3, 0.95, N_MARKINGS)  # base, as a fraction of the ground band
    p["mk_x"] = rng.uniform(0.0, 1.0, N_MARKINGS)
    p["mk_w"] = rng.uniform(0.15, 0.40, N_MARKINGS)
    p["mk_h"] = rng.uniform(0.10, 0.20, N_MARKINGS)
    p["mk_yellow"] = rng.random(N_MARKINGS) < 0.5
    # bumps: elliptic raised blobs, painted like the road
    p["bp_on"] = rng.random(N_BUMPS) < np.array([1.0, 0.6])
    p["bp_y"] = rng.uniform(0.35, 0.9, N_BUMPS)
    p["bp_x"] = rng.uniform(0.1, 0.9, N_BUMPS)
    p["bp_r"] = rng.uniform(0.10, 0.17, N_BUMPS)
    p["bp_amp"] = rng.uniform(0.10, 0.18, N_BUMPS)
    # buildings: rectangles standing on the horizon
    p["bd_on"] = rng.random(N_BUILDINGS) < np.array([0.9, 0.6])
    p["bd_x"] = rng.uniform(-0.1, 0.8, N_BUILDINGS)
    p["bd_w"] = rng.uniform(0.2, 0.45, N_BUILDINGS)
    p["bd_h"] = rng.uniform(0.12, 0.26, N_BUILDINGS)
    p["bd_rgb"] = rng.uniform(0.35, 0.75, (N_BUILDINGS, 3)) * np.array([1.0, 0.85, 0.7])
    p["bd_disp"] = rng.uniform(0.06, 0.14, N_BUILDINGS)
    # boxes: striped objects standing on the ground; some move (dynamic), some do not
    p["bx_on"] = rng.random(N_BOXES) < np.array([0.9, 0.8, 0.6, 0.4])
    p["bx_dyn"] = rng.random(N_BOXES) < 0.5
    p["bx_y"] = rng.uniform(0.35, 1.0, N_BOXES)  # base, fraction of the ground band
    p["bx_x"] = rng.uniform(0.0, 1.0, N_BOXES)
    p["bx_h"] = rng.uniform(0.45, 0.75, N_BOXES)  # height relative to distance below horizon
    p["bx_aspect"] = rng.uniform(0.8, 1.5, N_BOXES)
    p["bx_rgb"] = _saturated_colours(rng, N_BOXES)
    p["bx_period"] = rng.choice(np.array([4.0, 5.0, 6.0]), N_BOXES)
    p["bx_v"] = rng.uniform(1.5, 3.0, N_BOXES) * rng.choice(np.array([-1.0, 1.0]), N_BOXES)
    # sensor noise
    p["rgb_noise"] = rng.normal(0.0, 1.0, (s, s, 3))
    p["depth_noise"] = rng.normal(0.0, 1.0, (s, s))
    p["depth_holes"] = rng.random((max(s // 8, 1), max(s // 8, 1)))
    p["lidar_phase"] = int(rng.integers(0, 3))
    p["lidar_keep"] = rng.random((s, s))
    p["lidar_noise"] = rng.normal(0.0, 0.004, (s, s))
    p["event_noise"] = rng.random((s, s))
    p["event_noise_sign"] = rng.random((s, s)) < 0.5
    return p


def _saturated_colours(rng: np.random.Generator, n: int) -> npt.NDArray[np.float64]:
    """``n`` saturated colours (HSV with S, V high) as RGB in [0, 1]."""
    hue = rng.uniform(0.0, 6.0, n)
    chroma = rng.uniform(0.55, 0.8, n)
    value = rng.uniform(0.7, 0.95, n)
    x = chroma * (1 - np.abs(hue % 2 - 1))
    sector = hue.astype(int) % 6
    table = np.stack(
        [
            np.stack([chroma, x, 0 * x], -1),
            np.stack([x, chroma, 0 * x], -1),
            np.stack([0 * x, chroma, x], -1),
            np.stack([0 * x, x, chroma], -1),
            np.stack([x, 0 * x, chroma], -1),
            np.stack([chroma, 0 * x, x], -1),
        ]
    )
    rgb = table[sector, np.arange(n)]
    return rgb + (value - chroma)[:, None]


def _stack(params: list[dict[str, Any]]) -> dict[str, npt.NDArray[Any]]:
    return {key: np.stack([np.asarray(p[key]) for p in params]) for key in params[0]}


def _ground_disparity(rows: npt.NDArray[np.floating[Any]], horizon: npt.NDArray[np.floating[Any]]) -> npt.NDArray[np.floating[Any]]:
    """Disparity of a flat ground plane: 0 at the horizon, 1 at the bottom row, linear in ``y``."""
    return np.clip((rows - horizon) / (1.0 - horizon), 0.0, None)


class _Canvas:
    """Layers painted in order into rgb, disparity and label arrays, for one time step."""

    def __init__(self, p: dict[str, npt.NDArray[Any]], size: int, t: float) -> None:
        n = p["horizon"].shape[0]
        self.p, self.s, self.t = p, size, t
        coords = (np.arange(size, dtype=np.float64) + 0.5) / size
        self.y = coords[None, :, None]  # N x H x W broadcasting: (1, H, 1)
        self.x = coords[None, None, :]
        self.hz = p["horizon"][:, None, None]
        ground = self.y >= self.hz
        sky_rgb = self._sky(n)
        road = (p["road_grey"][:, None, None] + p["road_tex"])[..., None] * np.ones(3)
        self.rgb = np.where(ground[..., None], road, sky_rgb)
        self.road_rgb = road
        self.disp = np.broadcast_to(_ground_disparity(self.y, self.hz), (n, size, size)).copy()
        self.label = np.where(ground, ROAD, SKY).astype(np.int64)
        self.label = np.broadcast_to(self.label, (n, size, size)).copy()

    def _sky(self, n: int) -> npt.NDArray[np.float64]:
        top = np.array([0.40, 0.60, 0.92]) + self.p["sky_tint"]
        bottom = np.array([0.75, 0.85, 0.98]) + self.p["sky_tint"]
        w = np.clip(self.y / self.hz, 0, 1)[..., None]
        sky = top[:, None, None, :] * (1 - w) + bottom[:, None, None, :] * w
        cloudy = (self.p["condition"] == CONDITIONS.index("cloud"))[:, None, None, None]
        return np.where(cloudy, 0.72, sky) * np.ones((1, 1, self.s, 1))

    def ground_row(self, frac: npt.NDArray[Any]) -> npt.NDArray[Any]:
        """Image row (fraction of height) at ``frac`` of the way from the horizon to the bottom."""
        return self.p["horizon"][:, None] + frac * (1.0 - self.p["horizon"][:, None])

    def paint(self, mask: npt.NDArray[np.bool_], cls: int | npt.NDArray[Any], rgb: Any, disp: Any) -> None:
        self.rgb = np.where(mask[..., None], rgb, self.rgb)
        self.disp = np.where(mask, disp, self.disp)
        self.label = np.where(mask, cls, self.label)

    def buildings(self) -> None:
        p = self.p
        for k in range(N_BUILDINGS):
            on = p["bd_on"][:, k, None, None]
            x0 = p["bd_x"][:, k, None, None]
            x1 = x0 + p["bd_w"][:, k, None, None]
            base = self.hz + 0.03
            top = base - p["bd_h"][:, k, None, None]
            mask = on & (self.x >= x0) & (self.x < x1) & (self.y >= top) & (self.y < base)
            ix = np.floor(self.x * self.s).astype(int)
            iy = np.floor(self.y * self.s).astype(int)
            windows = ((ix % 6) >= 3) & ((iy % 6) >= 3)
            colour = p["bd_rgb"][:, k, None, None, :] * np.where(windows, 0.55, 1.0)[..., None]
            self.paint(mask, BUILDING, colour, p["bd_disp"][:, k, None, None])

    def markings(self) -> None:
        p = self.p
        rows = self.ground_row(p["mk_y"])
        for k in range(N_MARKINGS):
            on = p["mk_on"][:, k, None, None]
            yb = rows[:, k, None, None]
            y0 = yb - p["mk_h"][:, k, None, None] * (yb - self.hz) * 2.0
            half = p["mk_w"][:, k, None, None] / 2
            xc = p["mk_x"][:, k, None, None]
            mask = on & (self.y >= y0) & (self.y < yb) & (np.abs(self.x - xc) < half)
            paint = np.where(p["mk_yellow"][:, k, None, None, None], [0.92, 0.80, 0.20], [0.92, 0.92, 0.90])
            colour = paint + p["road_tex"][..., None]
            self.paint(mask, MARKING, colour, self.disp)

    def bumps(self) -> None:
        p = self.p
        rows = self.ground_row(p["bp_y"])
        for k in range(N_BUMPS):
            on = p["bp_on"][:, k, None, None]
            yc = rows[:, k, None, None]
            r = p["bp_r"][:, k, None, None]
            ry = r * 0.5 * np.clip((yc - self.hz) / (1 - self.hz), 0.3, 1.0) + 0.02
            d2 = ((self.x - p["bp_x"][:, k, None, None]) / r) ** 2 + ((self.y - yc) / ry) ** 2
            mask = on & (d2 < 1.0)
            lift = p["bp_amp"][:, k, None, None] * np.sqrt(np.clip(1.0 - d2, 0.0, 1.0)) + 0.04
            self.paint(mask, BUMP, self.road_rgb, self.disp + lift)

    def boxes(self) -> None:
        p = self.p
        rows = self.ground_row(p["bx_y"])
        order = np.argsort(rows, axis=1, kind="stable")  # far (small row) first: near ones occlude
        for j in range(N_BOXES):
            k = order[:, j]

            def pick(key: str, k: npt.NDArray[np.int64] = k) -> npt.NDArray[Any]:
                return np.take_along_axis(p[key], k[:, None], axis=1)[:, 0]

            on = pick("bx_on")[:, None, None]
            yb = rows[np.arange(len(k)), k][:, None, None]
            height = pick("bx_h")[:, None, None] * (yb - self.hz)
            width = height * pick("bx_aspect")[:, None, None]
            dyn = pick("bx_dyn")[:, None, None]
            shift = np.where(dyn, pick("bx_v")[:, None, None] * self.t / self.s, 0.0)
            x0 = pick("bx_x")[:, None, None] * (1.0 - width) + shift
            mask = on & (self.y >= yb - height) & (self.y < yb) & (self.x >= x0) & (self.x < x0 + width)
            period = pick("bx_period")[:, None, None]
            phase = ((self.x - x0) * self.s / period) % 1.0
            colour = np.take_along_axis(p["bx_rgb"], k[:, None, None], axis=1)[:, 0][:, None, None, :]
            stripes = np.where(phase < 0.5, 1.0, 0.45)[..., None] * colour
            disp = _ground_disparity(yb, self.hz)
            self.paint(mask, np.where(dyn, DYNAMIC, STATIC), stripes, disp)


def _render_frame(p: dict[str, npt.NDArray[Any]], size: int, t: float) -> _Canvas:
    canvas = _Canvas(p, size, t)
    canvas.buildings()
    canvas.markings()
    canvas.bumps()
    canvas.boxes()
    return canvas


def _condition_mask(p: dict[str, npt.NDArray[Any]], name: str) -> npt.NDArray[np.bool_]:
    return (p["condition"] == CONDITIONS.index(name))[:, None, None]


def _camera(p: dict[str, npt.NDArray[Any]], frame: _Canvas) -> U8:
    """RGB camera: condition effects (cloud contrast, fog haze by distance, night gain + noise)."""
    rgb = frame.rgb
    cloud, fog, night = (_condition_mask(p, c)[..., None] for c in ("cloud", "fog", "night"))
    rgb = np.where(cloud, 0.5 + (rgb - 0.5) * 0.8, rgb)
    transmission = (0.08 + 0.92 * np.clip(frame.disp / 0.6, 0.0, 1.0) ** 0.8)[..., None]
    rgb = np.where(fog, rgb * transmission + 0.78 * (1 - transmission), rgb)
    rgb = np.where(night, rgb * 0.10, rgb)
    sigma = np.where(night, 0.03, 0.01)
    rgb = rgb + sigma * p["rgb_noise"]
    return _to_u8(rgb)


def _stereo_depth(p: dict[str, npt.NDArray[Any]], frame: _Canvas) -> U8:
    """Dense stereo depth (disparity image): noisy and full of holes at night and in fog."""
    poor = _condition_mask(p, "night") | _condition_mask(p, "fog")
    noise = np.where(poor, 0.03, 0.006) * p["depth_noise"]
    disp = frame.disp * DISPARITY_GAIN + noise
    scale = frame.s // p["depth_holes"].shape[1]
    holes_lo = np.repeat(np.repeat(p["depth_holes"], scale, axis=1), scale, axis=2)
    holes = holes_lo < np.where(poor, 0.3, 0.04)
    disp = np.where(holes | (frame.label == SKY), 0.0, disp)
    return _grey3(disp)


def _lidar(p: dict[str, npt.NDArray[Any]], frame: _Canvas) -> U8:
    """Sparse LiDAR projected to the image: every third row, random dropouts (more in fog)."""
    rows = np.arange(frame.s)[None, :, None]
    on_beam = (rows % 3) == p["lidar_phase"][:, None, None]
    keep = p["lidar_keep"] < np.where(_condition_mask(p, "fog"), 0.75, 0.92)
    disp = frame.disp * DISPARITY_GAIN + p["lidar_noise"]
    disp = np.where(on_beam & keep & (frame.label != SKY), np.clip(disp, 1.0 / 255, None), 0.0)
    return _grey3(disp)


def _events(p: dict[str, npt.NDArray[Any]], now: _Canvas, before: _Canvas) -> U8:
    """Event camera (static rig): log-intensity change between two frames, plus noise events."""
    def log_lum(frame: _Canvas) -> npt.NDArray[np.float64]:
        return np.log(frame.rgb @ np.array([0.299, 0.587, 0.114]) + 0.05)

    delta = log_lum(now) - log_lum(before)
    noise_rate = np.where(_condition_mask(p, "night"), 0.03, 0.01)
    noise = p["event_noise"] < noise_rate
    pos = (delta > EVENT_THRESHOLD) | (noise & p["event_noise_sign"])
    neg = (delta < -EVENT_THRESHOLD) | (noise & ~p["event_noise_sign"])
    return (np.stack([pos, neg, pos | neg], axis=-1) * 255).astype(np.uint8)


def _to_u8(x: npt.NDArray[Any]) -> U8:
    return np.clip(np.rint(x * 255.0), 0, 255).astype(np.uint8)


def _grey3(x: npt.NDArray[Any]) -> U8:
    return np.repeat(_to_u8(x)[..., None], 3, axis=-1)


def render(params: list[dict[str, Any]], size: int) -> SceneBatch:
    """Render samples drawn by ``_draw``: vectorized over the batch."""
    p = _stack(params)
    now = _render_frame(p, size, t=0.0)
    before = _render_frame(p, size, t=-1.0)
    modalities = {
        "rgb": _camera(p, now),
        "depth": _stereo_depth(p, now),
        "event": _events(p, now, before),
        "lidar": _lidar(p, now),
    }
    conditions = tuple(CONDITIONS[c] for c in p["condition"])
    return SceneBatch(modalities=modalities, labels=now.label, conditions=conditions)


def sample_rng(seed: int, split: str, index: int) -> np.random.Generator:
    """The generator of one sample: independent of every other sample and of batching."""
    return np.random.default_rng(np.random.SeedSequence([seed, SPLITS[split], index]))


def generate(indices: Iterable[int], split: str = "train", seed: int = 0, size: int = 64) -> SceneBatch:
    """Raw arrays for the given sample indices of a split (e.g. a training batch)."""
    _check_split(split)
    params = [_draw(sample_rng(seed, split, int(i)), size) for i in indices]
    if not params:
        raise ConfigError("synthetic: no sample indices given; expected at least one")
    return render(params, size)


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ConfigError(f"synthetic: split {split!r} is unknown; expected one of {', '.join(SPLITS)}")


@dataclass(frozen=True)
class SyntheticDataset:
    """A split of the procedural dataset, rendered once at construction (it is small)."""

    split: str = "val"
    size: int = 64
    length: int = -1  # -1: the split's default (train 1024, val/test 48)
    seed: int = 0
    name: str = "synthetic"
    modalities: tuple[str, ...] = MODALITIES
    classes: tuple[str, ...] = CLASSES
    ignore_index: int = IGNORE_INDEX
    single: tuple[str, ...] = ()  # modalities served as 1 channel (depth/lidar: one value repeated, nothing lost)
    _batch: SceneBatch = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _check_split(self.split)
        if self.size < 16 or self.size % 8:
            raise ConfigError(f"synthetic: size={self.size} is invalid; expected a multiple of 8, >= 16 (e.g. 64)")
        n = DEFAULT_SIZES[self.split] if self.length == -1 else self.length
        if n < 1:
            raise ConfigError(f"synthetic: length={self.length} is invalid; expected >= 1 (or -1 for the default)")
        object.__setattr__(self, "length", n)
        object.__setattr__(self, "_batch", _render_chunked(range(n), self.split, self.seed, self.size))

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> Sample:
        if not -self.length <= index < self.length:
            raise IndexError(f"synthetic {self.split} has {self.length} samples; index {index} is out of range")
        index %= self.length
        mods = {m: self._batch.modalities[m][index][..., :1 if m in self.single else 3] for m in self.modalities}
        sample_id = f"{self.split}/{self._batch.conditions[index]}/{index:05d}"
        return Sample(index=index, sample_id=sample_id, modalities=mods, label=self._batch.labels[index])

    def __iter__(self) -> Iterator[Sample]:
        return (self[i] for i in range(self.length))

    def condition(self, index: int) -> str:
        """The DELIVER condition name of a sample (sun, cloud, fog, night)."""
        return self._batch.conditions[index]

    def fingerprint(self) -> str:
        single = f"|single={','.join(self.single)}" if self.single else ""
        digest = hashlib.sha256(f"{GENERATOR_VERSION}|{self.split}|{self.size}|{self.length}|{self.seed}{single}".encode())
        for m in self.modalities:
            digest.update(self._batch.modalities[m].tobytes())
        digest.update(self._batch.labels.tobytes())
        return digest.hexdigest()[:16]

    def write_deliver(self, root: str | Path) -> Path:
        """Write this split to ``root`` in DELIVER's layout (see ``write_deliver``)."""
        return write_deliver(self, root)


def _render_chunked(indices: range, split: str, seed: int, size: int, chunk: int = 64) -> SceneBatch:
    parts = [generate(indices[i : i + chunk], split, seed, size) for i in range(0, len(indices), chunk)]
    if len(parts) == 1:
        return parts[0]
    return SceneBatch(
        modalities={m: np.concatenate([b.modalities[m] for b in parts]) for m in MODALITIES},
        labels=np.concatenate([b.labels for b in parts]),
        conditions=tuple(c for b in parts for c in b.conditions),
    )


def open_synthetic(arg: str = "", *, split: str = "val", **options: Any) -> SyntheticDataset:
    """Registry factory: ``arg`` is empty or ``key=value`` pairs (size, length, seed) joined by commas."""
    values: dict[str, Any] = dict(options)
    single = _single_channel(values.pop("channels", None) or {})
    for item in filter(None, arg.split(",")):
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"synthetic:{arg}: {item!r} is not key=value; expected e.g. synthetic:size=64,length=48")
        values[key.strip()] = value.strip()
    allowed = {"size", "length", "seed"}
    unknown = sorted(set(values) - allowed)
    if unknown:
        raise ConfigError(f"synthetic: unknown option(s) {', '.join(unknown)}; expected some of {', '.join(sorted(allowed))}")
    try:
        ints = {key: int(value) for key, value in values.items()}
    except (TypeError, ValueError):
        raise ConfigError(f"synthetic: options must be integers; got {values}") from None
    defaults = SyntheticDataset  # the dataclass's own field defaults
    return SyntheticDataset(split=split, size=ints.get("size", defaults.size), length=ints.get("length", defaults.length),
                            seed=ints.get("seed", defaults.seed), single=single)


GRAY: tuple[str, ...] = ("depth", "lidar")  # one value repeated over 3 channels


def _single_channel(channels: dict[str, int]) -> tuple[str, ...]:
    """The modalities a model wants as 1 channel; only the gray ones can be, other counts are refused."""
    for name, count in channels.items():
        if name in MODALITIES and count != 3 and (count != 1 or name not in GRAY):
            raise ConfigError(f"synthetic: modality {name!r} is rendered with 3 channels and the model takes {count} "
                              f"(manifest.json channels); only {' and '.join(GRAY)} can be 1 channel; use a model with "
                              f"{name} channels: 3")
    return tuple(m for m in MODALITIES if channels.get(m) == 1)


def write_deliver(dataset: SyntheticDataset, root: str | Path, scene: str = "synthetic") -> Path:
    """Write ``dataset`` as PNGs in DELIVER's layout, ``<dir>/<condition>/<split>/<scene>/<frame>_<suffix>_front.png``.

    Labels are stored DELIVER-style: class id + 1, 0 = unlabelled (so the ``deliver`` loader,
    which maps 0 -> ignore and others -1, reads back exactly what was written).
    """
    import cv2  # lazy: only writing to disk needs it

    from harness.data.deliver import LAYOUT

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    (root / "classes.txt").write_text("\n".join(dataset.classes) + "\n")  # read back by the deliver loader
    for sample in dataset:
        condition = dataset.condition(sample.index)
        frame = f"{sample.index:06d}"
        arrays = dict(sample.modalities)
        assert sample.label is not None
        arrays["label"] = np.where(sample.label == dataset.ignore_index, 0, sample.label + 1).astype(np.uint8)
        for key, array in arrays.items():
            folder, tag = LAYOUT[key]  # the loader's own table: one definition of the layout
            path = root / folder / condition / dataset.split / scene / f"{frame}{tag}_front.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            image = array[..., ::-1] if array.ndim == 3 else array  # OpenCV writes BGR
            if not cv2.imwrite(str(path), np.ascontiguousarray(image)):
                raise OSError(f"could not write {path}")
    return root
