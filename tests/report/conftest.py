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


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    """Say where the browser test left its screenshots (also under xdist, whose workers' output is hidden)."""
    from .browser import SHOTS

    started = getattr(config, "_mmharness_started", None)
    shots = sorted(p for p in SHOTS.glob("*.png") if started is None or p.stat().st_mtime >= started) if SHOTS.exists() else []
    if shots:
        terminalreporter.write_line(f"report screenshots ({len(shots)}): " + ", ".join(str(p) for p in shots))


def pytest_configure(config: pytest.Config) -> None:
    import time

    config._mmharness_started = time.time()  # type: ignore[attr-defined]
