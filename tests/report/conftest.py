"""One small finished sweep shared by the report tests (module scope keeps them fast)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sweep_fixtures import backend, config, write_model

from harness.runner import run_sweep


@pytest.fixture(scope="package")
def results_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("report")
    model = write_model(root / "model")
    run_sweep(config(model, root / "out"), backend=backend())
    return root / "out"
