"""Tiny model directory fixture for the precision tests."""

from __future__ import annotations

import pytest
from onnx_graphs import build_seg_model_dir


@pytest.fixture()
def model(tmp_path):
    """rgb + depth (3 channels each, as the synthetic dataset renders them), 16 x 16, 3 classes."""
    return build_seg_model_dir(tmp_path / "tiny", modalities={"rgb": 3, "depth": 3}, size=(16, 16), num_classes=3)
