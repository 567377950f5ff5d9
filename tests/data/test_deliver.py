"""The DELIVER loader on a tiny fixture written here with OpenCV (not with our own writer)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from harness.data import open_dataset
from harness.data.deliver import CLASSES, DeliverDataset
from harness.errors import ConfigError, DataError

H, W = 8, 12


def _write(path: Path, image: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), image)


def make_fixture(root: Path, frames: dict[str, list[str]]) -> dict[str, dict[str, np.ndarray]]:
    """condition -> frame names; returns what was written per frame stem (RGB order)."""
    rng = np.random.default_rng(0)
    written = {}
    for condition, names in frames.items():
        for name in names:
            rel = Path(condition) / "val" / "MAP_1_point7"
            rgb = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
            depth = rng.integers(0, 256, (H, W), dtype=np.uint8)  # 1 channel on disk
            event = rng.integers(0, 256, (H // 2, W // 2, 3), dtype=np.uint8)  # low resolution
            lidar = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
            label = rng.integers(0, 26, (H, W), dtype=np.uint8)
            label[0, 0], label[0, 1], label[0, 2] = 0, 255, 1
            _write(root / "img" / rel / f"{name}_rgb_front.png", rgb[..., ::-1])
            _write(root / "hha" / rel / f"{name}_depth_front.png", depth)
            _write(root / "event" / rel / f"{name}_event_front.png", event[..., ::-1])
            _write(root / "lidar" / rel / f"{name}_lidar_front.png", lidar[..., ::-1])
            _write(root / "semantic" / rel / f"{name}_semantic_front.png", np.repeat(label[..., None], 3, 2))
            written[f"{condition}/{name}"] = {"rgb": rgb, "depth": depth, "event": event, "lidar": lidar, "label": label}
    return written


@pytest.fixture()
def fixture(tmp_path):
    written = make_fixture(tmp_path, {"fog": ["000001", "000002"], "night": ["000003"], "sun": ["000004"]})
    return tmp_path, written


def test_reads_like_the_reference_loader(fixture):
    root, written = fixture
    data = open_dataset(f"deliver:{root}", split="val")
    assert len(data) == 4 and data.classes == CLASSES and len(CLASSES) == 25
    for sample in data:
        condition, _, _, stem = sample.sample_id.split("/")
        truth = written[f"{condition}/{stem.split('_')[0]}"]
        assert np.array_equal(sample.modalities["rgb"], truth["rgb"])
        assert np.array_equal(sample.modalities["lidar"], truth["lidar"])
        # 1-channel depth repeated to 3
        assert sample.modalities["depth"].shape == (H, W, 3)
        for c in range(3):
            assert np.array_equal(sample.modalities["depth"][..., c], truth["depth"])
        # event upsampled 2x by nearest neighbour: every pixel copies its block's source
        assert np.array_equal(sample.modalities["event"], truth["event"].repeat(2, 0).repeat(2, 1))
        # label: 0 and 255 -> ignore 255, k -> k - 1, pixel by pixel
        raw = truth["label"]
        for (y, x), value in np.ndenumerate(raw):
            expected = 255 if value in (0, 255) else value - 1
            assert sample.label[y, x] == expected
        assert sample.label[0, 2] == 0


def test_condition_filter_and_modality_subset(fixture):
    root, _ = fixture
    fog = DeliverDataset(root, split="val", condition="fog", modalities=("rgb", "depth"))
    assert len(fog) == 2 and all("fog/" in s.sample_id for s in fog)
    assert set(fog[0].modalities) == {"rgb", "depth"}
    with pytest.raises(ConfigError, match="condition 'haze' is unknown"):
        DeliverDataset(root, condition="haze")
    with pytest.raises(DataError, match="no frames"):
        DeliverDataset(root, condition="rain")


def test_missing_modality_files_name_the_first_and_the_count(fixture):
    root, _ = fixture
    (root / "hha/night/val/MAP_1_point7/000003_depth_front.png").unlink()
    (root / "hha/sun/val/MAP_1_point7/000004_depth_front.png").unlink()
    with pytest.raises(DataError, match=r"2 of 4 frames have no depth file; first missing: .*000003_depth_front.png"):
        DeliverDataset(root, split="val")
    # without depth the same folder is fine
    assert len(DeliverDataset(root, split="val", modalities=("rgb", "event", "lidar"))) == 4


def test_label_out_of_range_is_an_error(fixture):
    root, _ = fixture
    path = root / "semantic/sun/val/MAP_1_point7/000004_semantic_front.png"
    label = np.full((H, W), 3, np.uint8)
    label[2, 3] = 40  # id 39 after the shift; DELIVER has 25 classes
    _write(path, label)
    data = DeliverDataset(root, split="val", condition="sun")
    with pytest.raises(DataError, match=r"000004_semantic_front.png: label values 39 \(1 pixels\)"):
        data[0]


def test_missing_root_or_path(tmp_path):
    with pytest.raises(DataError, match="no img/ folder"):
        open_dataset(f"deliver:{tmp_path}")
    with pytest.raises(ConfigError, match="no path given"):
        open_dataset("deliver")


def test_event_resize_is_torchvision_nearest_at_odd_ratios(tmp_path):
    """The reference resizes events with torchvision (torch ``nearest``); OpenCV's nearest picks other pixels here."""
    import torch
    import torch.nn.functional as F

    rel = Path("night/val/MAP_2_point1")
    rng = np.random.default_rng(3)
    size = 1042  # DELIVER's frame size; events of an eventlowres-like 135 x 240 frame
    event = rng.integers(0, 256, (135, 240, 3), dtype=np.uint8)
    _write(tmp_path / "img" / rel / "000001_rgb_front.png", np.zeros((size, size, 3), np.uint8))
    _write(tmp_path / "event" / rel / "000001_event_front.png", event[..., ::-1])
    _write(tmp_path / "semantic" / rel / "000001_semantic_front.png", np.ones((size, size), np.uint8))
    got = DeliverDataset(tmp_path, split="val", modalities=("rgb", "event"))[0].modalities["event"]
    chw = torch.from_numpy(event).permute(2, 0, 1)[None]
    expected = F.interpolate(chw, size=(size, size), mode="nearest")[0].permute(1, 2, 0).numpy()
    assert np.array_equal(got, expected)
    opencv = cv2.resize(event, (size, size), interpolation=cv2.INTER_NEAREST)
    assert not np.array_equal(opencv, expected)  # the fixture would catch a fall back to OpenCV


def test_condition_in_the_data_spec(fixture):
    """``--data deliver:PATH,condition=NAME``: the CLI's only way to pick a DELIVER case."""
    root, _ = fixture
    night = open_dataset(f"deliver:{root},condition=night", split="val")
    assert len(night) == 1 and night.condition == "night" and night[0].sample_id.startswith("night/")
    with pytest.raises(ConfigError, match=r"option 'weather=fog' is unknown; the only one is condition=NAME"):
        open_dataset(f"deliver:{root},weather=fog")
    with pytest.raises(ConfigError, match="condition 'haze' is unknown"):
        open_dataset(f"deliver:{root},condition=haze")
