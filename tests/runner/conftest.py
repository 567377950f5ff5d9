"""Runner test fixtures (helpers live in tests/sweep_fixtures.py, shared with report/gate tests)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sweep_fixtures import write_model


@pytest.fixture
def tiny_model(tmp_path: Path) -> Path:
    return write_model(tmp_path / "model")
