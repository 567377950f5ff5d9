"""The synthetic dataset: determinism, interface conformance, and that each modality carries what it claims."""

from __future__ import annotations

import numpy as np
import pytest

from harness.data import open_dataset
from harness.data.synthetic import (
    BUMP,
    CLASSES,
    DYNAMIC,
    MARKING,
    ROAD,
    STATIC,
    SyntheticDataset,
    generate,
)
from harness.errors import ConfigError


@pytest.fixture(scope="module")
def val() -> SyntheticDataset:
    return SyntheticDataset("val")


def test_follows_the_interface(val):
    sample = val[3]
    assert set(sample.modalities) == {"rgb", "depth", "event", "lidar"}
    for array in sample.modalities.values():
        assert array.shape == (64, 64, 3) and array.dtype == np.uint8
    assert sample.label.shape == (64, 64) and sample.label.dtype == np.int64
    assert sample.label.min() >= 0 and sample.label.max() < len(CLASSES)
    assert len(val) == 48 and val[-1].index == 47


def test_deterministic_and_independent_of_batching(val):
    again = SyntheticDataset("val")
    assert again.fingerprint() == val.fingerprint()
    alone = generate([5], "val", seed=0, size=64)  # sample 5 rendered in a batch of one
    assert np.array_equal(alone.labels[0], val[5].label)
    for m in val.modalities:
        assert np.array_equal(alone.modalities[m][0], val[5].modalities[m])
    assert SyntheticDataset("val", seed=1).fingerprint() != val.fingerprint()
    assert not np.array_equal(SyntheticDataset("train", length=4)[0].label, val[0].label)


def _per_row_contrast(depth: np.ndarray, label: np.ndarray, cls: int) -> list[float]:
    """Depth of class pixels minus depth of road pixels in the same row (rows holding both)."""
    out = []
    for row in range(label.shape[0]):
        a, b = depth[row][label[row] == cls], depth[row][label[row] == ROAD]
        a, b = a[a > 0], b[b > 0]  # 0 = no measurement (holes)
        if len(a) >= 3 and len(b) >= 3:
            out.append(float(a.mean() - b.mean()))
    return out


def test_modalities_are_complementary(val):
    sunny = [s for s in val if val.condition(s.index) == "sun"]
    assert len(sunny) >= 8
    marking, bump, colour_marking, colour_bump = [], [], [], []
    for s in sunny:
        depth = s.modalities["depth"][..., 0].astype(float)
        rgb = s.modalities["rgb"].astype(float)
        marking += _per_row_contrast(depth, s.label, MARKING)
        bump += _per_row_contrast(depth, s.label, BUMP)
        road_rgb = rgb[s.label == ROAD].mean(0)
        if (s.label == MARKING).sum():
            colour_marking.append(np.abs(rgb[s.label == MARKING].mean(0) - road_rgb).max())
        if (s.label == BUMP).sum():
            colour_bump.append(np.abs(rgb[s.label == BUMP].mean(0) - road_rgb).max())
    # geometry: markings are flat (same disparity as the road row), bumps stand out
    assert abs(np.mean(marking)) < 2.0 and np.mean(bump) > 10.0
    # colour: markings stand out, bumps are painted like the road
    assert np.mean(colour_marking) > 60.0 and np.mean(colour_bump) < 8.0
    # events fire on moving boxes, not on static ones
    ev = np.stack([s.modalities["event"][..., 2] > 0 for s in val])
    labels = np.stack([s.label for s in val])
    assert ev[labels == DYNAMIC].mean() > 0.5
    assert ev[labels == STATIC].mean() < 0.05
    # night: the camera is weak
    night = [s.modalities["rgb"].mean() for s in val if val.condition(s.index) == "night"]
    day = [s.modalities["rgb"].mean() for s in sunny]
    assert np.mean(night) < 0.25 * np.mean(day)


def test_write_deliver_round_trips_through_the_deliver_loader(tmp_path):
    data = SyntheticDataset("val", length=6)
    data.write_deliver(tmp_path)
    back = open_dataset(f"deliver:{tmp_path}", split="val")
    assert len(back) == 6 and back.classes == CLASSES  # from the classes.txt written beside the data
    by_id = {s.sample_id.rsplit("/", 1)[-1]: s for s in back}
    for s in data:
        other = by_id[f"{s.index:06d}_rgb_front"]
        assert np.array_equal(other.label, s.label)
        for m in data.modalities:
            assert np.array_equal(other.modalities[m], s.modalities[m]), m


def test_registry_spec_and_bad_options():
    small = open_dataset("synthetic:length=4,size=32,seed=3", split="test")
    assert len(small) == 4 and small[0].label.shape == (32, 32)
    with pytest.raises(ConfigError, match="unknown option"):
        open_dataset("synthetic:colour=red")
    with pytest.raises(ConfigError, match="multiple of 8"):
        open_dataset("synthetic:size=30")
    with pytest.raises(ConfigError, match="split 'dev'"):
        open_dataset("synthetic", split="dev")
