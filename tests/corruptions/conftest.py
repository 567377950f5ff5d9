"""Fixtures for the corruption tests."""

from __future__ import annotations

import numpy as np
import pytest
from corruption_images import scene


@pytest.fixture
def rgb() -> np.ndarray:
    return scene()
