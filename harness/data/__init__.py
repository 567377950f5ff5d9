"""Datasets that yield raw per-modality sensor arrays and label maps (synthetic, DELIVER, folder, VQA).

``open_dataset("synthetic" | "deliver:PATH" | "folder:SPEC", split=...)`` is the entry point;
see ``harness.data.registry``. Importing this package imports NumPy only.
"""

from __future__ import annotations

from harness.data.registry import DATASETS, open_dataset

__all__ = ["DATASETS", "open_dataset"]
