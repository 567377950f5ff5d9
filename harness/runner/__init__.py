"""Executes a sweep: plan -> clean inputs once -> cells (batched, prefetched) -> results.json.

    result = run_sweep(RunConfig(model_dir=Path("models/mmss-synth-robust")))
"""

from harness.runner.config import RunConfig
from harness.runner.sweep import SweepResult, run_sweep

__all__ = ["RunConfig", "SweepResult", "run_sweep"]
