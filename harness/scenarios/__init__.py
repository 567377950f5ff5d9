"""Plan building: scenarios (EMM, RMM, NM, bias) expand into frozen ``Cell`` values."""

from harness.scenarios.cells import CLEAN_ID, Cell, Step, missing_label, missing_sets

__all__ = ["CLEAN_ID", "Cell", "Step", "missing_label", "missing_sets"]
