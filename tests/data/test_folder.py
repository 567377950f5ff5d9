"""The generic folder dataset: templates, channel repeat, nearest resize, label map, bad specs."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from harness.data import open_dataset
from harness.errors import ConfigError, DataError

SPEC = """
classes: [background, road, car]
ignore_index: 255
modalities:
  rgb: "{split}/rgb/{id}.png"
  thermal: "{split}/thermal/{id}.png"
label: "{split}/label/{id}.png"
channels: {thermal: 1}
resize_nearest: [thermal]
label_map: {9: 255}
"""


def _write(path: Path, image: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), image)


@pytest.fixture()
def root(tmp_path):
    rng = np.random.default_rng(1)
    for frame in ("a1", "b2", "c3"):
        _write(tmp_path / f"val/rgb/{frame}.png", rng.integers(0, 256, (6, 8, 3), dtype=np.uint8))
        _write(tmp_path / f"val/thermal/{frame}.png", rng.integers(0, 256, (3, 4), dtype=np.uint8))
        label = rng.integers(0, 3, (6, 8), dtype=np.uint8)
        label[0, :2] = 9
        _write(tmp_path / f"val/label/{frame}.png", label)
    (tmp_path / "spec.yaml").write_text(SPEC)
    return tmp_path


def test_reads_frames(root):
    data = open_dataset(f"folder:{root / 'spec.yaml'}", split="val")
    assert data.ids == ("a1", "b2", "c3") and data.classes == ("background", "road", "car")
    s = data[1]
    raw_rgb = cv2.imread(str(root / "val/rgb/b2.png"))[..., ::-1]
    assert np.array_equal(s.modalities["rgb"], raw_rgb)
    thermal = cv2.imread(str(root / "val/thermal/b2.png"), cv2.IMREAD_UNCHANGED)
    assert s.modalities["thermal"].shape == (6, 8, 1)
    assert np.array_equal(s.modalities["thermal"][..., 0], thermal.repeat(2, 0).repeat(2, 1))
    raw_label = cv2.imread(str(root / "val/label/b2.png"), cv2.IMREAD_UNCHANGED)
    assert np.array_equal(s.label, np.where(raw_label == 9, 255, raw_label))


def test_missing_files_and_bad_labels(root):
    (root / "val/thermal/c3.png").unlink()
    with pytest.raises(DataError, match=r"1 of 3 frames have no thermal file; first missing: .*c3.png"):
        open_dataset(f"folder:{root / 'spec.yaml'}")
    data = open_dataset(f"folder:{root / 'spec.yaml'}", modalities="rgb")
    _write(root / "val/label/a1.png", np.full((6, 8), 7, np.uint8))
    with pytest.raises(DataError, match=r"a1.png: label values 7 \(48 pixels\) are outside the class range \[0, 3\)"):
        data[0]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda s: s + "colour: red\n", "unknown key"),
        (lambda s: s.replace('label: "{split}/label/{id}.png"', 'label: "x.png"'), "label: expected a path template"),
        (lambda s: s.replace("ignore_index: 255", "ignore_index: 1"), "ignore_index: expected an integer outside"),
        (lambda s: s.replace("resize_nearest: [thermal]", "resize_nearest: [lidar]"), "resize_nearest"),
    ],
)
def test_bad_spec_names_the_field(root, edit, message):
    (root / "spec.yaml").write_text(edit(SPEC))
    with pytest.raises(ConfigError, match=message):
        open_dataset(f"folder:{root / 'spec.yaml'}")
