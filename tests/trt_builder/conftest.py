"""Tiny model directory fixture for the TensorRT builder tests."""

from __future__ import annotations

import pytest
from onnx_graphs import build_seg_model_dir


@pytest.fixture()
def model(tmp_path):
    """rgb (3) + depth (3, as the synthetic dataset renders it), 16 x 16, dynamic batch up to 8."""
    return build_seg_model_dir(tmp_path / "tiny", modalities={"rgb": 3, "depth": 3}, size=(16, 16), num_classes=3)
